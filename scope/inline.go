package scope

import (
	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/internal/selfwait"
)

// Dispatch is generic, so it is compiled in each package that
// instantiates a Scope[E], and that package's compiler can inline only
// the functions whose bodies this package's export data carries. The gc
// toolchain exports the body of another package's function only if this
// package itself inlined it into a function it compiles. This function
// is never called: it inlines every helper Dispatch and
// Dispatcher.Dispatch call, so that their bodies are exported and the
// hot path makes no call but Pin's and Unpin's runtime calls. .ci/run
// checks the result in a program that imports only scope.
//
// Rejected alternative: calling the helpers through non-generic
// functions of this package: a call each, on every Dispatch.
//
//lint:ignore U1000 never called: inlining its body is the point.
func exportInlineBodies(d *rcu.Domain, t *rcu.Table, s *rcu.Shard, c *rcu.Counts, tr *selfwait.Tracker) {
	x := d.Idx()
	_ = d.Table()
	_ = rcu.TryEnterBase(d.BaseCounts(x))
	_ = t.Shard(rcu.Pin())
	rcu.Unpin()
	_ = s.Counts(x)
	d.Exit(c)
	tr.Enter(nil).Exit()
}
