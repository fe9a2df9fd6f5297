package scope

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/internal/selfwait"
	"github.com/quiesce/quiesce/listener"
)

// Dispatch calls every Active listener once with ctx and ev, in the order
// they were registered, on the calling goroutine, and combines their
// answers: Deny if any denied, else Allow if any allowed, else Defer. With
// no listener, or after Close, it returns Defer. A listener added while
// Dispatch runs may or may not be called by it; one whose Stop (or
// Unlisten, or Close) has moved it out of Active before Dispatch reaches
// it is not called, so no Dispatch that starts after Stop returns calls
// it.
//
// Dispatch passes ctx to each listener unchanged and never checks it
// itself: a ctx that has ended does not stop or shorten a Dispatch. A
// listener that should give up when ctx ends must check ctx.
//
// Dispatch never waits for a writer: it blocks only as long as the
// listeners it calls do. It takes no lock and allocates nothing, with
// three exceptions: the first Dispatch on each processor after dispatches
// have collided on two makes that processor's counter shard (package
// lifecycle, Memory); the quiesce_portable build's processor lookup may
// allocate after a garbage collection; race-enabled builds add self-wait
// bookkeeping. In the common case it writes only a counter that no other
// processor writes.
//
// Dispatch may yield its processor once (runtime.Gosched) before it calls
// the listeners: after an Unlisten, Close, Handle.Wait or drain of the
// Scope has returned, started a goroutine or woken one, and, for a bounded
// time, while a drain waits for Dispatches still inside. (WithIsolation,
// the same holds for each listener's own drain, before that listener's
// call.) With few processors (GOMAXPROCS 1 or 2, as in many containers),
// this lets the writers run without waiting for the end of the
// dispatching goroutine's time slice.
//
// A listener that panics, or returns an invalid Result, is handled as set
// by WithPanicHandler; without it the panic reaches the caller of
// Dispatch. So does a listener that calls runtime.Goexit. Either way, no
// Unlisten or Close waits for a Dispatch that has panicked or exited.
func (s *Scope[E]) Dispatch(ctx context.Context, ev E) listener.Result {
	// One load of the table, before the epoch: a listener appended after
	// it is one this Dispatch may miss anyway, and the state of each
	// entry, loaded inside the epoch below, is what decides a call
	// (docs/design.md; loading it before Enter is MUTANT_SNAPSHOT_BEFORE_ENTER
	// of lifecycle/model). A Scope nobody listens to costs this load.
	t := s.tab.Load()
	if t == nil {
		panicZeroScope()
	}
	n := int(t.n.Load())
	if n == 0 {
		return listener.Defer
	}
	if t.slow {
		res, _ := s.dispatchSlow(ctx, ev, t.entries[:n], t.iso, nil)
		return res
	}
	// rcu.Domain.Enter, written out: it does not fit the inliner's
	// budget, and calling it would cost a third of this function.
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
	// Deferred rather than called at the end so that a panicking listener
	// or one that calls runtime.Goexit does not leave a reference behind
	// for every later Unlisten to wait on forever. (A recover-based exit
	// was measured slower, and Goexit does not pass through recover.)
	defer s.exit(c, s.dbg.Enter(nil))
	res := listener.Defer
	for _, e := range t.entries[:n] {
		// Skipping stopped entries here, rather than removing them from
		// the table at Stop, makes Stop O(1) and lets one copy of the
		// table drop a whole batch of drained listeners.
		if e.State.Load() != handle.Active {
			continue
		}
		v := fnOf[E](e)(ctx, ev)
		if !v.Valid() {
			panic(invalidResult(e.Name, v))
		}
		// Defer < Allow < Deny: the strongest answer wins.
		if v > res {
			res = v
		}
	}
	return res
}

// exit ends a Dispatch's section: the unchecked Exit (a Dispatch exits
// exactly once, by construction) and, in race-enabled builds, the
// self-wait bookkeeping. A method of the non-generic scopeFields, so
// that the deferred call needs nothing from the generic dictionary.
func (s *scopeFields) exit(c *rcu.Counts, g selfwait.G) {
	s.ep.Exit(c)
	g.Exit()
}

// dispatchSlow is Dispatch and Decide for a Scope with a panic handler
// or isolated listeners: neither costs the common path a branch per
// listener. sh is the shard of a Dispatcher, nil for Scope.Dispatch.
//
// It returns the combined answer and the entry that decided it, for
// Decide: the first whose answer was the strongest, nil for Defer. Its
// loop runs in passes, as Decide's does (see there), so that keeping the
// entry costs a Dispatch that comes this way little next to the deferred
// recover or the atomic adds that sent it here. Rejected alternatives: a
// copy of each slow path for Decide; and one loop that updates the entry
// with the answer, which was measurably slower (a store and a reload of
// the entry around every listener's call, as in Decide).
func (s *Scope[E]) dispatchSlow(ctx context.Context, ev E, entries []*handle.Core, iso bool, sh *rcu.Shard) (listener.Result, *handle.Core) {
	if iso {
		return s.dispatchIsolated(ctx, ev, entries)
	}
	res := listener.Defer
	var by *handle.Core
	var c *rcu.Counts
	if x := s.ep.Idx(); sh != nil && x&rcu.Yield == 0 {
		c = sh.Counts(x)
		c.Enter.Add(1)
	} else {
		c = s.ep.Enter()
	}
	defer s.exit(c, s.dbg.Enter(nil))
	for i := 0; i < len(entries); {
		for ; i < len(entries); i++ {
			e := entries[i]
			if e.State.Load() != handle.Active {
				continue
			}
			if v := s.call(ctx, ev, e); v > res {
				res, by = v, e
				i++
				break
			}
		}
	}
	return res, by
}

