// Package benchkit holds what the memory and grace-period benchmarks of
// lifecycle and scope share: a Crowd of readers that contends objects the
// way a hot object is contended, and the measurement of the live heap.
// Test files cannot share code across packages; these are an ordinary
// (internal) package that only benchmarks import.
package benchkit

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A Crowd is two reader goroutines per processor (2 × GOMAXPROCS) that
// bring objects to the state a hot object reaches under load, for
// the benchmarks that measure an object "after contention" (memory,
// grace periods over every shard). It works in two phases:
//
//  1. Collide: 2 × NumCPU of the readers enter the same object until
//     it has collided (its first shard exists), then the next object;
//     the others wait. A collision needs two readers entering one
//     object at the same moment, on two cores: readers that each walk
//     every object rarely do that, and more readers than cores would
//     only take turns on them. On a loaded machine this phase is the
//     slow one (tens of milliseconds per object instead of
//     microseconds), and the contention may stop at contendMax with
//     objects that never collided: shards/object shows it.
//  2. Spread: every reader enters every object once per pass, and
//     pauses between passes, until every object has a shard per
//     processor (what a long-lived hot object ends up with, and the
//     worst case for memory and for a grace period's scan) or
//     contendMax has passed.
//
// With one processor nothing can collide, and a baseline has no shards
// to count: phase 1 is skipped, and phase 2 runs for contendMin. The
// shards/object metric of every benchmark that uses a Crowd shows the
// state reached.
//
// Why the pause is a blocking system call (pause, where the platform has
// one): the runtime wakes idle processors one at a time, each woken by
// the last through a spinning thread, and hands them out last in, first
// out. Readers that never block keep every running thread busy, so with
// GOMAXPROCS far above the core count each wake-up waits for the cores
// and the chain crawls: about 140 of 256 processors had run a reader
// after 10 s on 2 cores, and a time.Sleep, which gives the processor
// back, reaches fewer. A reader blocked in a system call keeps its
// processor until the runtime needs it for other work, so readers
// sleeping in one hold many processors at once and the rest are woken
// for the readers still runnable: every processor runs a reader within
// seconds, while the threads sleep instead of competing for the cores.
// Two readers per processor keep work queued, so that the runtime hands
// the processor of a sleeping reader to a waiting one, and the sleeper
// takes another when it wakes: with one per processor, readers tend to
// wake on the processor they slept on, and in one trial of three on a
// loaded machine 64 processors had not all been reached after 10 s; with
// two, every trial got there.
//
// The goroutines, and enough threads for them (warmThreads), are made
// when the Crowd is: a measurement reads the heap after that, and the
// runtime's own structures for them (goroutines' and threads' records
// are heap objects) are not counted.
type Crowd struct {
	n      int
	enter  func(i int)     // one read-side section on object i
	shards func(i int) int // object i's shards; nil for a baseline
	target int             // shards per object that end phase 2; 0: run for contendMin
	cur    atomic.Int64    // phase 1: the object every reader enters; n once done
	start  atomic.Bool     // polled, not a channel: see reader
	quit   atomic.Bool
	wg     sync.WaitGroup
	// readers holds the func values the goroutines were started with,
	// so that they stay reachable: a goroutine's func value becomes
	// garbage when it returns, and a measurement would subtract it.
	readers []func()
}

const (
	contendMin   = 20 * time.Millisecond
	contendMax   = 10 * time.Second
	contendPause = 500 * time.Microsecond // between passes of phase 2
	contendWait  = 2 * time.Millisecond   // between checks while waiting
)

func NewCrowd(n int, enter func(i int), shards func(i int) int) *Crowd {
	procs := runtime.GOMAXPROCS(0)
	c := &Crowd{n: n, enter: enter, shards: shards}
	if shards == nil || procs == 1 {
		c.cur.Store(int64(n))
	} else {
		c.target = procs
	}
	warmThreads(3 * procs)
	c.readers = make([]func(), 2*procs)
	colliders := 2 * runtime.NumCPU()
	for w := range c.readers {
		collider := w < colliders
		c.readers[w] = func() { c.reader(collider) }
		c.wg.Add(1)
		go c.readers[w]()
	}
	time.Sleep(time.Microsecond) // gives this goroutine its sleep timer now
	return c
}

// reader is one reader's loop; colliders take part in phase 1, the
// others wait for phase 2.
func (c *Crowd) reader(collider bool) {
	defer c.wg.Done()
	// Waiting on a channel would take a sudog from the runtime's cache
	// and give it back when woken, and a collection frees the overflow
	// of that cache: up to 2 KB that the measurement would subtract from
	// the objects' bytes (seen as a negative B/object for an RWMutex).
	for !c.start.Load() {
		pause(contendWait)
	}
	for !c.quit.Load() {
		if i := c.cur.Load(); i < int64(c.n) {
			if !collider {
				pause(contendWait)
				continue
			}
			for k := 0; k < 64; k++ {
				c.enter(int(i))
			}
			if c.shards(int(i)) > 0 {
				c.cur.CompareAndSwap(i, i+1)
			}
			continue
		}
		for i := 0; i < c.n; i++ {
			c.enter(i)
		}
		pause(contendPause)
	}
}

// Run lets the readers go, waits until the objects are contended as
// described at Crowd, and stops the readers: when it returns, no reader
// is inside any object.
func (c *Crowd) Run() {
	t0 := time.Now()
	c.start.Store(true)
	done := 0 // the objects before done have their target shards
	for {
		time.Sleep(time.Millisecond)
		elapsed := time.Since(t0)
		if elapsed > contendMax {
			break
		}
		if elapsed < contendMin || c.cur.Load() < int64(c.n) {
			continue
		}
		if c.target == 0 {
			break
		}
		for done < c.n && c.shards(done) >= c.target {
			done++
		}
		if done == c.n {
			break
		}
	}
	c.quit.Store(true)
	c.wg.Wait()
}

// warmThreads makes the runtime start at least n threads, which it keeps
// for later (idle threads are never freed): n goroutines lock a thread
// each, all at the same time, and unlock it.
func warmThreads(n int) {
	var locked, done sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		locked.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
	done.Wait()
}
