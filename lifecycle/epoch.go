package lifecycle

import (
	"context"
	"runtime"
	"sync"
	"unsafe"

	"go.uber.org/atomic"
)

// cacheLine is the padding unit that keeps shards apart. 128 bytes covers
// the 64-byte line of x86 together with its adjacent-line prefetcher, and
// the 128-byte lines of some arm64 and ppc64 cores.
const cacheLine = 128

// shard holds one processor's share of the read-side counters: one
// counts per index. Every Enter adds to enter of the counts it picked and
// the matching Exit adds to exit of the same counts, so in the common case
// one core writes one line and nobody else writes it.
//
// The counters only ever grow. Rejected alternative: a single up/down
// counter per index (Enter +1, Exit -1) is cheaper to sum, but then a
// reader that exits on another shard than it entered on makes one shard go
// negative and another positive, and a writer summing shard by shard can
// see a transient zero while a reader is inside. With separate monotonic
// counts, summing every exit count before any enter count makes each
// counted exit's enter counted too, so equality really means "everyone
// counted has left".
type shard struct {
	c [2]counts
	// padding to prevent false sharing between shards.
	_ [cacheLine - 2*unsafe.Sizeof(counts{})]byte
}

// counts is one index's pair of counters on one shard. The uint64 counters
// come first: the shards slice is allocated on its own and counts is a
// multiple of 8 bytes, so they are 8-byte aligned even on 32-bit
// platforms, where 64-bit atomics require it.
type counts struct {
	enter atomic.Uint64
	exit  atomic.Uint64
	bit   uint32 // 1<<index: the waiting bit that concerns these counters
	_     uint32
}

// An Epoch is a read-side protection domain in the style of RCU (precisely,
// of Linux's sleepable RCU). Readers bracket their critical sections with
// Enter and Exit; Synchronize waits until every critical section that began
// before it has ended. The typical use is to retire an object that readers
// may still hold:
//
//	r := e.Enter()
//	p := ptr.Load() // readers load the shared pointer inside the section
//	use(p)
//	r.Exit()
//
//	// writer
//	old := ptr.Swap(replacement)
//	if err := e.Synchronize(ctx); err == nil {
//		release(old) // no reader can still be using old
//	}
//
// Enter and Exit take no lock, allocate nothing and write only to a
// cache line of the processor they run on (see the package doc for how the
// line is chosen). Critical sections may nest and may block; a reader that
// blocks forever delays every Synchronize forever (Synchronize's context
// bounds the wait).
//
// Enter, Exit and Synchronize are safe to call from any number of
// goroutines at once. Calling Synchronize inside a critical section of the
// same Epoch, on the same goroutine or one the section waits for,
// deadlocks until Synchronize's context ends.
//
// An Epoch must be created with NewEpoch and must not be copied after
// first use.
//
// In the terminology of the Go memory model, the Exit of every Ref whose
// Enter happened before a call to Synchronize "synchronizes before" the
// return of that Synchronize with a nil error; so does everything the
// reader did inside its critical section. Conversely, a reader that a
// Synchronize does not wait for observes, in the atomic loads it makes
// after Enter, every atomic store sequenced before that Synchronize call:
// this is what makes "replace the pointer, Synchronize, release the old
// value" safe.
type Epoch struct {
	// Read by every Enter and Exit, written only by grace periods, so the
	// line stays shared-clean in every core's cache. Kept apart from the
	// writer state below: Synchronize callers take mu on every call, and a
	// write there must not invalidate the line readers load.
	idx     atomic.Uint32 // current index, 0 or 1
	waiting atomic.Uint32 // bit i set: a grace period sleeps until index i drains
	mask    int           // len(shards)-1; len is a power of two
	shards  []shard
	wake    chan struct{} // capacity 1: a pending wake-up for the waiter

	// padding to keep the writer state off the readers' line.
	_ [cacheLine]byte

	mu        sync.Mutex
	running   bool          // a goroutine is running grace periods
	completed uint64        // grace periods completed
	waiters   int           // callers blocked in Synchronize, not running
	done      chan struct{} // closed, then replaced, whenever completed grows or the runner leaves
}

// A Ref is the receipt for one Enter (or successful Guard.TryEnter). Call
// its Exit method exactly once to end the critical section; Exit may run
// on another goroutine than the one that entered, and the Ref may be
// copied freely in between. A zero Ref is not a receipt: its Exit panics.
type Ref struct {
	c *counts // the shard and index Enter counted on
	e *Epoch
}

// NewEpoch returns a new Epoch with no readers inside. It allocates one
// padded shard per processor (rounded up to a power of two); it starts no
// goroutine, neither now nor later: grace periods run on the goroutines
// that call Synchronize.
func NewEpoch() *Epoch {
	e := &Epoch{}
	e.init()
	return e
}

