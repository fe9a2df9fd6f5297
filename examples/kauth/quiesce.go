package main

import (
	"context"

	"github.com/quiesce/quiesce/lifecycle"
	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// The two quiesce strategies.

// guardScope keeps kauth's dispatcher exactly as it is (rawScope) and fixes
// the callback instead: it runs inside a lifecycle.Guard, and teardown
// closes the guard, which refuses new entries and waits for the callbacks
// already inside, before the driver is freed. This is what a kext can do
// when it cannot change the dispatcher.
//
// The guard must outlive the driver: a guard inside the freed object would
// itself be touched after the free. Each load gets a fresh one, owned by
// the registration (in a kernel, memory the kext never frees while loaded).
type guardScope struct {
	rawScope
	guard *lifecycle.Guard
}

func (s *guardScope) listen(fn listener.Func[fileOp]) {
	g := lifecycle.NewGuard()
	s.guard = g
	s.rawScope.listen(func(ctx context.Context, op fileOp) listener.Result {
		r, ok := g.TryEnter()
		if !ok {
			return listener.Defer // unloading: the driver may be gone
		}
		defer r.Exit()
		return fn(ctx, op)
	})
}

func (s *guardScope) unlisten(ctx context.Context) error {
	s.rawScope.unlisten(ctx)
	return s.guard.Close(ctx)
}

// quiesceScope is the fix in the dispatcher: scope.Scope holds an epoch
// reference across every Dispatch, and Unlisten waits for a grace period.
type quiesceScope struct {
	s *scope.Scope[fileOp]
	h *listener.Handle
}

func newQuiesceScope() *quiesceScope {
	return &quiesceScope{s: scope.New[fileOp]("fileop")}
}

func (q *quiesceScope) listen(fn listener.Func[fileOp]) {
	h, err := q.s.Listen("driver", fn)
	if err != nil {
		panic(err) // the scope is never closed and fn is never nil
	}
	q.h = h
}

func (q *quiesceScope) dispatch(ctx context.Context, op fileOp) listener.Result {
	return q.s.Dispatch(ctx, op)
}

func (q *quiesceScope) unlisten(ctx context.Context) error {
	return q.s.Unlisten(ctx, q.h)
}
