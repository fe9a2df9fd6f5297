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
// scope.Scope.Listen. Its methods are safe to call from any goroutine at
// any time, and all but Wait also from inside the listener's own Func,
// where Wait would wait for itself (see Wait). A Handle must not be
// copied; a zero Handle is not one that Listen returned, and its methods
// other than String panic.
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
// soon as it returns, except Stopped, which is final. State reports
// Stopped as soon as Done is closed, and Done is closed whenever State
// reports Stopped. State waits for nothing but one step of another
// goroutine: called while that goroutine is finishing the listener
// (between the close of Done and the record of Stopped, a few
// instructions), it yields the processor until the step is done.
func (h *Handle) State() State { return State(h.core().Observed()) }

// Done returns a channel that is closed when the listener reaches Stopped:
// after it has been stopped (by Stop, Unlisten or Close), once every
// invocation that had already begun has returned.
//
// Unless the listener is Stopped already, the channel is made by the first
// call of Done. Made inside a testing/synctest bubble, it belongs to that
// bubble: the listener must then be stopped and finished by goroutines of
// the same bubble, since closing a bubble's channel from outside it is a
// fatal error of the runtime.
func (h *Handle) Done() <-chan struct{} { return h.core().Done() }

// Wait waits until the listener is Stopped, then returns nil; Done is
// closed by then. It does not stop the listener: call Stop first, or use
// scope.Scope.Unlisten, which does both.
//
// Wait has Unlisten's error contract: if ctx ends first it returns an
// error for which errors.Is(err, ctx.Err()) holds, naming the listeners
// whose calls still hold the drain up, and a panic from ctx's methods or
// from the scope's stall report reaches the caller and leaves the listener
// as it was. Wait panics if ctx is nil.
//
// Never call Wait from inside a call of the listener's own scope (with
// scope.WithIsolation: from inside a call of this listener) unless the
// listener is already Stopped: it would wait for itself. Builds with the
// race detector return an error wrapping scope.ErrSelfWait at once; others
// wait until ctx ends.
func (h *Handle) Wait(ctx context.Context) error {
	c := h.core()
	if ctx == nil {
		panic("listener: Wait: nil Context")
	}
	return c.Owner.WaitCore(ctx, c)
}

// Stop removes the listener without waiting: once Stop returns, no new
// invocation of the listener starts, though invocations that began before
// may still be running. If none can be (no Dispatch of the scope is
// running; with scope.WithIsolation, no call of this listener), Stop
// finishes the listener at once: when it returns, State is Stopped and
// Done is closed. Otherwise the scope waits for those invocations in the
// background and closes Done when they have all returned. Stop returns
// true only for the one call that moved the listener out of Active; every
// other call, concurrent or later, returns false, and so do all of them if
// Unlisten or Close moved it first.
//
// Stop never waits for invocations (it may wait briefly for the scope's
// internal lock, never held while a listener runs), so it is how a
// listener stops itself from inside its Func. Using Stop's result, a
// one-shot listener acts exactly once even when several events reach it at
// the same time (see the scope package's ListenSelf example).
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
