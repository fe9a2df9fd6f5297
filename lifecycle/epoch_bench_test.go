package lifecycle_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/quiesce/quiesce/lifecycle"
)

// Benchmarks of the read side: one empty critical section per iteration,
// next to the references a caller would otherwise reach for. Results and
// the commands that produced them are in docs/benchmarks.md.
//
// Every hot loop below calls its implementation directly (no interface or
// func value per iteration), so the only difference between two
// sub-benchmarks is the protection itself.

// paddedCount is an atomic counter alone on its cache line: 128 bytes, so
// the allocator's 128-byte size class gives it a line (pair) of its own.
type paddedCount struct {
	n atomic.Int64
	_ [128 - 8]byte // padding to prevent false sharing
}

// readSection is one way of protecting a read-side critical section, with
// its serial and parallel hot loops written out.
type readSection struct {
	name     string
	serial   func(b *testing.B)
	parallel func(b *testing.B)
}

var readSections = []readSection{
	{
		// The subject: Enter, then Exit of the returned Ref.
		name: "epoch",
		serial: func(b *testing.B) {
			e := lifecycle.NewEpoch()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.Enter().Exit()
			}
		},
		parallel: func(b *testing.B) {
			shared := lifecycle.NewEpoch()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// A local copy: reading the captured variable through
				// the closure could share a line with testing.PB's
				// counters, which every worker writes.
				e := shared
				for pb.Next() {
					e.Enter().Exit()
				}
			})
		},
	},
	{
		// What an RWMutex reader pays: RLock and RUnlock, inlined.
		name: "rwmutex",
		serial: func(b *testing.B) {
			mu := new(sync.RWMutex)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mu.RLock()
				//lint:ignore SA2001 the empty section is what is measured
				mu.RUnlock()
			}
		},
		parallel: func(b *testing.B) {
			shared := new(sync.RWMutex)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				mu := shared
				for pb.Next() {
					mu.RLock()
					//lint:ignore SA2001 the empty section is what is measured
					mu.RUnlock()
				}
			})
		},
	},
	{
		// One shared in-flight counter: +1 on entry, -1 on exit.
		name: "counter",
		serial: func(b *testing.B) {
			c := new(paddedCount)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.n.Add(1)
				c.n.Add(-1)
			}
		},
		parallel: func(b *testing.B) {
			shared := new(paddedCount)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := shared
				for pb.Next() {
					c.n.Add(1)
					c.n.Add(-1)
				}
			})
		},
	},
	{
		// The floor of any counting scheme: two atomic adds on a
		// counter that only this goroutine writes.
		name: "floor",
		serial: func(b *testing.B) {
			c := new(paddedCount)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.n.Add(1)
				c.n.Add(-1)
			}
		},
		parallel: func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				c := new(paddedCount) // this worker's own
				for pb.Next() {
					c.n.Add(1)
					c.n.Add(-1)
				}
			})
		},
	},
}

// BenchmarkEpoch measures Epoch.Enter followed by Ref.Exit, serially and
// from every processor at once, against an RWMutex read lock, one shared
// atomic counter and the per-goroutine counter floor.
func BenchmarkEpoch(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		for _, s := range readSections {
			b.Run(modeName(parallel)+"/impl="+s.name, func(b *testing.B) {
				benchReadSection(b, s, parallel)
			})
		}
	}
}

// benchReadSection runs one read-side protection, serially or in
// parallel.
func benchReadSection(b *testing.B, s readSection, parallel bool) {
	b.ReportAllocs()
	if parallel {
		s.parallel(b)
	} else {
		s.serial(b)
	}
}

func modeName(parallel bool) string {
	if parallel {
		return "mode=parallel"
	}
	return "mode=serial"
}

// BenchmarkSynchronize measures one grace period while 0 or 1 goroutines
// enter and exit nonstop (the reader never yields: the worst case for a
// waiter that shares its processor), against the RWMutex equivalent: Lock
// and Unlock while a goroutine read-locks nonstop. It isolates the
// Epoch's part of Scope.Unlisten, which adds a drain goroutine and a
// channel wake-up around one Synchronize.
func BenchmarkSynchronize(b *testing.B) {
	for _, readers := range []int{0, 1} {
		for _, impl := range []string{"epoch", "rwmutex"} {
			b.Run(fmt.Sprintf("readers=%d/impl=%s", readers, impl), func(b *testing.B) {
				benchSynchronize(b, impl, readers)
			})
		}
	}
}

func benchSynchronize(b *testing.B, impl string, readers int) {
	b.ReportAllocs()
	var quit atomic.Bool
	var wg sync.WaitGroup
	defer func() {
		quit.Store(true)
		wg.Wait()
	}()
	switch impl {
	case "epoch":
		e := lifecycle.NewEpoch()
		for i := 0; i < readers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !quit.Load() {
					e.Enter().Exit()
				}
			}()
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := e.Synchronize(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	case "rwmutex":
		mu := new(sync.RWMutex)
		for i := 0; i < readers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !quit.Load() {
					mu.RLock()
					//lint:ignore SA2001 the empty section is what is measured
					mu.RUnlock()
				}
			}()
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			mu.Lock()
			//lint:ignore SA2001 the empty section is what is measured
			mu.Unlock()
		}
	default:
		b.Fatalf("unknown impl %q", impl)
	}
}
