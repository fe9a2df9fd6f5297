package benchkit

import (
	"runtime"
	"slices"
	"testing"
)

// The memory benchmarks of lifecycle and scope: heap bytes per Epoch, per
// Guard and per Scope, idle (never entered from two processors at once)
// and after contention (readers on every processor entering at once), at
// GOMAXPROCS 1, 2, 64 and 256, next to what the same protection costs with
// a sync.RWMutex. GOMAXPROCS is set inside the benchmark and restored
// after it; it may exceed the number of cores (a 64-core host's GOMAXPROCS
// on a smaller machine), which is the point: the cost must follow the
// processors that actually entered, not the host.
//
// These are not timing benchmarks. Each iteration is one complete
// measurement: allocate n objects and keep them alive (state=idle: each
// entered once, from one goroutine; state=contended: contended by a
// Crowd, see crowd.go), collect, and divide the growth of the
// live heap by n. The live heap is runtime.MemStats.HeapAlloc after two
// collections (LiveHeap); ReadMemStats flushes every processor's cache,
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

// Objects per measurement: for state=idle, 100,000, the count the memory
// target is stated for; after contention, enough for the live-heap delta to
// dwarf what the runtime allocates meanwhile (a few hundred bytes: about
// 1 B/object here), and few enough that contending them one by one
// (phase 1 of crowd) stays quick.
const (
	IdleObjects      = 100_000
	ContendedObjects = 200
)

// Procs are the GOMAXPROCS values every memory and grace-period-size
// benchmark runs at: the one or two processors of a small container, and
// hosts of 64 and 256 cores.
var Procs = []int{1, 2, 64, 256}

// A Subject is n objects of one kind, allocated one by one, with one
// read-side section on an object and (quiesce only) its shard count.
// Closures are fine here: nothing in a memory benchmark is timed.
type Subject struct {
	Alloc  func(i int)     // makes object i and keeps it
	Enter  func(i int)     // one read-side section on object i
	Shards func(i int) int // shards object i has made; nil for a baseline
}

// Memory runs b.N measurements of the subjects that newSubject makes,
// at GOMAXPROCS procs, and reports the median of each metric.
func Memory(b *testing.B, procs int, contended bool, newSubject func(n int) Subject) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	n := IdleObjects
	if contended {
		n = ContendedObjects
	}
	var perObject, shards []float64
	for i := 0; i < b.N; i++ {
		bytes, sh := MeasureHeap(n, contended, newSubject(n))
		perObject = append(perObject, bytes)
		shards = append(shards, sh)
	}
	b.ReportMetric(0, "ns/op") // the time of a measurement is not a result
	b.ReportMetric(Median(perObject), "B/object")
	if !contended {
		b.ReportMetric(Median(perObject)*100_000/(1<<20), "MiB/100k")
	}
	if newSubject(0).Shards != nil {
		b.ReportMetric(Median(shards), "shards/object")
	}
}

// MeasureHeap allocates s's n objects (contending them first if asked),
// and returns the live heap they hold per object and their mean number of
// shards. Everything the measurement itself needs (the slice, the
// contending goroutines) exists before the first reading.
func MeasureHeap(n int, contended bool, s Subject) (bytesPerObject, shardsPerObject float64) {
	var c *Crowd
	if contended {
		c = NewCrowd(n, s.Enter, s.Shards)
	}
	before := LiveHeap()
	for i := 0; i < n; i++ {
		s.Alloc(i)
		if c == nil {
			s.Enter(i) // idle, not unused: one reader at a time
		}
	}
	if c != nil {
		c.Run()
	}
	after := LiveHeap()
	runtime.KeepAlive(s)
	runtime.KeepAlive(c)
	if s.Shards != nil {
		total := 0
		for i := 0; i < n; i++ {
			total += s.Shards(i)
		}
		shardsPerObject = float64(total) / float64(n)
	}
	return (float64(after) - float64(before)) / float64(n), shardsPerObject
}

// LiveHeap returns the bytes of heap objects alive after a full
// collection. ReadMemStats flushes every processor's allocation cache, so
// HeapAlloc counts exactly the objects allocated, at their size class.
func LiveHeap() uint64 {
	// Twice: the first collection moves what sync.Pools hold to their
	// victim caches, the second frees it; otherwise the measurement's
	// second reading would find it freed and subtract it.
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func Median(v []float64) float64 {
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
