package scope_test

import (
	"fmt"
	"testing"

	"github.com/quiesce/quiesce/internal/benchkit"
	"github.com/quiesce/quiesce/scope"
)

// BenchmarkMemory measures heap bytes per Scope with one listener, idle
// and after contention, at GOMAXPROCS 1, 2, 64 and 256, against the
// RWMutex-protected listener slice (rwScope) with one listener, by the
// method of internal/benchkit (see there): each iteration allocates n
// Scopes and registers a listener on each, contends them (state=contended:
// dispatchers on every processor, see benchkit.Crowd), collects, and
// divides the growth of the live heap by n. B/object counts the
// Scope, its listener's Handle and whatever the epoch grew; MiB/100k
// (state=idle) is the total for 100,000 of them, the memory target of
// docs/benchmarks.md (under 32 MiB at every GOMAXPROCS). impl=quiesce-isolated is a
// Scope made WithIsolation, whose listener has a domain of its own.
func BenchmarkMemory(b *testing.B) {
	for _, state := range []string{"idle", "contended"} {
		for _, procs := range benchkit.Procs {
			for _, impl := range []string{"quiesce", "quiesce-isolated", "rwmutex"} {
				name := fmt.Sprintf("object=scope/state=%s/gomaxprocs=%d/impl=%s", state, procs, impl)
				b.Run(name, func(b *testing.B) {
					benchkit.Memory(b, procs, state == "contended", func(n int) benchkit.Subject {
						return newMemSubject(impl, n)
					})
				})
			}
		}
	}
}

// newMemSubject returns n scopes of impl, not yet allocated: the slice
// that will hold them is, so that it is not counted. Every listener has
// the same constant name, so that no name is allocated.
func newMemSubject(impl string, n int) benchkit.Subject {
	switch impl {
	case "quiesce", "quiesce-isolated":
		var opts []scope.Option
		if impl == "quiesce-isolated" {
			opts = append(opts, scope.WithIsolation())
		}
		objs := make([]*scope.Scope[int], n)
		return benchkit.Subject{
			Alloc: func(i int) {
				s := scope.New[int]("bench", opts...)
				if _, err := s.Listen("l", noop); err != nil {
					panic(err)
				}
				objs[i] = s
			},
			Enter:  func(i int) { objs[i].Dispatch(bg, 0) },
			Shards: func(i int) int { return scope.DispatchShards(objs[i]) },
		}
	case "rwmutex":
		objs := make([]*rwScope, n)
		return benchkit.Subject{
			Alloc: func(i int) {
				r := new(rwScope)
				r.listen(noop)
				objs[i] = r
			},
			Enter: func(i int) { objs[i].Dispatch(bg, 0) },
		}
	}
	panic("unknown memory subject " + impl)
}
