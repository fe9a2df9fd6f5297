package lifecycle

import (
	"context"
	"unsafe"

	"go.uber.org/atomic"

	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/internal/selfwait"
)

// A Guard is rundown protection: the correct version of the "enabled" flag
// that callbacks check before touching their owner's state. A caller that
// gets in with TryEnter may use the protected object until it calls Exit on
// the returned Ref; Close refuses new entries at once and then waits for
// every caller already inside, after which the object can be released.
//
//	if r, ok := g.TryEnter(); ok {
//		defer r.Exit()
//		use(obj)
//	}
//
//	// owner, at teardown
//	if err := g.Close(ctx); err == nil {
//		release(obj)
//	}
//
// A plain flag fails because checking it and using the object are two
// steps: teardown can clear the flag and release the object between them.
// Here the entry is counted before the flag is checked, so Close sees every
// caller that found the guard open.
//
// TryEnter, Exit, Close and Closed are safe to call from any number of
// goroutines at once. TryEnter and Exit never wait for Close, and cost
// about what Epoch.Enter and Ref.Exit cost (docs/benchmarks.md, "Enter
// and Exit").
// The zero Guard is open and ready to use; a Guard must not be copied
// after first use. Its memory is an Epoch's: one 128-byte block until
// callers on two processors collide. Calling Close inside a section the
// Guard protects can never succeed: see ErrSelfWait.
//
// In the terminology of the Go memory model, the Exit of every Ref handed
// out by TryEnter "synchronizes before" the return of any Close that
// returns nil.
type Guard struct {
	guardFields
	// padding to a whole line, as for Epoch (never zero: a zero-size
	// field at the end of a struct would be padded itself).
	_ [(rcu.CacheLine - unsafe.Sizeof(guardFields{})%rcu.CacheLine) % rcu.CacheLine]byte
}

type guardFields struct {
	dbg    selfwait.Tracker // self-wait bookkeeping; empty without the race detector
	d      rcu.Domain
	closed atomic.Bool
}

// NewGuard returns an open Guard; new(Guard) is the same.
func NewGuard() *Guard {
	return new(Guard)
}

// TryEnter enters the guard and returns the Ref to exit it with, or
// returns false once Close has begun. It never waits for Close; like
// Epoch.Enter, it may make its processor's shard or yield its processor
// once.
func (g *Guard) TryEnter() (Ref, bool) {
	// The first check keeps callers that arrive after Close from touching
	// the counters at all; the second is the one that matters: it comes
	// after our entry is counted, so a Close that stored the flag before
	// it will find us in its grace period.
	if g.closed.Load() {
		return Ref{}, false
	}
	c := g.d.Enter()
	if g.closed.Load() {
		g.d.Exit(c)
		return Ref{}, false
	}
	return Ref{g: g.dbg.Enter(nil), c: c, d: &g.d}, true
}

// Close makes every later TryEnter fail, then waits until every Ref that
// TryEnter handed out has exited and returns nil. With nobody inside, it
// returns nil after one pass over the counters, even if ctx has ended.
// Close may be called more than once and from several goroutines; each
// call returns nil only once the guard has drained.
//
// If ctx ends first, Close returns an error for which
// errors.Is(err, ctx.Err()) holds. The guard stays closed: entries remain
// refused, and a later Close waits for the callers still inside. A panic
// from ctx's methods leaves the same state. Close panics if ctx is nil,
// before it closes the guard.
//
// Never call Close from inside the guard: it would wait for itself (see
// ErrSelfWait). A race-enabled build closes the guard and returns an error
// wrapping ErrSelfWait at once; others close it and wait until ctx ends.
func (g *Guard) Close(ctx context.Context) error {
	if ctx == nil {
		panic("lifecycle: Guard.Close: nil Context") // before the guard closes
	}
	g.closed.Store(true)
	if selfwait.Enabled && g.dbg.Inside(nil) {
		return errSelfWait("Guard.Close")
	}
	return g.d.Synchronize(ctx)
}

// Closed reports whether Close has begun. A false result can be stale by
// the time the caller reads it; only a successful TryEnter keeps the
// guard's object alive.
func (g *Guard) Closed() bool {
	return g.closed.Load()
}

// Inside returns how many callers are inside the guard: a diagnostic
// snapshot, as for Epoch.Inside.
func (g *Guard) Inside() int {
	return g.d.Inside()
}
