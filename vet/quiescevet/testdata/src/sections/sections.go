// Package sections holds the self-wait cases of the section rule:
// Synchronize of an Epoch, or Close of a Guard, between an Enter
// (TryEnter) of the same one and the Exit of its Ref.
package sections

import (
	"context"

	"github.com/quiesce/quiesce/lifecycle"
)

func between(ctx context.Context, e *lifecycle.Epoch) {
	r := e.Enter()
	e.Synchronize(ctx) // want `Synchronize of epoch e inside its own section \(entered at line 13\) waits for itself: Exit the Ref first$`
	r.Exit()
}

func deferredExit(ctx context.Context, e *lifecycle.Epoch) {
	r := e.Enter()
	defer r.Exit()
	e.Synchronize(ctx) // want `Synchronize of epoch e inside its own section \(entered at line 19\) waits for itself: Exit the Ref first; its Exit is deferred, so the section lasts until the function returns`
}

func deferredOnTheSpot(ctx context.Context, e *lifecycle.Epoch) error {
	defer e.Enter().Exit()
	return e.Synchronize(ctx) // want `Synchronize of epoch e inside its own section .*its Exit is deferred`
}

func onOnePath(ctx context.Context, e *lifecycle.Epoch, cond bool) {
	r := e.Enter() // want `lost Ref`
	if cond {
		r.Exit()
	}
	e.Synchronize(ctx) // want `Synchronize of epoch e inside its own section`
}

func inALoop(ctx context.Context, e *lifecycle.Epoch, n int) {
	r := e.Enter()
	for range n {
		if err := e.Synchronize(ctx); err != nil { // want `Synchronize of epoch e inside its own section`
			break
		}
	}
	r.Exit()
}

type domain struct {
	ep    lifecycle.Epoch
	guard lifecycle.Guard
}

func (d *domain) fieldPath(ctx context.Context) {
	r := d.ep.Enter()
	d.ep.Synchronize(ctx) // want `Synchronize of epoch d.ep inside its own section`
	r.Exit()
}

func guardTryEnter(ctx context.Context, g *lifecycle.Guard) {
	if r, ok := g.TryEnter(); ok {
		defer r.Exit()
		g.Close(ctx) // want `Close of guard g inside its own section .*its Exit is deferred`
	}
}

func (d *domain) guardNotOK(ctx context.Context) {
	r, ok := d.guard.TryEnter()
	if !ok {
		return
	}
	d.guard.Close(ctx) // want `Close of guard d.guard inside its own section`
	r.Exit()
}

// Nothing to report below.

func afterExit(ctx context.Context, e *lifecycle.Epoch) {
	r := e.Enter()
	r.Exit()
	e.Synchronize(ctx)
}

func anotherEpoch(ctx context.Context, e, other *lifecycle.Epoch) {
	r := e.Enter()
	other.Synchronize(ctx)
	r.Exit()
}

func exitedOnTheSpot(ctx context.Context, e *lifecycle.Epoch) {
	e.Enter().Exit()
	e.Synchronize(ctx)
}

func exitedOnEveryBranch(ctx context.Context, e *lifecycle.Epoch, cond bool) {
	r := e.Enter()
	if cond {
		r.Exit()
	} else {
		r.Exit()
	}
	e.Synchronize(ctx)
}

// Only where TryEnter failed: no section.
func closeWhereTryEnterFailed(ctx context.Context, g *lifecycle.Guard) {
	r, ok := g.TryEnter()
	if !ok {
		g.Close(ctx)
		return
	}
	r.Exit()
	g.Close(ctx)
}

func closeInElse(ctx context.Context, g *lifecycle.Guard) {
	if r, ok := g.TryEnter(); ok {
		r.Exit()
	} else {
		g.Close(ctx)
	}
}

// The callee may exit a Ref passed to it: the walk stops there.
func passedOn(ctx context.Context, e *lifecycle.Epoch) {
	r := e.Enter()
	release(r)
	e.Synchronize(ctx)
}

func release(r lifecycle.Ref) { r.Exit() }

// A goroutine given the Ref may exit it before the wait: the walk stops
// there.
func handedToGoroutine(ctx context.Context, e *lifecycle.Epoch) {
	r := e.Enter()
	exited := make(chan struct{})
	go func() {
		r.Exit()
		close(exited)
	}()
	<-exited
	e.Synchronize(ctx)
}

// A discarded Ref is reported as lost at the call, and only there: a
// TryEnter may be expected to fail.
func discarded(ctx context.Context, g *lifecycle.Guard) {
	_, ok := g.TryEnter() // want `lost Ref: the Ref from g.TryEnter is discarded, so its section never ends if it succeeds`
	if ok {
		panic("open")
	}
	g.Close(ctx)
}

// On another goroutine, the wait does not wait for this one.
func synchronizeInGoroutine(e *lifecycle.Epoch) {
	r := e.Enter()
	defer r.Exit()
	go e.Synchronize(context.Background())
}

// A nested literal is a function of its own: its Synchronize is outside
// the section of its enclosing function.
func literalOfItsOwn(ctx context.Context, e *lifecycle.Epoch) func() {
	r := e.Enter()
	defer r.Exit()
	return func() { e.Synchronize(ctx) }
}

// Nested sections of one Epoch: the Synchronize is inside the outer one,
// and reported once.
func nested(ctx context.Context, e *lifecycle.Epoch) {
	outer := e.Enter()
	inner := e.Enter()
	inner.Exit()
	e.Synchronize(ctx) // want `Synchronize of epoch e inside its own section \(entered at line \d+\)`
	outer.Exit()
}

// An Epoch embedded in the caller's type.
type embedded struct{ lifecycle.Epoch }

func (x *embedded) promoted(ctx context.Context) {
	r := x.Enter()
	(x.Synchronize)(ctx) // want `Synchronize of epoch x inside its own section`
	r.Exit()
}

// A Ref variable declared before the call.
func declaredBefore(ctx context.Context, e *lifecycle.Epoch) {
	var r lifecycle.Ref
	r = e.Enter()
	e.Synchronize(ctx) // want `Synchronize of epoch e`
	r.Exit()
}
