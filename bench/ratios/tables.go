package main

import "fmt"

func dispatchName(listeners int, mode, impl string) string {
	return fmt.Sprintf("Dispatch/listeners=%d/mode=%s/impl=%s", listeners, mode, impl)
}

// dispatchTable: each quiesce dispatch path's median ns/op and its ratio
// to each baseline, per listener count, mode and GOMAXPROCS.
func dispatchTable(s samples) {
	fmt.Fprint(stdout, "| listeners | mode | GOMAXPROCS | impl | ns/op |")
	for _, b := range baselines {
		fmt.Fprintf(stdout, " ÷ %s |", b)
	}
	fmt.Fprint(stdout, "\n|---|---|---|---|---|")
	for range baselines {
		fmt.Fprint(stdout, "---|")
	}
	fmt.Fprintln(stdout)
	for _, n := range []int{1, 4, 16} {
		for _, mode := range []string{"serial", "parallel"} {
			for _, procs := range []int{1, 2} {
				for _, subj := range subjects {
					q, ok := s.get(benchPkg, dispatchName(n, mode, subj), procs, "ns/op")
					if !ok {
						continue
					}
					fmt.Fprintf(stdout, "| %d | %s | %d | %s | %.2f |", n, mode, procs, subj, q)
					for _, b := range baselines {
						v, ok := s.get(benchPkg, dispatchName(n, mode, b), procs, "ns/op")
						fmt.Fprintf(stdout, " %s |", ratio(q, true, v, ok))
					}
					fmt.Fprintln(stdout)
				}
			}
		}
	}
}

// oldGuardBytes is the heap per Guard of the eager design, which allocates
// shards for nextpow2(max(GOMAXPROCS, NumCPU)) processors up front: the
// limit for a lazy Guard's memory after contention (design.md §3.7). The
// figures were measured over 10,000 Guards of that design before it was
// replaced; a run of bench/run.sh cannot measure them again, so the page
// labels them as constants.
var oldGuardBytes = map[int]float64{1: 720, 2: 720, 64: 8656, 256: 33232}

func memName(object, state string, procs int, impl string) string {
	return fmt.Sprintf("Memory/object=%s/state=%s/gomaxprocs=%d/impl=%s", object, state, procs, impl)
}

func memPkg(object string) string {
	if object == "scope" {
		return scopePkg
	}
	return lifecyclePkg
}

// memoryTable: B/object per object, state, GOMAXPROCS and impl, with the
// shards reached and, idle, the total for 100,000.
func memoryTable(s samples) {
	fmt.Fprintln(stdout, "| object | state | GOMAXPROCS | quiesce | shards/object | quiesce-isolated | rwmutex | eager design |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|")
	for _, object := range []string{"epoch", "guard", "scope"} {
		pkg := memPkg(object)
		for _, state := range []string{"idle", "contended"} {
			for _, procs := range gmps {
				cell := func(impl string) string {
					v, ok := s.get(pkg, memName(object, state, procs, impl), 0, "B/object")
					if !ok {
						return "–"
					}
					c := fmt.Sprintf("%.0f", v)
					if mib, ok := s.get(pkg, memName(object, state, procs, impl), 0, "MiB/100k"); ok {
						c += fmt.Sprintf(" (%.1f MiB)", mib)
					}
					return c
				}
				q := cell("quiesce")
				if q == "–" {
					continue
				}
				sh, okSh := s.get(pkg, memName(object, state, procs, "quiesce"), 0, "shards/object")
				shards := num(sh, okSh, "%.1f")
				if okSh && state == "contended" && procs > 1 && sh < float64(procs) {
					shards += " (incomplete)"
				}
				iso := "–"
				if object == "scope" {
					iso = cell("quiesce-isolated")
				}
				before := "–"
				if object == "guard" && state == "contended" {
					before = fmt.Sprintf("%.0f", oldGuardBytes[procs])
				}
				fmt.Fprintf(stdout, "| %s | %s | %d | %s | %s | %s | %s | %s |\n",
					object, state, procs, q, shards, iso, cell("rwmutex"), before)
			}
		}
	}
}

func syncName(state string, procs int, impl string) string {
	return fmt.Sprintf("SynchronizeEmpty/state=%s/gomaxprocs=%d/impl=%s", state, procs, impl)
}

// syncTable: Synchronize with no reader per state and GOMAXPROCS, against
// the same state at GOMAXPROCS 2 and against RWMutex Lock/Unlock.
func syncTable(s samples) {
	fmt.Fprintln(stdout, "| state | GOMAXPROCS | epoch ns/op | shards | ÷ same at GOMAXPROCS 2 | rwmutex ns/op | ÷ rwmutex |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|")
	for _, state := range []string{"fresh", "pair", "collided"} {
		two, okTwo := s.get(lifecyclePkg, syncName(state, 2, "epoch"), 0, "ns/op")
		for _, procs := range gmps {
			e, ok := s.get(lifecyclePkg, syncName(state, procs, "epoch"), 0, "ns/op")
			if !ok {
				continue
			}
			sh, okSh := s.get(lifecyclePkg, syncName(state, procs, "epoch"), 0, "shards")
			rw, okRW := s.get(lifecyclePkg, syncName(state, procs, "rwmutex"), 0, "ns/op")
			shards := num(sh, okSh, "%.0f")
			if okSh && state == "collided" && procs > 1 && sh < float64(procs) {
				shards += " (incomplete)"
			}
			fmt.Fprintf(stdout, "| %s | %d | %.1f | %s | %s | %s | %s |\n", state, procs, e, shards,
				ratio(e, true, two, okTwo), num(rw, okRW, "%.1f"), ratio(e, true, rw, okRW))
		}
	}
}

