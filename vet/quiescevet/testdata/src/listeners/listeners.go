// Package listeners holds the self-wait cases of the listener rule:
// Unlisten or Close of a Scope, or Wait on the listener's own Handle,
// inside one of that Scope's listeners.
package listeners

import (
	"context"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

type event struct{}

func unlistenInsideLiteral(s *scope.Scope[event], h *listener.Handle) {
	s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		s.Unlisten(ctx, h) // want `Unlisten of scope s from inside its own listener waits for itself: use the Handle's Stop \(or ListenSelf\) instead`
		return listener.Defer
	})
}

func closeInsideLiteral(s *scope.Scope[event]) {
	s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		_ = s.Close(ctx) // want `Close of scope s from inside its own listener waits for itself`
		return listener.Defer
	})
}

func throughNotify(s *scope.Scope[event], h *listener.Handle) {
	s.Listen("x", listener.Notify(func(ctx context.Context, ev event) {
		s.Unlisten(ctx, h) // want `Unlisten of scope s from inside its own listener`
	}))
	// Notify with its type argument written out.
	s.Listen("y", listener.Notify[event](func(ctx context.Context, ev event) {
		s.Close(ctx) // want `Close of scope s from inside its own listener`
	}))
}

func throughConversionAndVariable(s *scope.Scope[event], h *listener.Handle) {
	s.Listen("x", listener.Func[event](func(ctx context.Context, ev event) listener.Result {
		s.Unlisten(ctx, h) // want `Unlisten of scope s`
		return listener.Defer
	}))
	fn := func(ctx context.Context, ev event) listener.Result {
		s.Unlisten(ctx, h) // want `Unlisten of scope s`
		return listener.Defer
	}
	s.Listen("y", fn)
}

func listenSelfBuildReturns(s *scope.Scope[event]) {
	s.ListenSelf("x", func(self *listener.Handle) listener.Func[event] {
		return func(ctx context.Context, ev event) listener.Result {
			s.Unlisten(ctx, self) // want `Unlisten of scope s from inside its own listener`
			self.Wait(ctx)        // want `Wait on self, the listener's own Handle, from inside the listener waits for itself: call Stop and return, and let the owner Wait`
			return listener.Defer
		}
	})
	s.ListenSelf("y", func(self *listener.Handle) listener.Func[event] {
		return listener.Notify(func(ctx context.Context, ev event) {
			self.Wait(ctx) // want `Wait on self, the listener's own Handle`
		})
	})
}

// A deferred call and a literal called on the spot run on the listener's
// goroutine, before the listener returns.
func deferredAndCalledOnTheSpot(s *scope.Scope[event], h *listener.Handle) {
	s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		defer s.Unlisten(ctx, h)              // want `Unlisten of scope s`
		defer func() { s.Unlisten(ctx, h) }() // want `Unlisten of scope s`
		func() {
			s.Close(ctx) // want `Close of scope s`
		}()
		return listener.Defer
	})
}

type driver struct {
	scope *scope.Scope[event]
	other *scope.Scope[event]
	h     *listener.Handle
}

// The same selector path is the same Scope.
func (d *driver) fieldPath() {
	d.scope.Listen("x", func(ctx context.Context, ev event) listener.Result {
		d.scope.Unlisten(ctx, d.h) // want `Unlisten of scope d.scope from inside its own listener`
		d.other.Unlisten(ctx, d.h) // another Scope: fine
		return listener.Defer
	})
}

// Nothing to report below.

func stopInsideListener(s *scope.Scope[event]) {
	s.ListenSelf("x", func(self *listener.Handle) listener.Func[event] {
		return func(ctx context.Context, ev event) listener.Result {
			self.Stop()
			return listener.Defer
		}
	})
}

func unlistenOfAnotherScope(s, other *scope.Scope[event], h *listener.Handle) {
	s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		other.Unlisten(ctx, h)
		other.Close(ctx)
		return listener.Defer
	})
}

func waitOnAnotherHandle(s *scope.Scope[event], h *listener.Handle) {
	s.ListenSelf("x", func(self *listener.Handle) listener.Func[event] {
		return func(ctx context.Context, ev event) listener.Result {
			h.Wait(ctx)
			return listener.Defer
		}
	})
}

// Waiting on another goroutine does not wait for this call.
func inGoroutine(s *scope.Scope[event], h *listener.Handle) {
	s.ListenSelf("x", func(self *listener.Handle) listener.Func[event] {
		return func(ctx context.Context, ev event) listener.Result {
			self.Stop()
			go s.Unlisten(context.Background(), self)
			go func() { self.Wait(context.Background()) }()
			return listener.Defer
		}
	})
}

// build runs before the listener is published: an Unlisten there returns
// at once (ListenSelf's doc), so only the returned function counts.
func unlistenInBuild(s *scope.Scope[event]) {
	s.ListenSelf("x", func(self *listener.Handle) listener.Func[event] {
		s.Unlisten(context.Background(), self)
		return func(ctx context.Context, ev event) listener.Result { return listener.Defer }
	})
}

// Outside any listener.
func owner(ctx context.Context, s *scope.Scope[event], h *listener.Handle) {
	s.Unlisten(ctx, h)
	h.Wait(ctx)
	s.Close(ctx)
}

// A generic caller: the receiver is a Scope[E] of a type parameter.
func generic[E any](s *scope.Scope[E], h *listener.Handle) {
	s.Listen("x", func(ctx context.Context, ev E) listener.Result {
		s.Unlisten(ctx, h) // want `Unlisten of scope s`
		return listener.Defer
	})
}

// Elements of a slice by the same constant index are the same Scope;
// by another index they are not.
func indexed(scopes []*scope.Scope[event], i, j int, h *listener.Handle) {
	scopes[0].Listen("x", func(ctx context.Context, ev event) listener.Result {
		scopes[0].Close(ctx) // want `Close of scope scopes\[0\]`
		scopes[1].Close(ctx)
		return listener.Defer
	})
	scopes[i].Listen("y", func(ctx context.Context, ev event) listener.Result {
		scopes[i].Unlisten(ctx, h) // want `Unlisten of scope scopes\[i\]`
		scopes[j].Unlisten(ctx, h)
		return listener.Defer
	})
}

// build returns a listener kept in a variable first.
func buildReturnsVariable(s *scope.Scope[event]) {
	s.ListenSelf("x", func(self *listener.Handle) listener.Func[event] {
		fn := func(ctx context.Context, ev event) listener.Result {
			self.Wait(ctx) // want `Wait on self`
			return listener.Defer
		}
		return fn
	})
}
