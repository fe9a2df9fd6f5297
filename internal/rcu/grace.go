package rcu

import (
	"context"
	"runtime"
	"time"
)

// Synchronize waits until every section of d that began before the call
// has ended, then returns nil; if ctx ends first it returns ctx.Err() and
// leaves nothing behind. See lifecycle.Epoch.Synchronize for the full
// contract, which this implements. ctx must not be nil (the exported
// callers check it).
//
// The common case costs one pass over the counters: no reader inside
// (Quiescent). Otherwise, concurrent calls share grace periods through
// completed and running, kept under mu: a caller that finds no grace
// period running needs the next one to complete (target = completed+1);
// one that finds one running cannot use it, since it may have begun
// before the caller's boundary, and needs the one after (completed+2).
// The first caller with nobody running becomes the runner and runs grace
// periods on its own goroutine; the others sleep on done. (Serving a late
// caller with the running grace period is MUTANT_JOIN_RUNNING_GP of
// lifecycle/model/epoch.pml and MUTANT_JOIN_RUNNING of sync.pml.)
//
// A panic that leaves Synchronize (one raised by ctx's methods) leaves
// nothing behind either: the runner role is given up and the waiters
// woken as for an error, and a waiter is no longer counted.
func (d *Domain) Synchronize(ctx context.Context) error {
	if d.Quiescent() {
		return nil
	}
	ctxDone := ctx.Done() // before anything is held: it is the caller's code
	defer d.Nudge()       // see Nudge: a writer that returns leaves one
	d.mu.Lock()
	target := d.completed + 1
	if d.running {
		target++
	}
	for d.completed < target {
		if !d.running {
			d.running = true
			d.mu.Unlock()
			if err := d.runGracePeriods(ctx, target); err != nil {
				return err
			}
			d.mu.Lock()
			continue
		}
		if d.done == nil {
			d.done = make(chan struct{})
		}
		d.waiters++
		done := d.done
		d.mu.Unlock()
		select {
		case <-done:
			d.mu.Lock()
			d.waiters--
		case <-ctxDone:
			d.mu.Lock()
			d.waiters--
			if d.waiters == 0 {
				// Nobody waits on done: drop it, so that the next
				// waiter makes its own (a waiter in a synctest bubble
				// must block on a channel of its bubble).
				d.done = nil
			}
			d.mu.Unlock()
			return ctx.Err()
		}
	}
	d.mu.Unlock()
	return nil
}

// runGracePeriods runs grace periods until the one numbered target has
// completed, then hands the runner role on: it returns with running
// cleared and the waiters woken, so that one of them runs the next grace
// period if any caller still needs it. Handing on rather than serving
// every waiter keeps the first caller's latency at one or two grace
// periods however many callers queue behind it. It hands the role on in
// the same way when ctx ends, and when it panics. (Leaving without the
// broadcast strands the waiters: MUTANT_NO_HANDOFF_BROADCAST of
// lifecycle/model/sync.pml; leaving running set is MUTANT_KEEP_RUNNING.)
func (d *Domain) runGracePeriods(ctx context.Context, target uint64) error {
	handedOn := false
	defer func() {
		if !handedOn { // ctx ended, or a panic is on its way up
			d.mu.Lock()
			d.running = false
			d.broadcastLocked()
			d.mu.Unlock()
		}
	}()
	for {
		if err := d.gracePeriod(ctx); err != nil {
			return err
		}
		d.mu.Lock()
		d.completed++
		finished := d.completed >= target
		if finished {
			d.running = false // a woken waiter takes over if it needs more
			handedOn = true
		}
		d.broadcastLocked()
		d.mu.Unlock()
		if finished {
			return nil
		}
	}
}

// broadcastLocked wakes every goroutine blocked in Synchronize, and
// nudges the readers (see Nudge): the woken goroutines want a processor.
// done is dropped, not replaced: the next waiter makes its own.
func (d *Domain) broadcastLocked() {
	if d.done == nil {
		return
	}
	close(d.done)
	d.done = nil
	d.Nudge()
}