func (e *Epoch) init() {
	n := runtime.GOMAXPROCS(0)
	if c := runtime.NumCPU(); c > n {
		n = c
	}
	size := 1
	for size < n {
		size <<= 1
	}
	e.shards = make([]shard, size)
	for i := range e.shards {
		e.shards[i].c[0].bit = 1 << 0
		e.shards[i].c[1].bit = 1 << 1
	}
	e.mask = size - 1
	e.wake = make(chan struct{}, 1)
	e.done = make(chan struct{})
}

// Enter begins a read-side critical section and returns its receipt. It
// never blocks, takes no lock and allocates nothing. Sections nest: a
// goroutine may Enter again before it exits.
func (e *Epoch) Enter() Ref {
	j := shardHint() & e.mask
	shardDone()
	if j >= len(e.shards) { // also proves the index below in bounds
		panicZeroEpoch()
	}
	s := &e.shards[j]
	// The index may flip between this load and the increment below. That
	// is allowed: a reader counted late on the old index is one the next
	// grace period's first wait (on the then-inactive index) catches, and
	// the increment still happens before this reader loads anything it
	// protects, which is all safety needs (docs/design.md).
	i := e.idx.Load() & 1
	c := &s.c[i]
	c.enter.Inc()
	return Ref{c: c, e: e}
}

// Exit ends the critical section begun by the Enter that returned r.
//
// Exit panics with a message starting "lifecycle: " when r is the zero Ref,
// and when it finds more exits than enters on r's shard and index, which
// a second Exit of the same Ref causes whenever no other reader is inside
// on that shard (while others are, the excess cannot be told from their
// exits: exit every Ref exactly once).
func (r Ref) Exit() {
	// Written to fit the inliner's budget (cost 78 of 80; .ci/run fails
	// if it stops fitting), so that callers pay no call for Exit: no
	// calls, panics of prebuilt values, and a Ref that carries its
	// counters and Epoch directly. A version with a (shard, index) Ref and
	// an outlined slow path cost 114.
	c := r.c
	if c == nil {
		panic(errZeroRef)
	}
	if c.exit.Inc() > c.enter.Load() {
		c.exit.Dec() // keep the counts balanced for the other readers
		panic(errDoubleExit)
	}
	// The waiter announces itself before its last check of the counters
	// and we count our exit before loading its bit; both are sequentially
	// consistent, so either it sees our exit or we see its bit. The load
	// costs nothing while no grace period sleeps.
	if r.e.waiting.Load()&c.bit != 0 {
		r.e.wakeWaiter()
	}
}

