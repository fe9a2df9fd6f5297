package lifecycle_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/quiesce/quiesce/internal/benchkit"
	"github.com/quiesce/quiesce/lifecycle"
)

// Memory benchmarks: heap bytes per Epoch and per Guard, idle and after
// contention, at GOMAXPROCS 1, 2, 64 and 256, next to what the same
// protection costs with a sync.RWMutex. The method, and the crowd of
// readers that contends the objects, are internal/benchkit's, shared with
// scope's memory benchmark.

// newMemSubject returns n objects of kind ("epoch" or "guard") under impl
// ("quiesce" or "rwmutex"), not yet allocated: the slice that will hold
// them is, so that it is not counted.
func newMemSubject(kind, impl string, n int) benchkit.Subject {
	switch kind + "/" + impl {
	case "epoch/quiesce":
		objs := make([]*lifecycle.Epoch, n)
		return benchkit.Subject{
			Alloc:  func(i int) { objs[i] = lifecycle.NewEpoch() },
			Enter:  func(i int) { objs[i].Enter().Exit() },
			Shards: func(i int) int { return lifecycle.Shards(objs[i]) },
		}
	case "guard/quiesce":
		objs := make([]*lifecycle.Guard, n)
		return benchkit.Subject{
			Alloc: func(i int) { objs[i] = lifecycle.NewGuard() },
			Enter: func(i int) {
				if r, ok := objs[i].TryEnter(); ok {
					r.Exit()
				}
			},
			Shards: func(i int) int { return lifecycle.GuardShards(objs[i]) },
		}
	case "epoch/rwmutex":
		objs := make([]*sync.RWMutex, n)
		return benchkit.Subject{
			Alloc: func(i int) { objs[i] = new(sync.RWMutex) },
			Enter: func(i int) {
				objs[i].RLock()
				//lint:ignore SA2001 the empty section is what is measured
				objs[i].RUnlock()
			},
		}
	case "guard/rwmutex":
		objs := make([]*rwGuard, n)
		return benchkit.Subject{
			Alloc: func(i int) { objs[i] = new(rwGuard) },
			Enter: func(i int) {
				if objs[i].tryEnter() {
					objs[i].exit()
				}
			},
		}
	}
	panic("unknown memory subject " + kind + "/" + impl)
}

// BenchmarkMemory measures heap bytes per Epoch and per Guard, idle and
// after contention, at GOMAXPROCS 1, 2, 64 and 256, against a
// sync.RWMutex (for the Guard, the RWMutex rundown protection of
// guard_bench_test.go). See the top of this file for the method.
func BenchmarkMemory(b *testing.B) {
	for _, kind := range []string{"epoch", "guard"} {
		for _, state := range []string{"idle", "contended"} {
			for _, procs := range benchkit.Procs {
				for _, impl := range []string{"quiesce", "rwmutex"} {
					name := fmt.Sprintf("object=%s/state=%s/gomaxprocs=%d/impl=%s", kind, state, procs, impl)
					b.Run(name, func(b *testing.B) {
						benchkit.Memory(b, procs, state == "contended", func(n int) benchkit.Subject {
							return newMemSubject(kind, impl, n)
						})
					})
				}
			}
		}
	}
}
