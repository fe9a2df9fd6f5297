package scope_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/quiesce/quiesce/scope"
)

// BenchmarkMemory measures heap bytes per Scope with one listener, idle
// and after contention, at GOMAXPROCS 1, 2, 64 and 256, against the
// RWMutex-protected listener slice (rwScope) with one listener, by the
// method of lifecycle/memory_bench_test.go (see there): each iteration
// allocates n Scopes and registers a listener on each, contends them
// (state=contended: dispatchers on every processor, see crowd), collects,
// and divides the growth of the live heap by n. B/object counts the
// Scope, its listener's Handle and whatever the epoch grew; MiB/100k
// (state=idle) is the total for 100,000 of them, the memory
// target (under 32 MiB at every GOMAXPROCS). impl=quiesce-isolated is a
// Scope made WithIsolation, whose listener has a domain of its own.
func BenchmarkMemory(b *testing.B) {
	for _, state := range []string{"idle", "contended"} {
		for _, procs := range memProcs {
			for _, impl := range []string{"quiesce", "quiesce-isolated", "rwmutex"} {
				name := fmt.Sprintf("object=scope/state=%s/gomaxprocs=%d/impl=%s", state, procs, impl)
				b.Run(name, func(b *testing.B) { benchMemory(b, impl, procs, state == "contended") })
			}
		}
	}
}

// Objects per measurement and GOMAXPROCS values, as in package lifecycle.
const (
	memIdleObjects      = 100_000
	memContendedObjects = 200
)

var memProcs = []int{1, 2, 64, 256}

// A memSubject is n one-listener scopes of one implementation, allocated
// one by one, with one Dispatch on a scope and (quiesce only) its shard
// count. Nothing here is timed: closures are fine.
type memSubject struct {
	alloc  func(i int)
	enter  func(i int)
	shards func(i int) int // nil for the baseline
}

// newMemSubject returns n scopes of impl, not yet allocated: the slice
// that will hold them is, so that it is not counted. Every listener has
// the same constant name, so that no name is allocated.
func newMemSubject(impl string, n int) memSubject {
	switch impl {
	case "quiesce", "quiesce-isolated":
		var opts []scope.Option
		if impl == "quiesce-isolated" {
			opts = append(opts, scope.WithIsolation())
		}
		objs := make([]*scope.Scope[int], n)
		return memSubject{
			alloc: func(i int) {
				s := scope.New[int]("bench", opts...)
				if _, err := s.Listen("l", noop); err != nil {
					panic(err)
				}
				objs[i] = s
			},
			enter:  func(i int) { objs[i].Dispatch(bg, 0) },
			shards: func(i int) int { return scope.DispatchShards(objs[i]) },
		}
	case "rwmutex":
		objs := make([]*rwScope, n)
		return memSubject{
			alloc: func(i int) {
				r := new(rwScope)
				r.listen(noop)
				objs[i] = r
			},
			enter: func(i int) { objs[i].Dispatch(bg, 0) },
		}
	}
	panic("unknown memory subject " + impl)
}

// benchMemory runs b.N measurements at GOMAXPROCS procs and reports the
// median of each metric (ns/op, the time of a measurement, suppressed).
func benchMemory(b *testing.B, impl string, procs int, contended bool) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	n := memIdleObjects
	if contended {
		n = memContendedObjects
	}
	var perObject, shards []float64
	for i := 0; i < b.N; i++ {
		bytes, sh := measureHeap(n, contended, newMemSubject(impl, n))
		perObject = append(perObject, bytes)
		shards = append(shards, sh)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(medianOf(perObject), "B/object")
	if !contended {
		b.ReportMetric(medianOf(perObject)*100_000/(1<<20), "MiB/100k")
	}
	if impl != "rwmutex" {
		b.ReportMetric(medianOf(shards), "shards/object")
	}
}

// measureHeap, liveHeap and medianOf are those of package lifecycle's
// memory benchmarks.

func measureHeap(n int, contended bool, s memSubject) (bytesPerObject, shardsPerObject float64) {
	var c *crowd
	if contended {
		c = newCrowd(n, s.enter, s.shards)
	}
	before := liveHeap()
	for i := 0; i < n; i++ {
		s.alloc(i)
		if c == nil {
			s.enter(i) // idle, not unused: one dispatcher at a time
		}
	}
	if c != nil {
		c.run()
	}
	after := liveHeap()
	runtime.KeepAlive(s)
	runtime.KeepAlive(c)
	if s.shards != nil {
		total := 0
		for i := 0; i < n; i++ {
			total += s.shards(i)
		}
		shardsPerObject = float64(total) / float64(n)
	}
	return (float64(after) - float64(before)) / float64(n), shardsPerObject
}

func liveHeap() uint64 {
	// Twice: the first collection moves what sync.Pools hold to their
	// victim caches, the second frees it; otherwise the measurement's
	// second reading would find it freed and subtract it.
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
