package listener

import (
	"context"
	"strconv"

	"github.com/quiesce/quiesce/internal/handle"
)

func init() {
	handle.Of = func(h any) *handle.Core { return &h.(*Handle).c }
}

// A Handle is the owner's grip on one registered listener, returned by
// scope.Scope.Listen. All its methods are safe to call from any goroutine,
// at any time, including from inside the listener's own Func. A Handle
// must not be copied; a zero Handle is not one that Listen returned, and
// its methods panic.
//
// In the terminology of the Go memory model, the return of every
// invocation of the listener "synchronizes before" the close of Done, and
// so before any State call that returns Stopped and any Wait that returns
// nil.
type Handle struct {
	c handle.Core
}

func (h *Handle) core() *handle.Core {
	if h == nil || h.c.Owner == nil {
		panic("listener: use of a nil Handle or one not returned by Listen")
	}
	return &h.c
}

// Name returns the name the listener was registered with.
func (h *Handle) Name() string { return h.core().Name }

// State returns the listener's current state. The answer may be stale as
// soon as it returns, except Stopped, which is final.
func (h *Handle) State() State { return State(h.core().Observed()) }

// Done returns a channel that is closed when the listener reaches Stopped:
// after Stop, once every invocation that had already begun has returned.
func (h *Handle) Done() <-chan struct{} { return h.core().Done() }

// Wait waits until the listener is Stopped (Done is closed) and returns
// nil. It does not stop the listener: call Stop first, or use
// scope.Scope.Unlisten, which does both.
//
// Wait has Unlisten's error contract: if ctx ends first it returns an
// error for which errors.Is(err, ctx.Err()) holds, naming the listeners
// whose calls still hold the drain up; called inside a call of the
// listener's own scope (in a race-enabled build, see scope.ErrSelfWait)
// it returns an error wrapping scope.ErrSelfWait at once, unless the
// listener is already Stopped.
func (h *Handle) Wait(ctx context.Context) error {
	c := h.core()
	if ctx == nil {
		panic("listener: Wait: nil Context")
	}
	return c.Owner.WaitCore(ctx, c)
}

// Stop removes the listener without waiting: once Stop returns, no new
// invocation of the listener starts, though invocations that began before
// may still be running. The scope then waits for those in the background
// and closes Done when they have all returned. Stop returns true only for
// the one call that moved the listener out of Active; every other call,
// concurrent or later, returns false.
//
// Stop never waits for invocations (it may wait briefly for the scope's
// internal lock, never held while a listener runs), so a listener may
// stop itself from inside its Func; using Stop's result, a one-shot
// listener acts exactly once even when several events reach it at the
// same time (see the scope package's ListenSelf example).
func (h *Handle) Stop() bool {
	c := h.core()
	return c.Owner.StopCore(c)
}

// String returns the listener's name and state, for logs.
func (h *Handle) String() string {
	if h == nil || h.c.Owner == nil {
		return "listener.Handle(nil)"
	}
	return "listener " + strconv.Quote(h.c.Name) + " (" + h.State().String() + ")"
}
