package scope

import (
	"context"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/listener"
)

// Decide is Dispatch that also says who decided: it calls the same
// listeners with ctx and ev, in the same order, and returns their combined
// Result together with Decision.By, the name, as registered, of the first
// listener in registration order whose answer equals that Result. By is
// "" when the Result is Defer (every listener deferred, none is Active, or
// the Scope is closed). It serves an authorization decision that must say
// who made it, as a Kubernetes admission denial names its webhook.
//
// Everything Dispatch's doc says holds for Decide: it passes ctx to each
// listener unchanged and never checks it itself, never waits for a writer,
// and handles a panic, an invalid Result (InvalidResultError) or
// runtime.Goexit in a listener as Dispatch does. With WithPanicHandler,
// the handler's answer stands for the listener that panicked, so By names
// that listener when its answer is the Result. Names need not be unique:
// give listeners distinct names if the caller must tell them apart.
func (s *Scope[E]) Decide(ctx context.Context, ev E) listener.Decision {
	// Dispatch, line for line up to its loop (see the comments there);
	// the loop keeps the deciding entry. Rejected alternative: Dispatch on
	// top of this, dropping the name, which would cost Dispatch the
	// entry.
	t := s.tab.Load()
	if t == nil {
		panicZeroScope()
	}
	n := int(t.n.Load())
	if n == 0 {
		return listener.Decision{}
	}
	if t.slow {
		return decision(s.dispatchSlow(ctx, ev, t.entries[:n], t.iso, nil))
	}
	// rcu.Domain.Enter, written out as in Dispatch (.ci/run checks both).
	d := &s.ep
	x := d.Idx()
	var c *rcu.Counts
	if x&rcu.Yield == 0 {
		if tb := d.Table(); tb == nil {
			if b := d.BaseCounts(x); rcu.TryEnterBase(b) {
				c = b
			}
		} else {
			p := rcu.Pin()
			rcu.Unpin()
			if sh := tb.Shard(p); sh != nil {
				c = sh.Counts(x)
				c.Enter.Add(1)
			}
		}
	}
	if c == nil {
		c = d.EnterSlow()
	}
	defer s.exit(c, s.dbg.Enter(nil))
	// The entry, not its name: one word to keep rather than two, and the
	// name is read once, on the way out.
	res := listener.Defer
	var by *handle.Core
	entries := t.entries[:n]
	// Each pass of the outer loop calls listeners until one answers above
	// res (strictly: a later equal answer does not take the name from the
	// first), so that res and by change only between passes, of which
	// there are at most three (Defer, Allow, Deny). The inner loop, which
	// makes the calls, then stores neither around them, and does not
	// reload by at all. Rejected alternative: one loop that updates both,
	// as Dispatch updates res. No register survives a call in Go's
	// calling convention, so by was stored and reloaded around every
	// listener's call, and 16 no-op listeners cost 1.2× Dispatch's time
	// (1.5× with an Allow from the last one); the passes cost 1.03×
	// (1.02×).
	for i := 0; i < len(entries); {
		for ; i < len(entries); i++ {
			e := entries[i]
			if e.State.Load() != handle.Active {
				continue
			}
			v := fnOf[E](e)(ctx, ev)
			if !v.Valid() {
				panic(invalidResult(e.Name, v))
			}
			if v > res {
				res, by = v, e
				i++
				break
			}
		}
	}
	return decision(res, by)
}

// Decide is Scope.Decide through d: the same listeners, answers and
// Decision, and the same use of ctx (passed to each listener, never
// checked).
func (d *Dispatcher[E]) Decide(ctx context.Context, ev E) listener.Decision {
	s := d.s
	if s == nil {
		panic("scope: use of a Dispatcher not made by Scope.Dispatcher")
	}
	t := s.tab.Load()
	n := int(t.n.Load())
	if n == 0 {
		return listener.Decision{}
	}
	if t.slow {
		return decision(s.dispatchSlow(ctx, ev, t.entries[:n], t.iso, d.sh))
	}
	x := s.ep.Idx()
	var c *rcu.Counts
	if x&rcu.Yield == 0 {
		c = d.sh.Counts(x)
		c.Enter.Add(1)
	} else {
		c = s.ep.EnterSlow()
	}
	defer s.exit(c, s.dbg.Enter(nil))
	// The loop of Scope.Decide, written out again: shared through a
	// function, it would cost both a call.
	res := listener.Defer
	var by *handle.Core
	entries := t.entries[:n]
	for i := 0; i < len(entries); {
		for ; i < len(entries); i++ {
			e := entries[i]
			if e.State.Load() != handle.Active {
				continue
			}
			v := fnOf[E](e)(ctx, ev)
			if !v.Valid() {
				panic(invalidResult(e.Name, v))
			}
			if v > res {
				res, by = v, e
				i++
				break
			}
		}
	}
	return decision(res, by)
}

// decision makes the Decision of a combined answer and the entry that
// gave it first (nil exactly when res is Defer, which no entry gives).
func decision(res listener.Result, by *handle.Core) listener.Decision {
	if by == nil {
		return listener.Decision{}
	}
	return listener.Decision{Result: res, By: by.Name}
}
