package scope

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/listener"
)

// Draining: a stopped listener becomes Stopped (its Done closes) after a
// grace period that began after it left Active. Who runs that grace
// period, and when, is decided here.
//
// Shared epoch (the default): one grace period serves every listener
// stopped before it began, so stopped listeners wait in pending and a
// single drainer at a time takes them in batches: 64 listeners stopping
// at once cost about one grace period, not 64. (A grace period per Stop
// convoys on mu and costs 64.) The drainer is whoever claimed the role: a
// goroutine started by Stop, which runs with a background context until
// nothing is pending, or an Unlisten or Close, which drains on its own
// goroutine (no goroutine to start and none to wake it) with its own ctx.
// An Unlisten stops once its own listener is Stopped and hands any later
// work to a new goroutine, so its latency does not grow with other
// callers' stops; a drainer whose ctx ends puts its batch back and hands
// the role over the same way. drains is 1 while the role is held.
//
// Isolated listeners (WithIsolation): each drains on its own, with a
// grace period of its own domain, on the goroutine of its Unlisten or on
// one started by its Stop, so that no listener's drain waits for another
// one's calls. drains counts them.

// queueLocked queues c, just moved to Stopping, for a drain, and reports
// whether the caller must run one.
func (s *Scope[E]) queueLocked(c *handle.Core) bool {
	if c.Iso != nil {
		s.drains++
		return true
	}
	s.pending = append(s.pending, c)
	return s.claimDrainLocked()
}

// claimDrainLocked makes the caller the shared drainer if there is work
// and no drainer yet.
func (s *Scope[E]) claimDrainLocked() bool {
	if s.drains > 0 || len(s.pending) == 0 {
		return false
	}
	s.drains = 1
	return true
}

// drainBackground runs the drain that stop asked for on the goroutine of
// a Stop (or of an Unlisten that must not block on it).
func (s *Scope[E]) drainBackground(c *handle.Core) {
	if c != nil && c.Iso != nil {
		s.drainIsolated(context.Background(), c)
	} else {
		s.drainShared(context.Background(), nil)
	}
}

// drainHere runs the drain that stop asked for, for c, on the caller's
// goroutine, bounded by ctx.
func (s *Scope[E]) drainHere(ctx context.Context, c *handle.Core) error {
	if c.Iso != nil {
		return s.drainIsolated(ctx, c)
	}
	return s.drainShared(ctx, c)
}

// drainShared is the shared drainer's loop (see above); mine is the
// listener of the Unlisten running it, nil for a background drainer.
func (s *Scope[E]) drainShared(ctx context.Context, mine *handle.Core) error {
	for {
		s.mu.Lock()
		if mine != nil && mine.State.Load() == handle.Stopped && len(s.pending) > 0 {
			go s.drainShared(context.Background(), nil) // the role passes on
			s.mu.Unlock()
			return nil
		}
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 {
			s.drains = 0
			s.idleLocked()
			s.mu.Unlock()
			return nil
		}
		s.dbg.Advance() // Dispatches inside from before now are waited for (selfWait)
		s.mu.Unlock()
		// Every listener in the batch left Active before this grace period
		// began, so a Dispatch that saw one of them Active entered the epoch
		// before it and is waited for. Dispatches after that see them
		// stopped.
		if err := s.ep.Synchronize(ctx); err != nil {
			s.mu.Lock()
			s.pending = append(batch, s.pending...)
			go s.drainShared(context.Background(), nil) // the role passes on
			s.mu.Unlock()
			return err
		}
		s.mu.Lock()
		s.finishLocked(batch...)
		s.mu.Unlock()
	}
}

// drainIsolated waits for the calls of isolated listener c and finishes
// it. If ctx ends first, a background goroutine takes over, so that Done
// still closes.
func (s *Scope[E]) drainIsolated(ctx context.Context, c *handle.Core) error {
	if err := c.Iso.Synchronize(ctx); err != nil {
		go s.drainIsolated(context.Background(), c)
		return err
	}
	s.mu.Lock()
	s.finishLocked(c)
	s.drains--
	s.idleLocked()
	s.mu.Unlock()
	return nil
}