func (e *Epoch) wakeWaiter() {
	select {
	case e.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Synchronize waits until every critical section of e that began before
// the call has ended, then returns nil. It may also wait for sections that
// began after the call, but only for those that began before the grace
// period serving it flipped the index: sections that begin after the
// flip do not delay it, so a steady stream of new readers cannot starve
// it.
//
// Concurrent calls share grace periods: a call that arrives while a grace
// period is running is served by the next one, together with every other
// call that arrived meanwhile, so N concurrent callers cost about two
// grace periods, not N. The grace period runs on a calling goroutine;
// Synchronize starts no goroutine.
//
// If ctx ends first, Synchronize returns an error for which
// errors.Is(err, ctx.Err()) holds, and nothing is left behind: the epoch
// stays usable, and any partial grace period is either finished by
// another caller or started over by the next. Even when ctx is already
// done, Synchronize may return nil if no reader is inside.
//
// Synchronize must not be called from inside a critical section of e
// (see Epoch).
func (e *Epoch) Synchronize(ctx context.Context) error {
	e.mu.Lock()
	if len(e.shards) == 0 {
		e.mu.Unlock()
		panicZeroEpoch()
	}
	// A grace period that is already running may have started before our
	// caller's critical-section boundary, so it does not count: we need
	// the one after it.
	target := e.completed + 1
	if e.running {
		target++
	}
	for e.completed < target {
		if !e.running {
			e.running = true
			e.mu.Unlock()
			err := e.runGracePeriods(ctx, target)
			e.mu.Lock()
			if err != nil {
				// Give up the runner role and wake the waiters: one of
				// them takes it over if its grace period is still due.
				e.running = false
				e.broadcastLocked()
				e.mu.Unlock()
				return err
			}
			continue
		}
		e.waiters++
		done := e.done
		e.mu.Unlock()
		select {
		case <-done:
			e.mu.Lock()
			e.waiters--
		case <-ctx.Done():
			e.mu.Lock()
			e.waiters--
			e.mu.Unlock()
			return ctx.Err()
		}
	}
	e.mu.Unlock()
	return nil
}

// runGracePeriods runs grace periods until the one numbered target has
// completed, then hands the runner role on: it returns with running
// cleared and the waiters woken, so that one of them runs the next grace
// period if any caller still needs it. Handing on rather than serving
// every waiter keeps the first caller's latency at one or two grace
// periods however many callers queue behind it.
func (e *Epoch) runGracePeriods(ctx context.Context, target uint64) error {
	for {
		if err := e.gracePeriod(ctx); err != nil {
			return err
		}
		e.mu.Lock()
		e.completed++
		finished := e.completed >= target
		if finished {
			e.running = false // a woken waiter takes over if it needs more
		}
		e.broadcastLocked()
		e.mu.Unlock()
		if finished {
			return nil
		}
	}
}

// broadcastLocked wakes every goroutine blocked in Synchronize. With no
// waiter there is nobody to wake, and keeping the channel spares an
// uncontended Synchronize its only allocation.
func (e *Epoch) broadcastLocked() {
	if e.waiters == 0 {
		return
	}
	close(e.done)
	e.done = make(chan struct{})
}

// gracePeriod waits for every reader that entered before it started. Only
// the runner calls it, so idx is written by one goroutine at a time.
//
// Why both waits:
//   - The wait on the inactive index catches readers that loaded idx
//     before the previous flip and incremented the old index after that
//     grace period had checked it. They may have loaded the pointer we
//     are retiring, and nothing else would wait for them. (Skipping this
//     wait is MUTANT_SKIP_FIRST_WAIT of lifecycle/model: Spin
//     finds the failure.)
//   - The flip makes new readers count on the other index, so the second
//     wait only has to outlast readers already there, plus at most one
//     late increment per reader that loaded idx before the flip: it
//     cannot be starved by a stream of new readers. A single index would
//     be safe but could wait forever (MUTANT_SINGLE_INDEX, a liveness
//     failure).
func (e *Epoch) gracePeriod(ctx context.Context) error {
	cur := e.idx.Load()
	if err := e.waitDrained(ctx, cur^1); err != nil {
		return err
	}
	e.idx.Store(cur ^ 1)
	return e.waitDrained(ctx, cur)
}

// Spin, then yield, then park. Spinning answers the common case (readers
// finish within a few hundred nanoseconds) without a trip through the
// scheduler. Yielding lets a reader that shares our processor run before we
// park: a parked waiter woken by that reader would otherwise sit behind it
// on the run queue, which was measured at around 100 µs.
const (
	spinChecks  = 64
	yieldChecks = 8
)

func (e *Epoch) waitDrained(ctx context.Context, i uint32) error {
	for n := 0; n < spinChecks; n++ {
		if e.drained(i) {
			return nil
		}
	}
	for n := 0; n < yieldChecks; n++ {
		runtime.Gosched()
		if e.drained(i) {
			return nil
		}
	}
	// Announce before the final check (see Exit for the other half of
	// this handshake). Only the runner waits, so a plain Store suffices.
	e.waiting.Store(1 << i)
	defer e.waiting.Store(0)
	for !e.drained(i) {
		select {
		case <-e.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// drained reports whether every reader counted on index i has exited. All
// exit counts are read before any enter count: an exit we count happened
// before our enter reads began, so its enter is counted too, and the two
// sums can be equal only if every reader counted by the enter sum has
// exited. Reading enters first lets a reader that enters and exits
// between the two reads pair its exit with an earlier reader's enter
// (MUTANT_ENTERS_FIRST of lifecycle/model).
func (e *Epoch) drained(i uint32) bool {
	var exits, enters uint64
	for k := range e.shards {
		exits += e.shards[k].c[i].exit.Load()
	}
	for k := range e.shards {
		enters += e.shards[k].c[i].enter.Load()
	}
	return exits == enters
}

// Inside returns the number of critical sections of e that have entered
// and not yet exited, as seen by a sum over the counters: a snapshot for
// diagnostics (such as stall reports), possibly stale by the time it
// returns, and never used to decide anything.
func (e *Epoch) Inside() int {
	var exits, enters uint64
	for k := range e.shards {
		s := &e.shards[k]
		exits += s.c[0].exit.Load() + s.c[1].exit.Load()
	}
	for k := range e.shards {
		s := &e.shards[k]
		enters += s.c[0].enter.Load() + s.c[1].enter.Load()
	}
	return int(enters - exits)
}

// panicZeroEpoch lives in a function of its own to keep Enter small.

//go:noinline
func panicZeroEpoch() {
	panic("lifecycle: use of an Epoch or Guard not created by NewEpoch or NewGuard")
}

// The panic values of Exit are strings in variables rather than calls to
// panicking functions: a call would cost Exit its inlining.
var (
	errZeroRef    any = "lifecycle: Exit of a zero Ref (one not returned by Enter or a successful TryEnter)"
	errDoubleExit any = "lifecycle: Ref exited more times than it was entered"
)
