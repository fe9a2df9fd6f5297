package lifecycle_test

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/quiesce/quiesce/lifecycle"
)

// Memory benchmarks: heap bytes per Epoch and per Guard, idle (never
// entered from two processors at once) and after contention (readers on
// every processor entering at once), at GOMAXPROCS 1, 2, 64 and 256, next
// to what the same protection costs with a sync.RWMutex. GOMAXPROCS is
// set inside the benchmark and restored after it; it may exceed the
// number of cores (a 64-core host's GOMAXPROCS on this machine), which
// is the point: the cost must follow the processors that actually entered,
// not the host. scope/memory_bench_test.go measures the Scope the same way.
//
// These are not timing benchmarks. Each iteration is one complete
// measurement: allocate n objects and keep them alive (state=idle: each
// entered once, from one goroutine; state=contended: contended by a
// crowd, see crowd_bench_test.go), collect, and divide the growth of the
// live heap by n. The live heap is runtime.MemStats.HeapAlloc after two
// collections (liveHeap); ReadMemStats flushes every processor's cache,
// so the figure is exact up to size classes. Whatever the measurement
// itself needs (the slice of objects, the crowd's goroutines and
// threads) exists before the first reading and stays alive past the
// second. One measurement is enough, as the figure does not vary from
// run to run except through what the contention reached, which
// shards/object reports; bench/run.sh runs these with -benchtime 1x, and
// with more iterations the median is reported. Metrics:
//
//   - B/object: heap bytes per object, rounded up to the allocator's size
//     classes, as a program pays them.
//   - MiB/100k (state=idle, which allocates 100,000 objects): the total
//     for 100,000 objects, measured rather than extrapolated.
//   - shards/object (impl=quiesce): counter shards per object, from the
//     export_test hook: 0 while a domain is uncontended; GOMAXPROCS once
//     every processor has entered it.
//
// ns/op (the time of one measurement) is suppressed, and so are B/op and
// allocs/op (ReportAllocs would divide the measurement's own allocations
// by b.N): B/object is the allocation figure here.

// Objects per measurement: for state=idle, the 100,000 of the issue's
// memory target; after contention, enough for the live-heap delta to
// dwarf what the runtime allocates meanwhile (a few hundred bytes: about
// 1 B/object here), and few enough that contending them one by one
// (phase 1 of crowd) stays quick.
const (
	memIdleObjects      = 100_000
	memContendedObjects = 200
)

// memProcs are the GOMAXPROCS values every memory and grace-period-size
// benchmark runs at: this machine's, and hosts of 64 and 256 cores.
var memProcs = []int{1, 2, 64, 256}

// A memSubject is n objects of one kind, allocated one by one, with one
// read-side section on an object and (quiesce only) its shard count.
// Closures are fine here: nothing in a memory benchmark is timed.
type memSubject struct {
	alloc  func(i int)     // makes object i and keeps it
	enter  func(i int)     // one read-side section on object i
	shards func(i int) int // shards object i has made; nil for a baseline
}

// newMemSubject returns n objects of kind ("epoch" or "guard") under impl
// ("quiesce" or "rwmutex"), not yet allocated: the slice that will hold
// them is, so that it is not counted.
func newMemSubject(kind, impl string, n int) memSubject {
	switch kind + "/" + impl {
	case "epoch/quiesce":
		objs := make([]*lifecycle.Epoch, n)
		return memSubject{
			alloc:  func(i int) { objs[i] = lifecycle.NewEpoch() },
			enter:  func(i int) { objs[i].Enter().Exit() },
			shards: func(i int) int { return lifecycle.Shards(objs[i]) },
		}
	case "guard/quiesce":
		objs := make([]*lifecycle.Guard, n)
		return memSubject{
			alloc: func(i int) { objs[i] = lifecycle.NewGuard() },
			enter: func(i int) {
				if r, ok := objs[i].TryEnter(); ok {
					r.Exit()
				}
			},
			shards: func(i int) int { return lifecycle.GuardShards(objs[i]) },
		}
	case "epoch/rwmutex":
		objs := make([]*sync.RWMutex, n)
		return memSubject{
			alloc: func(i int) { objs[i] = new(sync.RWMutex) },
			enter: func(i int) {
				objs[i].RLock()
				//lint:ignore SA2001 the empty section is what is measured
				objs[i].RUnlock()
			},
		}
	case "guard/rwmutex":
		objs := make([]*rwGuard, n)
		return memSubject{
			alloc: func(i int) { objs[i] = new(rwGuard) },
			enter: func(i int) {
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
			for _, procs := range memProcs {
				for _, impl := range []string{"quiesce", "rwmutex"} {
					name := fmt.Sprintf("object=%s/state=%s/gomaxprocs=%d/impl=%s", kind, state, procs, impl)
					b.Run(name, func(b *testing.B) {
						benchMemory(b, procs, state == "contended", func(n int) memSubject {
							return newMemSubject(kind, impl, n)
						})
					})
				}
			}
		}
	}
}

// benchMemory runs b.N measurements of the subjects that newSubject makes,
// at GOMAXPROCS procs, and reports the median of each metric.
func benchMemory(b *testing.B, procs int, contended bool, newSubject func(n int) memSubject) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	n := memIdleObjects
	if contended {
		n = memContendedObjects
	}
	var perObject, shards []float64
	for i := 0; i < b.N; i++ {
		bytes, sh := measureHeap(n, contended, newSubject(n))
		perObject = append(perObject, bytes)
		shards = append(shards, sh)
	}
	b.ReportMetric(0, "ns/op") // the time of a measurement is not a result
	b.ReportMetric(medianOf(perObject), "B/object")
	if !contended {
		b.ReportMetric(medianOf(perObject)*100_000/(1<<20), "MiB/100k")
	}
	if newSubject(0).shards != nil {
		b.ReportMetric(medianOf(shards), "shards/object")
	}
}

// measureHeap allocates s's n objects (contending them first if asked),
// and returns the live heap they hold per object and their mean number of
// shards. Everything the measurement itself needs (the slice, the
// contending goroutines) exists before the first reading.
func measureHeap(n int, contended bool, s memSubject) (bytesPerObject, shardsPerObject float64) {
	var c *crowd
	if contended {
		c = newCrowd(n, s.enter, s.shards)
	}
	before := liveHeap()
	for i := 0; i < n; i++ {
		s.alloc(i)
		if c == nil {
			s.enter(i) // idle, not unused: one reader at a time
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

// liveHeap returns the bytes of heap objects alive after a full
// collection. ReadMemStats flushes every processor's allocation cache, so
// HeapAlloc counts exactly the objects allocated, at their size class.
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
