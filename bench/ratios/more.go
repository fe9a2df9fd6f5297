package main

import "fmt"

// epochTable: the read side alone, Epoch Enter/Exit and Guard
// TryEnter/Exit, against the same empty section behind the baselines.
func epochTable(s samples) {
	fmt.Fprintln(stdout, "An empty read-side section, median ns: Epoch Enter + Exit and Guard TryEnter + Exit, and the same section behind each baseline.")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| what | mode | GOMAXPROCS | quiesce | rwmutex | counter | floor | ÷ rwmutex | ÷ floor |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|")
	for _, what := range []struct{ bench, subject string }{{"Epoch", "epoch"}, {"Guard", "guard"}} {
		for _, mode := range []string{"serial", "parallel"} {
			for _, procs := range []int{1, 2} {
				name := func(impl string) string { return fmt.Sprintf("%s/mode=%s/impl=%s", what.bench, mode, impl) }
				q, ok := s.get(lifecyclePkg, name(what.subject), procs, "ns/op")
				if !ok {
					continue
				}
				cell := func(impl string) (float64, bool, string) {
					v, ok := s.get(lifecyclePkg, name(impl), procs, "ns/op")
					return v, ok, num(v, ok, "%.2f")
				}
				rw, okRW, rws := cell("rwmutex")
				_, _, cs := cell("counter")
				fl, okFl, fls := cell("floor")
				fmt.Fprintf(stdout, "| %s | %s | %d | %.2f | %s | %s | %s | %s | %s |\n", what.bench, mode, procs, q,
					rws, cs, fls, ratio(q, true, rw, okRW), ratio(q, true, fl, okFl))
			}
		}
	}
}

// readersTable: a grace period while 0 or 1 goroutines enter and exit
// nonstop, against RWMutex Lock with as many readers.
func readersTable(s samples) {
	fmt.Fprintln(stdout, "`Synchronize` while goroutines enter and exit nonstop (a reader that never yields: the worst case for a waiter that shares its processor), against `RWMutex.Lock` + `Unlock` with as many readers:")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| readers | GOMAXPROCS | epoch ns/op | epoch allocs/op | rwmutex ns/op | ÷ rwmutex |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|")
	for _, readers := range []int{0, 1} {
		for _, procs := range []int{1, 2} {
			name := func(impl string) string { return fmt.Sprintf("Synchronize/readers=%d/impl=%s", readers, impl) }
			e, ok := s.get(lifecyclePkg, name("epoch"), procs, "ns/op")
			if !ok {
				continue
			}
			a, okA := s.get(lifecyclePkg, name("epoch"), procs, "allocs/op")
			r, okR := s.get(lifecyclePkg, name("rwmutex"), procs, "ns/op")
			fmt.Fprintf(stdout, "| %d | %d | %.0f | %s | %s | %s |\n", readers, procs, e, num(a, okA, "%.0f"),
				num(r, okR, "%.0f"), ratio(e, true, r, okR))
		}
	}
}

// batchTable: n Unlistens at once against n in a row, per unlisten, and
// the RWMutex baseline of 64 at once.
func batchTable(s samples) {
	fmt.Fprintln(stdout, "Time per Unlisten while one goroutine dispatches nonstop, for n Unlistens at once from n goroutines (from the release of all n to the return of the last, divided by n) and for n in a row from one goroutine. *fast* readers call a no-op listener; *slow* ones a listener that sleeps 1 ms (a grace period waits for the call in flight). How to read it: with slow readers, n Unlistens at once cost about one grace period in all, n × the per-Unlisten time, where n grace periods would cost n ms: they share. With fast readers most Unlistens find no reader inside and finish at once. *rwmutex*: 64 writers removing entries from an RWMutex-protected slice under the same reader, at once or in a row.")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| readers | n | GOMAXPROCS | at once, µs per Unlisten | in a row, µs per Unlisten | at once ÷ in a row | rwmutex at once, µs | quiesce ÷ rwmutex at once |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|")
	for _, reader := range []string{"fast", "slow"} {
		for _, n := range []int{1, 8, 64} {
			for _, procs := range []int{1, 2} {
				name := func(mode, impl string) string {
					return fmt.Sprintf("UnlistenBatch/reader=%s/unlistens=%d/mode=%s/impl=%s", reader, n, mode, impl)
				}
				c, ok := s.get(scopePkg, name("concurrent", "quiesce"), procs, "ns/unlisten")
				if !ok {
					continue
				}
				q, okQ := s.get(scopePkg, name("sequential", "quiesce"), procs, "ns/unlisten")
				r, okR := s.get(scopePkg, name("concurrent", "rwmutex"), procs, "ns/unlisten")
				fmt.Fprintf(stdout, "| %s | %d | %d | %.2f | %s | %s | %s | %s |\n", reader, n, procs, c/1e3,
					num(q/1e3, okQ, "%.2f"), ratio(c, true, q, okQ), num(r/1e3, okR, "%.2f"), ratio(c, true, r, okR))
			}
		}
	}
}