// idleLocked wakes Close's waiters once no drain is left, and lets a
// closed Scope forget the listeners it kept for stall reports.
func (s *Scope[E]) idleLocked() {
	if s.drains > 0 || len(s.pending) > 0 {
		return
	}
	if s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	if t := s.tab.Load(); t.closed && len(t.entries) > 0 {
		s.tab.Store(&table{iso: t.iso, closed: true})
	}
}

// Unlisten stops the listener of h, as h.Stop does, then waits until no
// invocation of it is running and returns nil. After a nil return the
// listener's Func is not running and will never run again, so its owner
// may release what the Func touches. Unlisten of a listener that is
// already stopping or stopped waits for the same drain and returns nil
// once it is done.
//
// If ctx ends first, Unlisten returns an error for which
// errors.Is(err, ctx.Err()) holds, naming the listeners whose calls still
// held the drain up; the listener stays removed, and its Handle's Done is
// still closed when the drain completes. If h is nil or zero, or was
// returned by another Scope, Unlisten returns an error wrapping
// ErrUnknownHandle and leaves h untouched. Called where it can never
// succeed, inside a call of this Scope (see ErrSelfWait), it stops the
// listener, as Stop would, and returns an error wrapping ErrSelfWait at
// once.
//
// Unlisten waits for every Dispatch of the Scope that was running when it
// began, not only the calls of this listener: a slow or blocked listener
// delays every Unlisten of its Scope, unless the Scope was made
// WithIsolation. Concurrent Unlistens share grace periods.
func (s *Scope[E]) Unlisten(ctx context.Context, h *listener.Handle) error {
	c, err := s.own(h)
	if err != nil {
		return err
	}
	won, drain := s.stop(c)
	if s.selfWait(c, won) {
		if drain {
			go s.drainBackground(c)
		}
		return s.selfWaitError(opUnlisten, c)
	}
	// The Handle's Stop would start a goroutine to drain c; here the
	// caller drains itself when nobody else is draining. With a stall
	// warning it waits instead, so that the report comes from the waiting
	// goroutine while the drain runs elsewhere.
	if drain {
		if s.stallReport != nil {
			go s.drainBackground(c)
		} else if err := s.drainHere(ctx, c); err != nil {
			return s.waitError(ctx, opUnlisten, c)
		}
	}
	if c.State.Load() == handle.Stopped {
		return nil
	}
	return s.wait(ctx, opUnlisten, c, c.Done())
}

// WaitCore is Handle.Wait for the listeners of s.
func (o *owner[E]) WaitCore(ctx context.Context, c *handle.Core) error {
	s := (*Scope[E])(o)
	if c.State.Load() == handle.Stopped {
		return nil
	}
	if s.selfWait(c, false) {
		return s.selfWaitError(opWait, c)
	}
	return s.wait(ctx, opWait, c, c.Done())
}

func (s *Scope[E]) own(h *listener.Handle) (*handle.Core, error) {
	s.mustBeMade()
	if h == nil {
		return nil, fmt.Errorf("%w: nil handle", ErrUnknownHandle)
	}
	c := handle.Of(h)
	if c.Owner == nil {
		return nil, fmt.Errorf("%w: zero handle", ErrUnknownHandle)
	}
	if c.Owner != s.asOwner() {
		return nil, fmt.Errorf("%w: listener %q is not registered with scope %q", ErrUnknownHandle, c.Name, s.name)
	}
	return c, nil
}