// gracePeriod waits for every reader that entered before it started. Only
// the runner calls it, so the index bit and the hurry bit of idx have one
// writer at a time (the nudge bit is raised by writers and lowered by
// readers, each with a compare-and-swap that leaves the other bits).
//
// Why both waits:
//   - The wait on the inactive index catches readers that loaded idx
//     before the previous flip and counted on the old index after that
//     grace period had checked it. They may have loaded the pointer being
//     retired, and nothing else would wait for them
//     (MUTANT_SKIP_FIRST_WAIT of lifecycle/model).
//   - The flip makes new readers count on the other index, so the second
//     wait only has to outlast readers already there, plus at most one
//     late increment per reader that loaded idx before the flip: a stream
//     of new readers cannot starve it. A single index would be safe but
//     could wait forever (MUTANT_SINGLE_INDEX, a liveness failure).
func (d *Domain) gracePeriod(ctx context.Context) error {
	// The shards are listed once, when the grace period begins: a reader
	// whose count comes before that is on a shard already on the list, and
	// one that counts later is not one this grace period must wait for
	// (the default build of lifecycle/model/domain.pml; a list kept from
	// an earlier grace period is MUTANT_LIST_STALE). Copying it into an
	// array spares every check the chase down the linked list, whose loads
	// cannot overlap; up to 64 shards the array lives on the stack.
	var buf [64]*Shard
	list := d.list(buf[:0])
	var h hurry
	defer h.lower(d) // also if ctx's methods panic
	cur := d.idx.Load() & 1
	if err := d.waitDrained(ctx, cur^1, list, &h); err != nil {
		return err
	}
	d.setIdx(cur ^ 1)
	return d.waitDrained(ctx, cur, list, &h)
}

// setIdx stores the index i with the hurry flag as the runner has it,
// keeping the nudge as it is.
func (d *Domain) setIdx(i uint32) {
	if d.hurrying {
		i |= Hurry
	}
	for {
		x := d.idx.Load()
		if d.idx.CompareAndSwap(x, x&Nudge|i) {
			return
		}
	}
}

// The waiter's phases: spin while readers are likely to leave within a
// few hundred nanoseconds; then raise the hurry flag (see hurry) and
// yield, which lets a reader that shares our processor run before we
// sleep (a sleeping runner woken by that reader would sit behind it on
// the run queue for the rest of its time slice); then sleep on a wake
// channel.
//
// Each phase ends after a time or after a number of checks, whichever
// comes first. The time keeps a Domain with many shards, whose checks are
// slow, from spinning longer than one with few; the number ends the
// phase where the clock does not move while a goroutine runs: inside a
// testing/synctest bubble, the clock advances only when every goroutine
// of the bubble is blocked, so a loop that waits for time to pass while
// it spins never ends there.
const (
	spinFor   = 2 * time.Microsecond
	maxSpins  = 256 // checks; a check of a few shards is a few loads
	yieldFor  = 20 * time.Microsecond
	maxYields = 8
	hurryFor  = 200 * time.Microsecond
)

// hurry is one grace period's use of the hurry flag. The flag goes up once
// the spin has not been enough, and while it is up every new reader yields
// once before it enters (EnterSlow). The case it is for is a processor
// shortage: more runnable goroutines than processors, and a reader that
// lost its processor inside its section sitting on a run queue while new
// readers keep the processors busy; so does the runner, whose own yields
// put it at the back of the queue. Without the flag, with goroutines that
// never block, the scheduler gets back to them once per time slice (10 ms
// each), and an Unlisten waits many time slices; with it, about as long
// as with an RWMutex, whose waiting writer parks new readers
// (docs/benchmarks.md, "Unlisten latency"). Yielding is
// all it asks of readers: parking them would make Dispatch wait for
// Unlisten.
//
// The flag comes down after hurryFor even if the grace period goes on:
// readers still inside by then are slow or blocked, not starved, and
// taxing every new reader with a yield would not help them.
type hurry struct {
	raised bool      // this grace period raised the flag
	at     time.Time // when
}

