// Package lostref holds the cases of the lost-Ref rule: a Ref from Enter
// or TryEnter that is neither exited on every path nor escapes.
package lostref

import (
	"errors"

	"github.com/quiesce/quiesce/lifecycle"
)

var errBusy = errors.New("busy")

func missingOnOnePath(e *lifecycle.Epoch, cond bool) error {
	r := e.Enter() // want `lost Ref: the Ref from e.Enter is not exited on all paths \(missing Exit\)`
	if cond {
		return errBusy
	}
	r.Exit()
	return nil
}

func discarded(e *lifecycle.Epoch, g *lifecycle.Guard) {
	e.Enter()           // want `lost Ref: the Ref from e.Enter is discarded, so its section never ends: keep it and call its Exit`
	_ = e.Enter()       // want `lost Ref: the Ref from e.Enter is discarded`
	_, _ = g.TryEnter() // want `lost Ref: the Ref from g.TryEnter is discarded`
}

func tryEnterMissingOnOKPath(g *lifecycle.Guard, cond bool) {
	r, ok := g.TryEnter() // want `lost Ref: the Ref from g.TryEnter is not exited on all paths`
	if !ok {
		return
	}
	if cond {
		return
	}
	r.Exit()
}

// ok not kept: every path needs an Exit.
func tryEnterOKDiscarded(g *lifecycle.Guard, cond bool) {
	r, _ := g.TryEnter() // want `lost Ref: the Ref from g.TryEnter is not exited`
	if cond {
		r.Exit()
	}
}

// Entered again before the first Ref is exited.
func overwritten(e *lifecycle.Epoch) {
	r := e.Enter() // want `lost Ref: the Ref from e.Enter is not exited`
	r = e.Enter()
	r.Exit()
}

func inALoop(e *lifecycle.Epoch, n int) {
	for range n {
		r := e.Enter() // want `lost Ref: the Ref from e.Enter is not exited`
		if n > 3 {
			continue
		}
		r.Exit()
	}
}

func inALiteral(e *lifecycle.Epoch) func(bool) {
	return func(cond bool) {
		r := e.Enter() // want `lost Ref`
		if cond {
			r.Exit()
		}
	}
}

func varDeclared(e *lifecycle.Epoch, cond bool) {
	var r = e.Enter() // want `lost Ref`
	if cond {
		r.Exit()
	}
}

// Nothing to report below.

func exited(e *lifecycle.Epoch) {
	r := e.Enter()
	r.Exit()
}

func deferredExit(e *lifecycle.Epoch, cond bool) error {
	r := e.Enter()
	defer r.Exit()
	if cond {
		return errBusy
	}
	return nil
}

func deferredOnTheSpot(e *lifecycle.Epoch) {
	defer e.Enter().Exit()
}

func deferredClosure(e *lifecycle.Epoch) {
	r := e.Enter()
	defer func() { r.Exit() }()
}

func returned(e *lifecycle.Epoch) lifecycle.Ref {
	r := e.Enter()
	return r
}

func returnedDirectly(e *lifecycle.Epoch) lifecycle.Ref {
	return e.Enter()
}

func namedResult(e *lifecycle.Epoch) (r lifecycle.Ref) {
	r = e.Enter()
	return
}

func passedOn(e *lifecycle.Epoch) {
	r := e.Enter()
	hand(r)
}

func hand(r lifecycle.Ref) { go r.Exit() }

func passedDirectly(e *lifecycle.Epoch) {
	hand(e.Enter())
}

func capturedByClosure(e *lifecycle.Epoch, later func(func())) {
	r := e.Enter()
	later(func() { r.Exit() })
}

func handedToGoroutine(e *lifecycle.Epoch) {
	r := e.Enter()
	go func() {
		defer r.Exit()
	}()
}

type holder struct {
	ref  lifecycle.Ref
	refs []lifecycle.Ref
	m    map[string]lifecycle.Ref
}

var global lifecycle.Ref

func stored(e *lifecycle.Epoch, h *holder) {
	h.ref = e.Enter()
	h.refs = append(h.refs, e.Enter())
	h.m["x"] = e.Enter()
	global = e.Enter()
	r := e.Enter()
	h.refs = append(h.refs, r)
	_ = holder{ref: e.Enter()}
}

func tryEnterIfOK(g *lifecycle.Guard) {
	if r, ok := g.TryEnter(); ok {
		defer r.Exit()
	}
}

func tryEnterNotOKReturn(g *lifecycle.Guard) error {
	r, ok := g.TryEnter()
	if !ok {
		return errBusy
	}
	defer r.Exit()
	return nil
}

func tryEnterAndCondition(g *lifecycle.Guard, cond bool) {
	if r, ok := g.TryEnter(); ok && cond {
		r.Exit()
	} else if ok {
		r.Exit()
	}
}

func tryEnterNotOKOrCondition(g *lifecycle.Guard, cond bool) {
	r, ok := g.TryEnter()
	if !ok || cond {
		if ok {
			r.Exit()
		}
		return
	}
	r.Exit()
}

func exitedEveryIteration(e *lifecycle.Epoch, n int) {
	for range n {
		r := e.Enter()
		r.Exit()
	}
}

// A path that panics leaves the function without returning.
func panics(e *lifecycle.Epoch, cond bool) {
	r := e.Enter()
	if cond {
		panic("no")
	}
	r.Exit()
}

func tryEnterTaglessSwitch(g *lifecycle.Guard) error {
	r, ok := g.TryEnter()
	switch {
	case !ok:
		return errBusy
	}
	defer r.Exit()
	return nil
}

func tryEnterForOK(g *lifecycle.Guard) {
	r, ok := g.TryEnter()
	for ok {
		r.Exit()
		r, ok = g.TryEnter()
	}
}

// A tagged switch compares with its tag: no condition on ok is known, so
// the path where ok is true and nothing exits is found.
func tryEnterTaggedSwitch(g *lifecycle.Guard, n int) {
	r, ok := g.TryEnter() // want `lost Ref`
	switch n {
	case 1:
		if ok {
			r.Exit()
		}
	}
}