// stormTable: the lateness of an unrelated goroutine in a program of
// 10,000 goroutines, with and without a storm of timed-out Unlistens.
func stormTable(s samples) {
	fmt.Fprintln(stdout, "An unrelated goroutine of a program of 10,000 goroutines sleeps 1 ms at a time; lateness is how much longer than that it took to run again. *storm*: a round of 20 Unlistens at once with 1 ms deadlines behind one stuck listener every 10 ms, for the whole run; every one times out, and its error names the stuck listener. *profiles*: the goroutine profiles that naming took in the whole run (design.md §3.11).")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| GOMAXPROCS | none p50 / p99 / max ms | storm p50 / p99 / max ms | p99 storm ÷ none | profiles |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	for _, procs := range []int{1, 2} {
		get := func(storm, unit string) (float64, bool) {
			return s.get(scopePkg, "StallStorm/goroutines=10000/storm="+storm, procs, unit)
		}
		cells := func(storm string) string {
			p50, ok1 := get(storm, "p50-ns")
			p99, ok2 := get(storm, "p99-ns")
			mx, ok3 := get(storm, "max-ns")
			if !ok1 || !ok2 || !ok3 {
				return "–"
			}
			return fmt.Sprintf("%.2f / %.2f / %.2f", p50/1e6, p99/1e6, mx/1e6)
		}
		if _, ok := get("none", "p99-ns"); !ok {
			continue
		}
		a, okA := get("unlisten", "p99-ns")
		b, okB := get("none", "p99-ns")
		pr, okP := get("unlisten", "profiles")
		fmt.Fprintf(stdout, "| %d | %s | %s | %s | %s |\n", procs, cells("none"), cells("unlisten"), ratio(a, okA, b, okB), num(pr, okP, "%.0f"))
	}
}

// portableTable: Enter/Exit with procPin against the sync.Pool token of
// -tags quiesce_portable (portable.txt holds the latter under the same
// names as root.txt's).
func portableTable(s samples) {
	fmt.Fprintln(stdout, "Epoch Enter + Exit in the default build (the processor from the runtime's `procPin`) and with `-tags quiesce_portable` (a `sync.Pool` token):")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| mode | GOMAXPROCS | procPin ns | pool ns | pool ÷ procPin |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	for _, mode := range []string{"serial", "parallel"} {
		for _, procs := range []int{1, 2} {
			name := "Epoch/mode=" + mode + "/impl=epoch"
			d, ok := s.get(lifecyclePkg, name, procs, "ns/op")
			pl, okP := s.get(portablePkg, name, procs, "ns/op")
			if !ok || !okP {
				continue
			}
			fmt.Fprintf(stdout, "| %s | %d | %.2f | %.2f | %s |\n", mode, procs, d, pl, ratio(pl, true, d, true))
		}
	}
}

// selfWaitTable: what self-wait detection would cost Dispatch in a
// normal build (scope.BenchmarkSelfWaitCost).
func selfWaitTable(s samples) {
	d, okD := s.get(scopePkg, "SelfWaitCost/impl=dispatch", 1, "ns/op")
	g, okG := s.get(scopePkg, "SelfWaitCost/impl=dispatch+goid", 1, "ns/op")
	if !okD || !okG {
		return
	}
	fmt.Fprintln(stdout, "Self-wait detection (`scope.ErrSelfWait`) is compiled only into race-enabled builds. What a Dispatch would pay to know which goroutine is inside it, in a normal build (GOMAXPROCS 1):")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| Dispatch, 1 listener | with the race build's bookkeeping | added per Dispatch | budget |")
	fmt.Fprintln(stdout, "|---|---|---|---|")
	fmt.Fprintf(stdout, "| %.2f ns | %.0f ns | %.0f ns | 0.5 ns |\n", d, g, g-d)
}
