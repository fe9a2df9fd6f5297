package scope

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/listener"
)

// Unlisten stops the listener of h, as h.Stop does, then waits until no
// call of it is running and returns nil. After a nil return the listener's
// Func is not running and will never run again, so its owner may release
// what the Func touches; h's State is Stopped and its Done is closed.
// Unlisten of a listener that is already stopping or stopped waits for
// the same drain and returns nil once it is done.
//
// To know that, Unlisten may have to wait for every Dispatch of the Scope
// that was running when it began, not only for the calls of this
// listener: a slow or blocked listener delays every Unlisten of its Scope,
// unless the Scope was made WithIsolation. Concurrent Unlistens share that
// wait. If no Dispatch is running when Unlisten stops the listener
// (WithIsolation: no call of this listener), Unlisten finishes it at once,
// starting no goroutine.
//
// If ctx ends first, Unlisten returns an error for which
// errors.Is(err, ctx.Err()) holds, naming the listeners whose calls still
// held the drain up; the listener stays removed, and its Done closes when
// the drain completes in the background. A panic from ctx's methods or
// from the stall report (WithStallWarning) reaches the caller and leaves
// the same state: the Scope stays usable. If h is nil or zero, or was
// returned by another Scope, Unlisten returns an error wrapping
// ErrUnknownHandle and leaves h untouched. Unlisten panics if ctx is nil,
// before it changes anything.
//
// Never call Unlisten from inside a call of this Scope: it would wait for
// itself (see ErrSelfWait). A race-enabled build stops the listener, as
// Stop would, and returns an error wrapping ErrSelfWait at once; other
// builds wait until ctx ends.
func (s *Scope[E]) Unlisten(ctx context.Context, h *listener.Handle) error {
	if ctx == nil {
		panic("scope: Unlisten: nil Context")
	}
	since := snapshotsBegun()
	c, err := s.own(h)
	if err != nil {
		return err
	}
	defer s.ep.Nudge() // see rcu.Domain.Nudge: a writer that returns leaves one
	won, drain := s.stop(c)
	if s.selfWait(c, won) {
		if drain {
			s.goDrain(c)
		}
		return s.selfWaitError(opUnlisten, c)
	}
	// The Handle's Stop would start a goroutine to drain c; here the
	// caller drains itself when nobody else is draining. With a stall
	// warning it waits instead, so that the report comes from the waiting
	// goroutine while the drain runs elsewhere.
	if drain {
		if s.warn != nil {
			s.goDrain(c)
		} else if err := s.drainHere(ctx, c); err != nil {
			return s.waitError(ctx, opUnlisten, c, since)
		}
	}
	if c.State.Load() == handle.Stopped {
		return nil
	}
	return s.wait(ctx, opUnlisten, c, since)
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
	defer s.ep.Nudge()
	return s.wait(ctx, opWait, c, snapshotsBegun())
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
// ErrClosed, and waits until no call of any listener is running, then
// returns nil; every listener registered before Close is then Stopped,
// its Done closed. Dispatch after Close returns Defer. Close may be
// called more than once and from several goroutines; every call waits for
// the same drains.
//
// If ctx ends first, Close returns an error for which
// errors.Is(err, ctx.Err()) holds, naming the listeners whose calls still
// held it up; the Scope stays closed and the drains complete in the
// background, closing every Handle's Done. A panic from ctx's methods or
// from the stall report reaches the caller and leaves the same state.
// Close panics if ctx is nil, before it changes anything.
//
// Never call Close from inside a call of this Scope: it would wait for
// itself (see ErrSelfWait). A race-enabled build closes the Scope and
// stops every listener, then returns an error wrapping ErrSelfWait at
// once; other builds wait until ctx ends.
func (s *Scope[E]) Close(ctx context.Context) error {
	if ctx == nil {
		panic("scope: Close: nil Context")
	}
	since := snapshotsBegun()
	s.mustBeMade()
	defer s.ep.Nudge()
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
	s.finishPendingIfQuiescentLocked()
	drainer := s.claimDrainLocked()
	s.mu.Unlock()

	selfWait := s.selfWait(nil, stopped)
	// Isolated listeners drain concurrently, each on its own, so that
	// one's slow call delays no other's Done. One with no call running
	// drains at once, without a goroutine.
	for _, c := range iso {
		if selfWait {
			s.goDrain(c)
		} else {
			_ = s.drainIsolated(doneContext, c) // hands over to a goroutine if busy
		}
	}
	if drainer {
		if selfWait || s.warn != nil {
			s.goDrain(nil)
		} else if err := s.drainShared(ctx, nil); err != nil {
			return s.waitError(ctx, opClose, nil, since)
		}
	}
	if selfWait {
		return s.selfWaitError(opClose, nil)
	}
	return s.wait(ctx, opClose, nil, since)
}

// doneContext is a context that has ended: a grace period under it
// returns nil only if it has nothing to wait for.
var doneContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// A waiter is a goroutine blocked in Unlisten, Handle.Wait or Close until
// a drain finishes what it waits for: listener c (Stopped), or, for Close
// (c nil), every drain of the Scope.
//
// Its channel is made by the waiting goroutine for this one wait and
// closed by the drain that ends it, under the Scope's mu. Rejected
// alternatives: waiting on the Handle's Done, or on a channel kept in
// the Scope. Either outlives the wait that made it, and a channel
// belongs to the testing/synctest bubble of the goroutine that made it:
// a Scope or Handle used first inside a bubble would then be unusable
// outside it (touching a bubble's channel from outside is a fatal
// error), and a wait in a bubble on a channel made outside it does not
// count as blocked, so the bubble's fake clock could not reach the
// wait's deadline.
//
// The waiters form a list through next, under mu: a Scope pays one word
// for them while none waits.
type waiter struct {
	c    *handle.Core
	ch   chan struct{}
	next *waiter
}

// doneLocked reports whether what w waits for is done.
func (s *Scope[E]) doneLocked(c *handle.Core) bool {
	if c == nil {
		return s.drains == 0 && len(s.pending) == 0
	}
	return c.State.Load() == handle.Stopped
}

// wakeLocked closes the channels of the waiters whose wait is over and
// forgets them. The woken goroutines want a processor, which a reader
// that never blocks may be keeping (GOMAXPROCS 1 is the common case in
// containers): the readers are nudged (rcu.Domain.Nudge).
func (s *Scope[E]) wakeLocked() {
	woken := false
	for p := &s.waiters; *p != nil; {
		if w := *p; s.doneLocked(w.c) {
			close(w.ch)
			*p, w.next = w.next, nil
			woken = true
		} else {
			p = &w.next
		}
	}
	if woken {
		s.ep.Nudge()
	}
}

// wait blocks until what c is waited for is done (c nil: every drain of
// the Scope) or ctx ends, reporting a stall once if the Scope has a stall
// warning. since is the snapshot count when the waiting began, for the
// error's and the report's culprits (culprits). A panic from ctx's
// methods or from the stall report leaves the waiter unregistered.
func (s *Scope[E]) wait(ctx context.Context, op string, c *handle.Core, since uint64) error {
	ctxDone := ctx.Done() // the caller's code: called before anything is held
	s.mu.Lock()
	if s.doneLocked(c) {
		s.mu.Unlock()
		return nil
	}
	w := &waiter{c: c, ch: make(chan struct{}), next: s.waiters}
	s.waiters = w
	s.mu.Unlock()
	defer s.forget(w)

	var stall <-chan time.Time
	start := time.Now()
	if s.warn != nil {
		t := time.NewTimer(s.warn.after)
		defer t.Stop()
		stall = t.C
	}
	for {
		select {
		case <-w.ch:
			return nil
		case <-stall:
			stall = nil
			s.warn.report(s.stall(c, time.Since(start), since))
		case <-ctxDone:
			return s.waitError(ctx, op, c, since)
		}
	}
}

// forget unregisters w, unless a drain has woken it, which did.
func (s *Scope[E]) forget(w *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := &s.waiters; *p != nil; p = &(*p).next {
		if *p == w {
			*p, w.next = w.next, nil
			return
		}
	}
}

// The waits, as their errors name them: a format of the listener's name
// and the Scope's (Close: of the Scope's alone).
const (
	opUnlisten = "unlisten %q from %q"
	opWait     = "wait for %q of %q"
	opClose    = "close %q"
)

// waitError is the error of a wait whose ctx ended: what waited, for
// what, and who held it up.
func (s *Scope[E]) waitError(ctx context.Context, op string, c *handle.Core, since uint64) error {
	what := s.what(op, c)
	if held := s.culprits(c, since); len(held) > 0 {
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
