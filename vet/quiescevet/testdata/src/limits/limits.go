// Package limits holds the documented limits of the analyzer, so that
// they stay true: misuses it does not see (it follows a listener only
// when the function is a literal, or a local variable assigned one
// literal, and compares receivers by their expression, not by the value
// they hold), and a false report of a path that cannot run.
package limits

import (
	"context"

	"github.com/quiesce/quiesce/lifecycle"
	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

type event struct{}

type driver struct {
	s *scope.Scope[event]
	h *listener.Handle
}

// A method as the listener: its body names the Scope d.s, the caller s.
func (d *driver) authorize(ctx context.Context, ev event) listener.Result {
	d.s.Unlisten(ctx, d.h)
	return listener.Defer
}

func methodValue(s *scope.Scope[event], d *driver) {
	d.s = s
	d.h, _ = s.Listen("x", d.authorize)
}

// A literal handed to a helper that calls it: the helper's callers are
// unknown to the analyzer.
func helper(ctx context.Context, s *scope.Scope[event], h *listener.Handle) {
	s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		timeIt(func() error { return s.Unlisten(ctx, h) })
		return listener.Defer
	})
}

func timeIt(f func() error) error { return f() }

// Another variable holding the same Scope or Epoch.
func alias(ctx context.Context, s *scope.Scope[event], e *lifecycle.Epoch, h *listener.Handle) {
	same := s
	s.Listen("x", func(ctx context.Context, ev event) listener.Result {
		same.Unlisten(ctx, h)
		return listener.Defer
	})
	alsoE := e
	r := e.Enter()
	alsoE.Synchronize(ctx)
	r.Exit()
}

// A method value or method expression instead of a call through a
// selector.
func methodValues(ctx context.Context, e *lifecycle.Epoch) {
	sync := e.Synchronize
	r := e.Enter()
	sync(ctx)
	(*lifecycle.Epoch).Synchronize(e, ctx)
	r.Exit()
}

// The control-flow graph does not know that both tests of cond agree: a
// false report, which the documentation states.
func twoTestsOfOneFlag(e *lifecycle.Epoch, cond bool) {
	var r lifecycle.Ref
	if cond {
		r = e.Enter() // want `lost Ref`
	}
	if cond {
		r.Exit()
	}
}
