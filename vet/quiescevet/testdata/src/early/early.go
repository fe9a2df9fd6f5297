// Package early holds the cases of the early-Handle rule: a listener that
// captures the variable Listen's Handle is assigned to.
package early

import (
	"context"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

type event struct{}

func captured(s *scope.Scope[event]) {
	var h *listener.Handle
	h, _ = s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		h.Stop() // want `listener captures h, the Handle Listen returns: an invocation may run before Listen returns and see nil; use ListenSelf`
		return listener.Defer
	})
	_ = h
}

// A Wait on it is a self-wait besides.
func capturedAndWaited(s *scope.Scope[event]) error {
	var h *listener.Handle
	var err error
	h, err = s.Listen("x", listener.Notify(func(ctx context.Context, ev event) {
		h.Wait(ctx) // want `listener captures h` `Wait on h, the listener's own Handle`
	}))
	return err
}

type driver struct{ h *listener.Handle }

func (d *driver) start(s *scope.Scope[event]) {
	d.h, _ = s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		go d.h.Stop() // want `listener captures d.h, the Handle Listen returns`
		return listener.Defer
	})
}

// := that reuses h (err is new): h is the outer variable.
func redeclared(s *scope.Scope[event], h *listener.Handle) error {
	h, err := s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		h.Stop() // want `listener captures h`
		return listener.Defer
	})
	_ = h
	return err
}

func listenSelfResultCaptured(s *scope.Scope[event]) {
	var h *listener.Handle
	h, _ = s.ListenSelf("x", func(self *listener.Handle) listener.Func[event] {
		return func(ctx context.Context, ev event) listener.Result {
			h.Stop() // want `listener captures h, the Handle ListenSelf returns: .*; use the Handle that ListenSelf passes to build`
			return listener.Defer
		}
	})
}

// Nothing to report below.

func listenSelf(s *scope.Scope[event]) {
	var h *listener.Handle
	h, _ = s.ListenSelf("x", func(self *listener.Handle) listener.Func[event] {
		return func(ctx context.Context, ev event) listener.Result {
			self.Stop()
			return listener.Defer
		}
	})
	_ = h
}

// The owner uses the Handle outside the listener.
func ownerUses(ctx context.Context, s *scope.Scope[event]) error {
	h, err := s.Listen("x", func(ctx context.Context, ev event) listener.Result { return listener.Defer })
	if err != nil {
		return err
	}
	return s.Unlisten(ctx, h)
}

// Another Handle, assigned before the listener exists, is not early.
func anotherHandle(s *scope.Scope[event], other *listener.Handle) {
	var h *listener.Handle
	h, _ = s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		other.Stop()
		return listener.Defer
	})
	_ = h
}
