package rcu

import (
	"context"
	"runtime"
	"time"
)

// Synchronize waits until every section of d that began before the call
// has ended, then returns nil; if ctx ends first it returns ctx.Err() and
// leaves nothing behind. See lifecycle.Epoch.Synchronize for the full
// contract, which this implements.
//
// Concurrent calls share grace periods through completed and running,
// kept under mu: a caller that finds no grace period running needs the
// next one to complete (target = completed+1); one that finds one running
// cannot use it, since it may have begun before the caller's boundary,
// and needs the one after (completed+2). The first caller with nobody
// running becomes the runner and runs grace periods on its own goroutine;
// the others sleep on done. (Serving a late caller with the running
// grace period is MUTANT_JOIN_RUNNING_GP of lifecycle/model/epoch.pml
// and MUTANT_JOIN_RUNNING of sync.pml.)
func (d *Domain) Synchronize(ctx context.Context) error {
	d.mu.Lock()
	target := d.completed + 1
	if d.running {
		target++
	}
	for d.completed < target {
		if !d.running {
			d.running = true
			d.mu.Unlock()
			err := d.runGracePeriods(ctx, target)
			d.mu.Lock()
			if err != nil {
				// Give up the runner role and wake the waiters: one of
				// them takes it over if its grace period is still due.
				// (Leaving without the broadcast strands them:
				// MUTANT_NO_HANDOFF_BROADCAST of lifecycle/model/sync.pml;
				// leaving running set is MUTANT_KEEP_RUNNING.)
				d.running = false
				d.broadcastLocked()
				d.mu.Unlock()
				return err
			}
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
		case <-ctx.Done():
			d.mu.Lock()
			d.waiters--
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
// periods however many callers queue behind it.
func (d *Domain) runGracePeriods(ctx context.Context, target uint64) error {
	for {
		if err := d.gracePeriod(ctx); err != nil {
			return err
		}
		d.mu.Lock()
		d.completed++
		finished := d.completed >= target
		if finished {
			d.running = false // a woken waiter takes over if it needs more
		}
		d.broadcastLocked()
		d.mu.Unlock()
		if finished {
			return nil
		}
	}
}

// broadcastLocked wakes every goroutine blocked in Synchronize. With no
// waiter there is nobody to wake, and keeping the channel spares an
// uncontended Synchronize its only allocation.
func (d *Domain) broadcastLocked() {
	if d.waiters == 0 {
		return
	}
	close(d.done)
	d.done = make(chan struct{})
}

// gracePeriod waits for every reader that entered before it started. Only
// the runner calls it, so idx has one writer at a time.
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
	list := buf[:0]
	for s := d.shards.Load(); s != nil; s = s.next {
		list = append(list, s)
	}
	var h hurry
	cur := d.idx.Load() & 1
	err := d.waitDrained(ctx, cur^1, list, &h)
	if err == nil {
		d.setIdx(cur ^ 1)
		err = d.waitDrained(ctx, cur, list, &h)
	}
	h.lower(d)
	return err
}

// setIdx stores the index i with the hurry flag as the runner has it.
func (d *Domain) setIdx(i uint32) {
	if d.hurrying {
		i |= Hurry
	}
	d.idx.Store(i)
}

// The waiter's phases, bounded by time rather than by a number of scans,
// so that a Domain with many shards does not spin longer than one with
// few: spin while readers are likely to leave within a few hundred
// nanoseconds; then raise the hurry flag (see hurry) and yield, which
// lets a reader that shares our processor run before we sleep (a sleeping
// runner woken by that reader would sit behind it on the run queue:
// measured at around 100 µs); then sleep on the wake channel.
const (
	spinFor   = 2 * time.Microsecond
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
// each): an Unlisten was measured at 170 ms; with it, at about 30 µs, as
// with an RWMutex, whose waiting writer parks new readers. Yielding is
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
	for n := 1; ; n++ {
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
// readers. It announces itself before its final check (see Exit for the
// other half of this handshake; MUTANT_EXIT_LOADS_WAITING_FIRST of
// lifecycle/model shows the lost wake-up when Exit loads first).
func (d *Domain) sleepDrained(ctx context.Context, i uint32, list []*Shard, h *hurry) error {
	if d.wake == nil {
		// Made by the runner, which is one goroutine at a time; a reader
		// reads it only after seeing the waiting bit stored below.
		d.wake = make(chan struct{}, 1)
		d.base[0].bit, d.base[1].bit = 1<<0, 1<<1
	}
	d.waiting.Store(1 << i)
	defer d.waiting.Store(0)
	var calm <-chan time.Time
	if d.hurrying {
		t := time.NewTimer(hurryFor - time.Since(h.at))
		defer t.Stop()
		calm = t.C
	}
	for !d.drained(i, list) {
		select {
		case <-d.wake:
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
	exits := d.base[i].Exit.Load()
	for _, s := range list {
		exits += s.c[i].Exit.Load()
	}
	if testHookBetweenSums != nil {
		testHookBetweenSums(i)
	}
	enters := d.base[i].Enter.Load()
	for _, s := range list {
		enters += s.c[i].Enter.Load()
	}
	return exits == enters
}

// testHookBetweenSums, set only by this package's tests, runs between
// drained's two sums: where a reader that enters and exits would pair its
// exit with another reader's enter if the sums were taken the other way
// round (TestDomain_ExitsSummedBeforeEnters).
var testHookBetweenSums func(i uint32)

// State returns whether a goroutine is running grace periods, how many
// callers wait behind it and how many grace periods have completed, so
// that tests can wait for callers to be queued instead of sleeping.
func (d *Domain) State() (running bool, waiters int, completed uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running, int(d.waiters), d.completed
}