// dispatchIsolated is Dispatch for a Scope made WithIsolation: each
// listener is called inside a section of its own domain, and its state
// is loaded after that domain's Enter, as Dispatch loads every state
// after the Scope's (MUTANT_ISO_STATE_BEFORE_ENTER of lifecycle/model).
//
// The Enter is written out, as in Dispatch, and one deferred function
// serves the whole loop: it exits the section of the listener being
// called if that call panics or calls runtime.Goexit. Rejected
// alternative: a function per listener with a deferred Exit and a call
// to Domain.Enter: two calls and a defer per listener on top of the two
// atomic adds that no isolated listener can avoid (the floor-isolated
// baseline of docs/benchmarks.md).
//
// The Scope's own epoch counts nothing here, but its index word carries
// the nudge of its writers (rcu.Domain.Nudge): a Dispatch answers it, as
// a reader of a shared epoch does.
//
// Like dispatchSlow, it returns the entry that decided, for Decide.
func (s *Scope[E]) dispatchIsolated(ctx context.Context, ev E, entries []*handle.Core) (listener.Result, *handle.Core) {
	if s.ep.Idx()&rcu.Yield != 0 {
		s.ep.Answer()
	}
	var (
		d *rcu.Domain // the domain of the listener being called, while inside its section
		c *rcu.Counts
		g selfwait.G
	)
	defer func() {
		if d != nil { // a listener panicked or called runtime.Goexit
			exitIsolated(d, c, g)
		}
	}()
	res := listener.Defer
	var by *handle.Core
	for i := 0; i < len(entries); { // in passes, as in dispatchSlow
		for ; i < len(entries); i++ {
			e := entries[i]
			dd := e.Iso
			x := dd.Idx()
			c = nil
			if x&rcu.Yield == 0 {
				if tb := dd.Table(); tb == nil {
					if b := dd.BaseCounts(x); rcu.TryEnterBase(b) {
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
				c = dd.EnterSlow()
			}
			d, g = dd, s.dbg.Enter(unsafe.Pointer(e))
			v := listener.Defer
			if e.State.Load() == handle.Active {
				if s.onPanic != nil {
					v = s.callRecover(ctx, ev, e)
				} else if v = fnOf[E](e)(ctx, ev); !v.Valid() {
					panic(invalidResult(e.Name, v))
				}
			}
			d = nil
			exitIsolated(dd, c, g)
			if v > res {
				res, by = v, e
				i++
				break
			}
		}
	}
	return res, by
}

func exitIsolated(d *rcu.Domain, c *rcu.Counts, g selfwait.G) {
	d.Exit(c)
	g.Exit()
}

// call calls e, checks its answer, and recovers a panic if the Scope has
// a panic handler.
func (s *Scope[E]) call(ctx context.Context, ev E, e *handle.Core) listener.Result {
	if s.onPanic != nil {
		return s.callRecover(ctx, ev, e)
	}
	v := fnOf[E](e)(ctx, ev)
	if !v.Valid() {
		panic(invalidResult(e.Name, v))
	}
	return v
}

func (s *Scope[E]) callRecover(ctx context.Context, ev E, e *handle.Core) (res listener.Result) {
	defer func() {
		if p := recover(); p != nil {
			res = s.onPanic(e.Name, p)
			if !res.Valid() {
				panic(fmt.Sprintf("scope: panic handler returned invalid %v for listener %q", res, e.Name))
			}
		}
	}()
	res = fnOf[E](e)(ctx, ev)
	if !res.Valid() {
		panic(invalidResult(e.Name, res))
	}
	return res
}

// An InvalidResultError is the value Dispatch panics with (and passes to
// the panic handler) when a listener returns a Result that is not Defer,
// Allow or Deny.
type InvalidResultError struct {
	Listener string          // the name the listener was registered with
	Result   listener.Result // what it returned
}

// Error returns "scope: listener "name" returned invalid Result(n)".
func (e *InvalidResultError) Error() string {
	return fmt.Sprintf("scope: listener %q returned invalid %v", e.Listener, e.Result)
}

//go:noinline
func invalidResult(name string, r listener.Result) error {
	return &InvalidResultError{Listener: name, Result: r}
}
