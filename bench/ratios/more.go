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

// batchTable: n Unlistens at once against n in a row, per unlisten.
func batchTable(s samples) {
	fmt.Fprintln(stdout, "Time per Unlisten while one goroutine dispatches nonstop, for n Unlistens at once from n goroutines (from the release of all n to the return of the last, divided by n) and for n in a row from one goroutine. *fast* readers call a no-op listener (a grace period takes about a microsecond); *slow* ones a listener that sleeps 1 ms (a grace period waits for the call in flight). How to read it: with slow readers, n Unlistens at once cost about one grace period in all, n × the per-Unlisten time, where n grace periods would cost n ms: they share. In a row, only the first waits for a call in flight: the dispatcher, which yields once when it enters while a grace period waits (design.md §3.5, the hurry flag), is not inside when the next ones look. With one processor and a dispatcher that never blocks, goroutines started to unlisten at once wait for the scheduler to preempt it (every 10 ms): that, not a grace period, is most of the cost of the fast case on 1 processor.")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| readers | n | GOMAXPROCS | at once, µs per Unlisten | in a row, µs per Unlisten | at once ÷ in a row |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|")
	for _, reader := range []string{"fast", "slow"} {
		for _, n := range []int{1, 8, 64} {
			for _, procs := range []int{1, 2} {
				name := func(mode string) string {
					return fmt.Sprintf("UnlistenBatch/reader=%s/unlistens=%d/mode=%s", reader, n, mode)
				}
				c, ok := s.get(scopePkg, name("concurrent"), procs, "ns/unlisten")
				if !ok {
					continue
				}
				q, okQ := s.get(scopePkg, name("sequential"), procs, "ns/unlisten")
				fmt.Fprintf(stdout, "| %s | %d | %d | %.2f | %s | %s |\n", reader, n, procs, c/1e3,
					num(q/1e3, okQ, "%.2f"), ratio(c, true, q, okQ))
			}
		}
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
