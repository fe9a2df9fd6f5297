package scope

import (
	"context"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/listener"
)

// A Dispatcher dispatches events to the listeners of one Scope, with
// exactly Scope.Dispatch's semantics, for a goroutine that dispatches
// many: a worker of a pool, a per-connection loop. Scope.Dispatch looks up
// the caller's processor on every call, to count on that processor's
// counters; a Dispatcher picks its counters once, when it is made.
//
// Use one Dispatcher per goroutine that dispatches in a loop, made by or
// for that goroutine; use Scope.Dispatch everywhere else. The Dispatchers
// of one Scope take its shards (one processor's counters each) in turn, up
// to GOMAXPROCS of them, whatever Dispatchers of other Scopes are made in
// between, so a pool of workers with one Dispatcher each shares no cache
// line.
// A Dispatcher is safe for concurrent use, and stays correct when its
// goroutine moves to another processor or when several goroutines share
// it: its shard is then written from more than one processor, which only
// costs speed.
//
// A Dispatcher of a Scope made WithIsolation dispatches as Scope.Dispatch
// does. The zero Dispatcher is not one that Scope.Dispatcher made: its
// methods panic.
type Dispatcher[E any] struct {
	s  *Scope[E]
	sh *rcu.Shard // nil for an isolated Scope
}

// Dispatcher returns a new Dispatcher for s. It allocates, so keep it for
// as long as the goroutine dispatches: the Dispatcher, and, unless s was
// made WithIsolation, the Scope's processor table (one pointer per
// processor) the first time, and a 128-byte shard for a processor that has
// none yet.
func (s *Scope[E]) Dispatcher() *Dispatcher[E] {
	t := s.mustBeMade()
	d := &Dispatcher[E]{s: s}
	if !t.iso {
		d.sh = s.ep.NextShard()
	}
	return d
}

// Dispatch is Scope.Dispatch through d: the same listeners, answer and
// use of ctx (passed to each listener, never checked).
func (d *Dispatcher[E]) Dispatch(ctx context.Context, ev E) listener.Result {
	s := d.s
	if s == nil {
		panic("scope: use of a Dispatcher not made by Scope.Dispatcher")
	}
	t := s.tab.Load()
	n := int(t.n.Load())
	if n == 0 {
		return listener.Defer
	}
	if t.slow {
		res, _ := s.dispatchSlow(ctx, ev, t.entries[:n], t.iso, d.sh)
		return res
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
	// The loop of Scope.Dispatch, written out again: shared through a
	// function, it would cost both a call.
	res := listener.Defer
	for _, e := range t.entries[:n] {
		if e.State.Load() != handle.Active {
			continue
		}
		v := fnOf[E](e)(ctx, ev)
		if !v.Valid() {
			panic(invalidResult(e.Name, v))
		}
		if v > res {
			res = v
		}
	}
	return res
}