func (h *hurry) raise(d *Domain) {
	if h.raised {
		return
	}
	h.raised, h.at = true, time.Now()
	d.hurrying = true
	d.setIdx(d.idx.Load() & 1)
	if testHookHurry != nil {
		testHookHurry(true)
	}
}

func (h *hurry) lower(d *Domain) {
	if d.hurrying {
		d.hurrying = false
		d.setIdx(d.idx.Load() & 1)
		if testHookHurry != nil {
			testHookHurry(false)
		}
	}
}

// testHookHurry, set only by this package's tests, runs on the runner
// when it raises (true) or lowers (false) the hurry flag: the flag is up
// for at most hurryFor, too short a window to catch by polling.
var testHookHurry func(up bool)

func (d *Domain) waitDrained(ctx context.Context, i uint32, list []*Shard, h *hurry) error {
	if d.drained(i, list) {
		return nil
	}
	if ctx.Err() != nil { // ended already: nothing to wait with
		return ctx.Err()
	}
	start := time.Now()
	for n := 1; n <= maxSpins; n++ {
		if d.drained(i, list) {
			return nil
		}
		if n%8 == 0 && time.Since(start) > spinFor {
			break
		}
	}
	h.raise(d)
	for n := 0; n < maxYields && time.Since(start) < yieldFor; n++ {
		runtime.Gosched()
		if d.drained(i, list) {
			return nil
		}
	}
	return d.sleepDrained(ctx, i, list, h)
}

// sleepDrained sleeps until index i drains, woken by the Exits of its
// readers. It announces itself before its final check (see Wake, which
// Exit calls, for the other half of this handshake;
// MUTANT_EXIT_LOADS_WAITING_FIRST of lifecycle/model shows the lost
// wake-up when Exit loads first).
func (d *Domain) sleepDrained(ctx context.Context, i uint32, list []*Shard, h *hurry) error {
	// The base pairs' bits are written once, by the first runner that
	// sleeps (runners are one goroutine at a time, handed on under mu),
	// and read by a reader only after it has seen a sleep stored after
	// that. Writing them on every sleep would race with a reader of an
	// earlier sleep that is still reading them.
	if d.base[0].bit == 0 {
		d.base[0].bit, d.base[1].bit = 1<<0, 1<<1
	}
	sl := &sleep{wake: make(chan struct{}, 1), bit: 1 << i} // this sleep's: see Domain.sleep
	d.sleep.Store(sl)
	defer d.sleep.Store(nil)
	var calm <-chan time.Time
	if d.hurrying {
		t := time.NewTimer(hurryFor - time.Since(h.at))
		defer t.Stop()
		calm = t.C
	}
	for !d.drained(i, list) {
		select {
		case <-sl.wake:
		case <-calm:
			calm = nil
			h.lower(d)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// drained reports whether every reader counted on index i, on the base
// pair or on a shard of list, has exited. All exit counts are read before
// any enter count: an exit we count happened before our enter reads
// began, so its enter is counted too, and the sums can be equal only if
// every reader counted by the enter sum has exited. Reading enters first
// lets a reader that enters and exits between the two reads pair its exit
// with an earlier reader's enter (MUTANT_ENTERS_FIRST). The base pair is
// always summed: readers counted on it before the Domain had shards still
// exit on it (MUTANT_SKIP_BASE_WHEN_SHARDED).
func (d *Domain) drained(i uint32, list []*Shard) bool {
	exits, enters := d.sums(list, 1<<i)
	return exits == enters
}

// testHookBetweenSums, set only by this package's tests, runs between the
// two sums of sums, with its mask: where a reader that enters and exits
// would pair its exit with another reader's enter if the sums were taken
// the other way round (TestDomain_ExitsSummedBeforeEnters).
var testHookBetweenSums func(mask uint32)

// State returns whether a goroutine is running grace periods, how many
// callers wait behind it and how many grace periods have completed, so
// that tests can wait for callers to be queued instead of sleeping.
func (d *Domain) State() (running bool, waiters int, completed uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running, int(d.waiters), d.completed
}