// Close stops every listener, makes later Listen calls fail with
// ErrClosed, and waits until no invocation of any listener is running,
// then returns nil. Dispatch after Close returns Defer. Close may be called
// more than once and from several goroutines; every call waits for the
// same drains.
//
// If ctx ends first, Close returns an error for which
// errors.Is(err, ctx.Err()) holds, naming the listeners whose calls still
// held it up; the Scope stays closed and the drains complete in the
// background, closing every Handle's Done. Called inside a call of this
// Scope (see ErrSelfWait), Close closes the Scope and stops every
// listener, then returns an error wrapping ErrSelfWait at once.
func (s *Scope[E]) Close(ctx context.Context) error {
	s.mustBeMade()
	s.mu.Lock()
	var iso []*handle.Core
	if t := s.tab.Load(); !t.closed {
		entries := t.entries[:t.n.Load()]
		for _, c := range entries {
			// The Handle's own Stop would take mu: do its work here.
			if c.State.CompareAndSwap(handle.Active, handle.Stopping) {
				s.active.Add(-1)
				if c.Iso != nil {
					s.drains++
					iso = append(iso, c)
				} else {
					s.pending = append(s.pending, c)
				}
			}
		}
		// Keep the listeners that are not Stopped yet where a stall
		// report looks for them, while Dispatch sees none.
		live := make([]*handle.Core, 0, len(entries))
		for _, c := range entries {
			if c.State.Load() != handle.Stopped {
				live = append(live, c)
			}
		}
		s.tab.Store(&table{iso: t.iso, closed: true, entries: live})
	}
	stopped := len(iso) > 0 || len(s.pending) > 0 // grace periods still to begin
	drainer := s.claimDrainLocked()
	var idle chan struct{}
	if s.drains > 0 || len(s.pending) > 0 {
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		idle = s.idle
	}
	s.mu.Unlock()

	selfWait := s.selfWait(nil, stopped)
	// Isolated listeners drain concurrently, each on its own, so that
	// one's slow call delays no other's Done. One with no call running
	// drains at once, without a goroutine.
	for _, c := range iso {
		if selfWait {
			go s.drainIsolated(context.Background(), c)
		} else {
			_ = s.drainIsolated(doneContext, c) // hands over to a goroutine if busy
		}
	}
	if drainer {
		if selfWait || s.stallReport != nil {
			go s.drainShared(context.Background(), nil)
		} else if err := s.drainShared(ctx, nil); err != nil {
			return s.waitError(ctx, opClose, nil)
		}
	}
	if selfWait {
		return s.selfWaitError(opClose, nil)
	}
	if idle == nil {
		return nil
	}
	return s.wait(ctx, opClose, nil, idle)
}

// doneContext is a context that has ended: a grace period under it
// returns nil only if it has nothing to wait for.
var doneContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// The waits, as their errors name them: a format of the listener's name
// and the Scope's (Close: of the Scope's alone).
const (
	opUnlisten = "unlisten %q from %q"
	opWait     = "wait for %q of %q"
	opClose    = "close %q"
)

// wait blocks until done is closed or ctx ends, reporting a stall once if
// the Scope has a stall warning. c is the listener of an Unlisten or
// Handle.Wait, nil for Close.
func (s *Scope[E]) wait(ctx context.Context, op string, c *handle.Core, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	default:
	}
	var stall <-chan time.Time
	start := time.Now()
	if s.stallReport != nil {
		t := time.NewTimer(s.stallAfter)
		defer t.Stop()
		stall = t.C
	}
	for {
		select {
		case <-done:
			return nil
		case <-stall:
			stall = nil
			s.stallReport(s.stall(c, time.Since(start)))
		case <-ctx.Done():
			return s.waitError(ctx, op, c)
		}
	}
}

// waitError is the error of a wait whose ctx ended: what waited, for
// what, and who held it up.
func (s *Scope[E]) waitError(ctx context.Context, op string, c *handle.Core) error {
	what := s.what(op, c)
	if held := s.culprits(c); len(held) > 0 {
		return fmt.Errorf("scope: %s: held up by %s: %w", what, quoteNames(held), ctx.Err())
	}
	return fmt.Errorf("scope: %s: %w", what, ctx.Err())
}

// what names a wait for an error message.
func (s *Scope[E]) what(op string, c *handle.Core) string {
	if c == nil {
		return fmt.Sprintf(op, s.name)
	}
	return fmt.Sprintf(op, c.Name, s.name)
}

// quoteNames lists names for an error message: "a", "b" and "c".
func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return "listener " + q[0]
	}
	return "listeners " + strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