func listenName(registered int, order, impl string) string {
	return fmt.Sprintf("ListenUnlisten/registered=%d/order=%s/impl=%s", registered, order, impl)
}

// listenTable: Listen+Unlisten per registered count and order, and the
// registration of 10,000 listeners.
func listenTable(s samples) {
	fmt.Fprintln(stdout, "| registered | order | GOMAXPROCS | quiesce ns/op | quiesce B/op | rwmutex ns/op | rwmutex B/op | ÷ rwmutex |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|")
	for _, n := range []int{1, 100, 10_000} {
		for _, order := range []string{"lifo", "fifo"} {
			for _, procs := range []int{1, 2} {
				q, ok := s.get(scopePkg, listenName(n, order, "quiesce"), procs, "ns/op")
				if !ok {
					continue
				}
				qb, okQB := s.get(scopePkg, listenName(n, order, "quiesce"), procs, "B/op")
				r, okR := s.get(scopePkg, listenName(n, order, "rwmutex"), procs, "ns/op")
				rb, okRB := s.get(scopePkg, listenName(n, order, "rwmutex"), procs, "B/op")
				fmt.Fprintf(stdout, "| %d | %s | %d | %.0f | %s | %s | %s | %s |\n", n, order, procs, q,
					num(qb, okQB, "%.0f"), num(r, okR, "%.0f"), num(rb, okRB, "%.0f"), ratio(q, true, r, okR))
			}
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| register 10,000 one by one | GOMAXPROCS | quiesce ms | quiesce MB allocated | rwmutex ms | rwmutex MB allocated |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|")
	for _, procs := range []int{1, 2} {
		name := "Register/listeners=10000/impl="
		q, ok := s.get(scopePkg, name+"quiesce", procs, "ns/op")
		if !ok {
			continue
		}
		qb, okQB := s.get(scopePkg, name+"quiesce", procs, "B/op")
		r, okR := s.get(scopePkg, name+"rwmutex", procs, "ns/op")
		rb, okRB := s.get(scopePkg, name+"rwmutex", procs, "B/op")
		fmt.Fprintf(stdout, "| | %d | %.2f | %s | %s | %s |\n", procs, q/1e6, num(qb/1e6, okQB, "%.2f"),
			num(r/1e6, okR, "%.2f"), num(rb/1e6, okRB, "%.2f"))
	}
}

// latencyTable: p50 and p99 of Unlisten under each load, per impl.
func latencyTable(s samples) {
	loads := []struct{ label, prefix string }{
		{"1 goroutine dispatching nonstop", "UnlistenWhileDispatching/dispatchers=1/impl="},
		{"2 goroutines dispatching nonstop", "UnlistenWhileDispatching/dispatchers=2/impl="},
		{"8×GOMAXPROCS goroutines, yield every 32 (kauth-like)", "UnlistenOversubscribed/dispatchers=8xGOMAXPROCS/yield=32/impl="},
		{"8×GOMAXPROCS goroutines that never yield", "UnlistenOversubscribed/dispatchers=8xGOMAXPROCS/yield=never/impl="},
	}
	impls := []string{"quiesce", "dispatcher", "rwmutex"}
	fmt.Fprint(stdout, "| load | GOMAXPROCS |")
	for _, im := range impls {
		fmt.Fprintf(stdout, " %s p50 / p99 µs |", im)
	}
	fmt.Fprintln(stdout, " p99 quiesce ÷ rwmutex |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|")
	for _, ld := range loads {
		for _, procs := range []int{1, 2} {
			if _, ok := s.get(scopePkg, ld.prefix+"quiesce", procs, "p99-ns"); !ok {
				continue
			}
			fmt.Fprintf(stdout, "| %s | %d |", ld.label, procs)
			for _, im := range impls {
				p50, ok1 := s.get(scopePkg, ld.prefix+im, procs, "p50-ns")
				p99, ok2 := s.get(scopePkg, ld.prefix+im, procs, "p99-ns")
				if ok1 && ok2 {
					fmt.Fprintf(stdout, " %.2f / %.1f |", p50/1e3, p99/1e3)
				} else {
					fmt.Fprint(stdout, " – |")
				}
			}
			q, okQ := s.get(scopePkg, ld.prefix+"quiesce", procs, "p99-ns")
			r, okR := s.get(scopePkg, ld.prefix+"rwmutex", procs, "p99-ns")
			fmt.Fprintf(stdout, " %s |\n", ratio(q, okQ, r, okR))
		}
	}
}
