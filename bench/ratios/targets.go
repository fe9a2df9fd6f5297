package main

import (
	"fmt"
	"strings"
)

type target struct {
	what     string
	measured string
	limit    string // "–" for a figure with no target
	holds    bool
	missing  bool
	// incomplete: the contention did not reach a shard per processor
	// (see the crowd of lifecycle's benchmarks), so the figure is not
	// the worst case the target is about.
	incomplete bool
}

func targetTable(s samples) {
	var ts []target
	add := func(t target) { ts = append(ts, t) }

	// Dispatch ratios: subject (quiesce or dispatcher) ÷ baseline, with
	// listeners, on 1 core (mode=serial, GOMAXPROCS 1) or 2 (mode=parallel,
	// GOMAXPROCS 2). limit 0 means no target: the ratio is shown.
	dispatch := func(subject string, listeners, cores int, against string, limit float64) {
		mode := "serial"
		if cores == 2 {
			mode = "parallel"
		}
		label := map[string]string{"quiesce": "Scope.Dispatch", "quiesce-decide": "Scope.Decide",
			"dispatcher": "Dispatcher.Dispatch", "quiesce-isolated": "Scope.Dispatch WithIsolation"}[subject]
		t := target{what: fmt.Sprintf("%s, %s, %s: ÷ %s", label, plural(listeners, "no-op listener"), plural(cores, "core"), against), limit: "–"}
		q, ok1 := s.get(benchPkg, dispatchName(listeners, mode, subject), cores, "ns/op")
		b, ok2 := s.get(benchPkg, dispatchName(listeners, mode, against), cores, "ns/op")
		if !ok1 || !ok2 || b == 0 {
			t.missing = true
			add(t)
			return
		}
		r := q / b
		t.measured = fmt.Sprintf("%.2f× (%.2f / %.2f ns)", r, q, b)
		if limit > 0 {
			t.limit = fmt.Sprintf("≤ %.2f×", limit)
			t.holds = r <= limit
		}
		add(t)
	}
	dispatch("quiesce", 1, 1, "floor", 1.9)
	dispatch("quiesce", 1, 2, "floor", 1.9)
	dispatch("quiesce", 1, 1, "rwmutex", 0)
	dispatch("quiesce", 1, 2, "rwmutex", 0.5)
	dispatch("dispatcher", 1, 1, "floor", 1.15)
	dispatch("dispatcher", 1, 2, "floor", 1.15)
	dispatch("dispatcher", 1, 1, "rwmutex", 1.1)
	dispatch("dispatcher", 1, 2, "rwmutex", 0)
	dispatch("dispatcher", 16, 1, "floor", 1.15)
	dispatch("dispatcher", 16, 2, "floor", 1.15)
	dispatch("dispatcher", 16, 1, "rwmutex", 0)
	dispatch("dispatcher", 16, 2, "rwmutex", 0)
	dispatch("quiesce-decide", 1, 1, "quiesce", 1.1)
	dispatch("quiesce-decide", 1, 2, "quiesce", 1.1)
	dispatch("quiesce-isolated", 16, 1, "quiesce", 1.6)
	dispatch("quiesce-isolated", 16, 1, "floor-isolated", 0)
	// An isolated listener costs at most 4 ns more than a shared one: the
	// difference of 16 isolated and 16 shared, per listener.
	{
		t := target{what: "Scope.Dispatch WithIsolation, 16 no-op listeners, 1 core: ns per listener over a shared epoch's", limit: "≤ 4.00 ns"}
		iso, ok1 := s.get(benchPkg, dispatchName(16, "serial", "quiesce-isolated"), 1, "ns/op")
		sh, ok2 := s.get(benchPkg, dispatchName(16, "serial", "quiesce"), 1, "ns/op")
		fl, ok3 := s.get(benchPkg, dispatchName(16, "serial", "floor-isolated"), 1, "ns/op")
		fs, ok4 := s.get(benchPkg, dispatchName(16, "serial", "floor"), 1, "ns/op")
		if ok1 && ok2 {
			d := (iso - sh) / 16
			t.measured = fmt.Sprintf("%.2f ns ((%.2f − %.2f) / 16)", d, iso, sh)
			if ok3 && ok4 {
				t.measured += fmt.Sprintf("; the floor's: %.2f ns", (fl-fs)/16)
			}
			t.holds = d <= 4
		} else {
			t.missing = true
		}
		add(t)
	}

	if m, ok := s.maxOf(benchPkg, "Dispatch/", "allocs/op"); ok {
		add(target{what: "Dispatch allocations (largest allocs/op of any run, any impl)", measured: fmt.Sprintf("%g", m), limit: "0", holds: m == 0})
	} else {
		add(target{what: "Dispatch allocations", missing: true})
	}

	// Memory: 100,000 idle Guards and Scopes under 32 MiB at every
	// GOMAXPROCS; after contention, a Guard at most what it cost before.
	for _, object := range []string{"guard", "scope"} {
		for _, procs := range gmps {
			t := target{what: fmt.Sprintf("100,000 %ss, never contended, GOMAXPROCS %d: heap", object, procs), limit: "< 32 MiB"}
			if v, ok := s.get(memPkg(object), memName(object, "idle", procs, "quiesce"), 0, "MiB/100k"); ok {
				t.measured = fmt.Sprintf("%.1f MiB", v)
				t.holds = v < 32
			} else {
				t.missing = true
			}
			add(t)
		}
	}
	for _, procs := range gmps {
		name := memName("guard", "contended", procs, "quiesce")
		t := target{what: fmt.Sprintf("Guard after contention, GOMAXPROCS %d: heap per Guard (shards reached)", procs),
			limit: fmt.Sprintf("≤ %.0f B (eager design)", oldGuardBytes[procs])}
		v, ok := s.get(lifecyclePkg, name, 0, "B/object")
		sh, _ := s.get(lifecyclePkg, name, 0, "shards/object")
		if ok {
			t.measured = fmt.Sprintf("%.0f B (%.1f shards)", v, sh)
			t.holds = v <= oldGuardBytes[procs]
			t.incomplete = procs > 1 && sh < float64(procs)
		} else {
			t.missing = true
		}
		add(t)
	}

	// Synchronize with no reader inside: shards no reader used must cost
	// nothing, so at GOMAXPROCS 256 at most 2x the time at 2, for a fresh
	// Epoch and for one two readers collided on (two shards either way).
	// An Epoch entered on every processor is shown without a limit: its
	// grace period sums a shard per processor, as any counting scheme must.
	for _, state := range []string{"fresh", "pair", "collided"} {
		for _, procs := range []int{64, 256} {
			limit := "–"
			if procs == 256 && state != "collided" {
				limit = "≤ 2.00×"
			}
			t := target{what: fmt.Sprintf("Synchronize, no reader, %s Epoch: GOMAXPROCS %d ÷ GOMAXPROCS 2", state, procs), limit: limit}
			a, ok1 := s.get(lifecyclePkg, syncName(state, procs, "epoch"), 0, "ns/op")
			b, ok2 := s.get(lifecyclePkg, syncName(state, 2, "epoch"), 0, "ns/op")
			sa, _ := s.get(lifecyclePkg, syncName(state, procs, "epoch"), 0, "shards")
			sb, _ := s.get(lifecyclePkg, syncName(state, 2, "epoch"), 0, "shards")
			if ok1 && ok2 && b > 0 {
				t.measured = fmt.Sprintf("%.2f× (%.0f ns at %.0f shards / %.0f ns at %.0f)", a/b, a, sa, b, sb)
				t.holds = limit == "–" || a/b <= 2
				t.incomplete = state == "collided" && (sa < float64(procs) || sb < 2)
			} else {
				t.missing = true
			}
			add(t)
		}
	}

	// Registering 10,000 listeners one by one: under 10 ms and 10 MB.
	for _, procs := range []int{1, 2} {
		name := "Register/listeners=10000/impl=quiesce"
		t := target{what: fmt.Sprintf("Register 10,000 listeners one by one, GOMAXPROCS %d: time", procs), limit: "< 10 ms"}
		if v, ok := s.get(scopePkg, name, procs, "ns/op"); ok {
			t.measured = fmt.Sprintf("%.2f ms", v/1e6)
			t.holds = v < 10e6
		} else {
			t.missing = true
		}
		add(t)
		t = target{what: fmt.Sprintf("Register 10,000 listeners one by one, GOMAXPROCS %d: allocated", procs), limit: "< 10 MB"}
		if v, ok := s.get(scopePkg, name, procs, "B/op"); ok {
			t.measured = fmt.Sprintf("%.2f MB", v/1e6)
			t.holds = v < 10e6
		} else {
			t.missing = true
		}
		add(t)
	}
	// Amortized O(1): the cost with 10,000 listeners against with 1.
	for _, procs := range []int{1, 2} {
		t := target{what: fmt.Sprintf("Listen+Unlisten (oldest), 10,000 registered ÷ 1 registered, GOMAXPROCS %d", procs), limit: "–"}
		a, ok1 := s.get(scopePkg, listenName(10_000, "fifo", "quiesce"), procs, "ns/op")
		b, ok2 := s.get(scopePkg, listenName(1, "fifo", "quiesce"), procs, "ns/op")
		if ok1 && ok2 && b > 0 {
			t.measured = fmt.Sprintf("%.2f× (%.0f / %.0f ns)", a/b, a, b)
		} else {
			t.missing = true
		}
		add(t)
	}

	// Unlisten p99 with more runnable goroutines than processors: within
	// 2x of the RWMutex's, in the benchmark that models examples/kauth.
	for _, procs := range []int{1, 2} {
		prefix := "UnlistenOversubscribed/dispatchers=8xGOMAXPROCS/yield=32/impl="
		t := target{what: fmt.Sprintf("Unlisten p99, 8×GOMAXPROCS dispatchers yielding every 32 (kauth-like), GOMAXPROCS %d: quiesce ÷ rwmutex", procs), limit: "≤ 2.00×"}
		q, ok1 := s.get(scopePkg, prefix+"quiesce", procs, "p99-ns")
		r, ok2 := s.get(scopePkg, prefix+"rwmutex", procs, "p99-ns")
		if ok1 && ok2 && r > 0 {
			t.measured = fmt.Sprintf("%.2f× (%.1f / %.1f µs)", q/r, q/1e3, r/1e3)
			t.holds = q/r <= 2
		} else {
			t.missing = true
		}
		add(t)
	}

	// One processor: 64 Unlistens at once behind a dispatch loop that never
	// blocks, against 64 RWMutex writers removing entries under the same
	// reader, in the same run.
	for _, procs := range []int{1, 2} {
		limit := "–"
		if procs == 1 {
			limit = "≤ 4.00×"
		}
		t := target{what: fmt.Sprintf("64 Unlistens at once behind a dispatch loop that never blocks, GOMAXPROCS %d: quiesce ÷ rwmutex", procs), limit: limit}
		name := "UnlistenBatch/reader=fast/unlistens=64/mode=concurrent/impl="
		q, ok1 := s.get(scopePkg, name+"quiesce", procs, "ns/unlisten")
		r, ok2 := s.get(scopePkg, name+"rwmutex", procs, "ns/unlisten")
		if ok1 && ok2 && r > 0 {
			t.measured = fmt.Sprintf("%.2f× (%.2f / %.2f µs per Unlisten)", q/r, q/1e3, r/1e3)
			t.holds = limit == "–" || q/r <= 4
		} else {
			t.missing = true
		}
		add(t)
	}

	// A storm of timed-out Unlistens in a program of 10,000 goroutines:
	// the lateness of an unrelated goroutine, p99 and worst, against the
	// same program without the storm.
	for _, procs := range []int{1, 2} {
		for _, unit := range []string{"p99-ns", "max-ns"} {
			limit := "–"
			if unit == "p99-ns" {
				limit = "≤ 4.00×"
			}
			t := target{what: fmt.Sprintf("Lateness (%s) of an unrelated goroutine, 10,000 goroutines, storm of timed-out Unlistens ÷ none, GOMAXPROCS %d", strings.TrimSuffix(unit, "-ns"), procs), limit: limit}
			st, ok1 := s.get(scopePkg, "StallStorm/goroutines=10000/storm=unlisten", procs, unit)
			no, ok2 := s.get(scopePkg, "StallStorm/goroutines=10000/storm=none", procs, unit)
			if ok1 && ok2 && no > 0 {
				t.measured = fmt.Sprintf("%.2f× (%.2f / %.2f ms)", st/no, st/1e6, no/1e6)
				t.holds = limit == "–" || st/no <= 4
			} else {
				t.missing = true
			}
			add(t)
		}
	}

	// Grace-period sharing: n Unlistens at once against n in a row, with
	// fast readers (no-op listener) and slow ones (1 ms in the listener).
	for _, b := range []struct {
		reader string
		n      int
	}{{"fast", 64}, {"slow", 8}} {
		for _, procs := range []int{1, 2} {
			t := target{what: fmt.Sprintf("%d Unlistens at once ÷ in a row, %s readers, GOMAXPROCS %d", b.n, b.reader, procs), limit: "–"}
			name := fmt.Sprintf("UnlistenBatch/reader=%s/unlistens=%d/mode=", b.reader, b.n)
			c, ok1 := s.get(scopePkg, name+"concurrent/impl=quiesce", procs, "ns/unlisten")
			q, ok2 := s.get(scopePkg, name+"sequential/impl=quiesce", procs, "ns/unlisten")
			if ok1 && ok2 && q > 0 {
				t.measured = fmt.Sprintf("%.2f× (%.1f / %.1f µs per Unlisten)", c/q, c/1e3, q/1e3)
			} else {
				t.missing = true
			}
			add(t)
		}
	}

	fmt.Fprintln(stdout, "| target | measured (median of runs) | limit | verdict |")
	fmt.Fprintln(stdout, "|---|---|---|---|")
	for _, t := range ts {
		verdict := "holds"
		switch {
		case t.missing:
			verdict, t.measured = "not measured", "–"
		case t.incomplete:
			verdict = "inconclusive: contention incomplete"
		case t.limit == "–":
			verdict = "(figure)"
		case !t.holds:
			verdict = "**missed**"
		}
		fmt.Fprintf(stdout, "| %s | %s | %s | %s |\n", t.what, t.measured, t.limit, verdict)
	}
}
