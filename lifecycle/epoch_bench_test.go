package lifecycle_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quiesce/quiesce/internal/benchkit"
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

// BenchmarkSynchronizeEmpty measures one grace period with no reader
// inside, on a fresh Epoch (never entered from two processors at once:
// no shard) and on one whose readers collided and then entered from
// every processor (a shard per processor: see benchkit.Crowd), at GOMAXPROCS 1,
// 2, 64 and 256, set inside the benchmark. What it shows is how a grace
// period's cost grows with the shards it scans: the target is
// at most 2x the 2-shard time (state=collided/gomaxprocs=2) at
// GOMAXPROCS 256. The baseline is its RWMutex equivalent, Lock and
// Unlock of an RWMutex that readers used the same way, whose cost does
// not depend on the processor count. shards reports the Epoch's shard
// count, the state the readers actually reached.
//
// These benchmarks set GOMAXPROCS themselves: bench/run.sh runs them
// once per round, without -cpu.
func BenchmarkSynchronizeEmpty(b *testing.B) {
	for _, state := range []string{"fresh", "pair", "collided"} {
		for _, procs := range benchkit.Procs {
			for _, impl := range []string{"epoch", "rwmutex"} {
				name := fmt.Sprintf("state=%s/gomaxprocs=%d/impl=%s", state, procs, impl)
				b.Run(name, func(b *testing.B) {
					benchSynchronizeEmpty(b, impl, procs, state)
				})
			}
		}
	}
}

func benchSynchronizeEmpty(b *testing.B, impl string, procs int, state string) {
	collided := state == "collided"
	b.ReportAllocs()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	ctx := context.Background()
	switch impl {
	case "epoch":
		e := lifecycle.NewEpoch()
		switch state {
		case "pair":
			e = pairEpoch(b)
		case "collided":
			e = collidedEpoch(procs)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := e.Synchronize(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(lifecycle.Shards(e)), "shards")
	case "rwmutex":
		mu := new(sync.RWMutex)
		if collided {
			benchkit.NewCrowd(1, func(int) {
				mu.RLock()
				//lint:ignore SA2001 the empty section is what is measured
				mu.RUnlock()
			}, nil).Run()
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

// collidedEpochs caches, per GOMAXPROCS, the Epoch that
// BenchmarkSynchronizeEmpty's readers collided on: the testing package
// calls a benchmark function several times (b.N = 1, then more), and
// contending a new Epoch for each call would cost seconds at GOMAXPROCS
// 256 to reach the same state again. No reader is left inside it.
var collidedEpochs = map[int]*lifecycle.Epoch{}

func collidedEpoch(procs int) *lifecycle.Epoch {
	if e, ok := collidedEpochs[procs]; ok {
		return e
	}
	e := lifecycle.NewEpoch()
	benchkit.NewCrowd(1, func(int) { e.Enter().Exit() }, func(int) int { return lifecycle.Shards(e) }).Run()
	collidedEpochs[procs] = e
	return e
}

// pairEpoch returns an Epoch on which two readers, on two processors,
// collided: it has its processor table (GOMAXPROCS slots) and two shards,
// whatever GOMAXPROCS is. This is the state the target "Synchronize at
// GOMAXPROCS 256 costs at most twice what it costs at 2" is about: shards
// that no reader used must cost a grace period nothing. With one
// processor nothing collides, and the Epoch stays fresh.
func pairEpoch(b *testing.B) *lifecycle.Epoch {
	e := lifecycle.NewEpoch()
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		return e
	}
	var quit atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !quit.Load() && lifecycle.Shards(e) < 2 {
				e.Enter().Exit()
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for lifecycle.Shards(e) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	quit.Store(true)
	wg.Wait()
	if n := lifecycle.Shards(e); n < 2 {
		b.Logf("pair: only %d shards after 10 s", n)
	}
	return e
}
