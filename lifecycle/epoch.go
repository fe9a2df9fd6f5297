package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/internal/selfwait"
)

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
// Enter and Exit never wait for Synchronize, and in the common case write
// only a counter that no other processor writes (see Enter for the
// exceptions). Critical sections may nest and may block; a reader that
// blocks forever delays every Synchronize forever (Synchronize's context
// bounds the wait).
//
// Enter, Exit and Synchronize are safe to call from any number of
// goroutines at once. Calling Synchronize inside a critical section of the
// same Epoch, on the same goroutine or on one the section waits for, can
// never succeed: see ErrSelfWait.
//
// The zero Epoch is ready to use. An Epoch must not be copied after first
// use. It costs one 128-byte block until readers on two processors collide
// on it; from then on, one more 128-byte shard for each processor that
// enters it, and a table of GOMAXPROCS pointers.
//
// In the terminology of the Go memory model, the Exit of every Ref whose
// Enter happened before a call to Synchronize "synchronizes before" the
// return of that Synchronize with a nil error, so everything the reader
// did inside its critical section happens before that return.
// Conversely, a reader that a Synchronize does not wait for observes, in
// the atomic loads it makes after Enter, every atomic store sequenced
// before that Synchronize call: this is what makes "replace the pointer,
// Synchronize, release the old value" safe.
type Epoch struct {
	dbg selfwait.Tracker // self-wait bookkeeping; empty without the race detector
	d   rcu.Domain
	// padding to a whole line, so that two Epochs allocated next to each
	// other never share one.
	_ [(rcu.CacheLine - unsafe.Sizeof(rcu.Domain{})%rcu.CacheLine) % rcu.CacheLine]byte
}

// A Ref is the receipt for one Enter (or successful Guard.TryEnter). Call
// its Exit method exactly once to end the critical section; Exit may run
// on another goroutine than the one that entered, and the Ref may be
// copied freely in between. A zero Ref is not a receipt: its Exit panics.
type Ref struct {
	g selfwait.G  // who entered, with the race detector; empty otherwise
	c *rcu.Counts // the counter pair Enter counted on
	d *rcu.Domain
}

// NewEpoch returns a new Epoch with no readers inside; new(Epoch) is the
// same. It starts no goroutine, neither now nor later: grace periods run
// on the goroutines that call Synchronize.
func NewEpoch() *Epoch {
	return new(Epoch)
}

// Enter begins a read-side critical section and returns its receipt.
// Sections nest: a goroutine may Enter again before it exits.
//
// Enter never waits for Synchronize. It takes no lock and allocates
// nothing, except that the first Enter on each processor after readers
// have collided makes that processor's shard, under a lock held for a few
// stores (see Memory in the package doc); the quiesce_portable build may
// also allocate after a garbage collection, and race-enabled builds add
// self-wait bookkeeping. Enter may yield its processor once
// (runtime.Gosched) before it enters: after a Synchronize that had to wait
// has returned or woken other callers, and, for a bounded time, while a
// Synchronize waits for readers still inside. With few processors this
// lets the writer run without waiting for the end of the reader's time
// slice.
func (e *Epoch) Enter() Ref {
	return Ref{g: e.dbg.Enter(nil), c: e.d.Enter(), d: &e.d}
}

// Exit ends the critical section begun by the Enter that returned r.
//
// Exit panics with a message starting "lifecycle: " when r is the zero Ref,
// and when it finds more exits than enters on r's counters, which a second
// Exit of the same Ref causes whenever no other reader is inside on them
// (while others are, the excess cannot be told from their exits: exit
// every Ref exactly once).
func (r Ref) Exit() {
	// Written to fit the inliner's budget (.ci/run fails if it stops
	// fitting), so that callers pay no call for Exit: panics of prebuilt
	// values, and a Ref that carries its counters and Domain directly.
	c := r.c
	if c == nil {
		panic(errZeroRef)
	}
	// A reader inside has its enter counted and its exit not, so it
	// always finds exits < enters, whatever other readers do between the
	// two loads (enters only grow). Checking before counting keeps the
	// counts balanced when the check fails.
	if c.Exit.Load() >= c.Enter.Load() {
		panic(errDoubleExit)
	}
	c.Exit.Add(1)
	r.d.Wake(c)
	r.g.Exit()
}

// Synchronize waits until every critical section of e that began before
// the call has ended, then returns nil. With no section in progress, it
// returns nil after one pass over the counters, even if ctx has ended.
// Sections that begin during the call may delay it too, but a steady
// stream of new readers cannot starve it.
//
// Concurrent calls share grace periods: N concurrent callers cost about
// two grace periods, not N. The wait runs on a calling goroutine;
// Synchronize starts no goroutine.
//
// If ctx ends first, Synchronize returns an error for which
// errors.Is(err, ctx.Err()) holds, and leaves nothing behind: the Epoch
// stays usable. A panic from ctx's methods reaches the caller and leaves
// nothing behind either. Synchronize panics if ctx is nil.
//
// Never call Synchronize from inside a critical section of e that the
// calling goroutine entered and has not exited: it would wait for itself
// (see ErrSelfWait). A race-enabled build returns an error wrapping
// ErrSelfWait at once; others wait until ctx ends.
func (e *Epoch) Synchronize(ctx context.Context) error {
	if ctx == nil {
		panic("lifecycle: Synchronize: nil Context")
	}
	if selfwait.Enabled && e.dbg.Inside(nil) {
		return errSelfWait("Synchronize")
	}
	return e.d.Synchronize(ctx)
}

// Inside returns the number of critical sections of e that have entered
// and not yet exited, as seen by a sum over the counters: a snapshot for
// diagnostics (such as stall reports), possibly stale by the time it
// returns, and never used to decide anything.
func (e *Epoch) Inside() int {
	return e.d.Inside()
}

// ErrSelfWait is the error of a wait that waits for itself, and so can
// never end: Synchronize called inside a section of the same Epoch, Close
// inside a section of the same Guard (and, in package scope, Unlisten,
// Close or Handle.Wait inside a call of the same Scope: scope.ErrSelfWait
// is this same value). Exit the section first; a listener stops itself
// with its Handle's Stop, which does not wait for calls to return.
//
// Only builds with the race detector (go test -race, the race build tag)
// detect a self-wait, and there the call returns an error wrapping
// ErrSelfWait at once, leaving nothing behind (a Guard stays closed);
// other builds wait until the context ends (docs/design.md, §3.9, says
// why). A section belongs to the goroutine that entered it until its Ref
// exits: a goroutine that hands its Ref to another and then synchronizes
// is reported too, although the other goroutine may exit it. No build
// detects a wait through another goroutine.
var ErrSelfWait = errors.New("lifecycle: wait from inside a section it waits for")

func errSelfWait(op string) error {
	return fmt.Errorf("lifecycle: %s from inside a section it would wait for: %w", op, ErrSelfWait)
}

// The panic values of Exit are strings in variables rather than calls to
// panicking functions: a call would cost Exit its inlining.
var (
	errZeroRef    any = "lifecycle: Exit of a zero Ref (one not returned by Enter or a successful TryEnter)"
	errDoubleExit any = "lifecycle: Ref exited more times than it was entered"
)
