package scope

import (
	"time"

	"github.com/quiesce/quiesce/listener"
)

// An Option configures a Scope at New.
type Option interface {
	apply(*options)
}

type options struct {
	onPanic     func(listenerName string, recovered any) listener.Result
	stallAfter  time.Duration
	stallReport func(Stall)
	isolated    bool
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithPanicHandler makes Dispatch recover a panic in a listener's Func
// (including the panic for an invalid Result): handler is called on the
// dispatching goroutine with the listener's name and the recovered value,
// the Result it returns stands for that listener, and the remaining
// listeners are still called. The handler must return a valid Result and
// must not panic; if it does, the panic reaches Dispatch's caller. Like a
// listener, the handler runs inside the dispatch's epoch section and may
// run on many goroutines at once: it must be safe for concurrent use and
// must not wait for its own Scope to drain.
//
// Without this option a panic in a Func propagates to Dispatch's caller,
// and the listeners after it are not called for that event. Either way the
// dispatch's epoch reference is released first, so no Unlisten or Close
// ever waits for a caller that panicked.
//
// WithPanicHandler panics if handler is nil.
func WithPanicHandler(handler func(listenerName string, recovered any) listener.Result) Option {
	if handler == nil {
		panic("scope: WithPanicHandler: nil handler")
	}
	return optionFunc(func(o *options) { o.onPanic = handler })
}

// A Stall describes an Unlisten, Close or Handle.Wait that has waited for
// longer than the duration given to WithStallWarning.
type Stall struct {
	Scope    string        // the scope's name
	Listener string        // the listener waited for; "" for Close
	Waited   time.Duration // how long the call had waited when it reported
	// Inside is the number of calls holding the wait up: Dispatch calls
	// inside the scope, or, WithIsolation, calls of the listeners waited
	// for.
	Inside int
	// Running names the listeners whose calls were running and holding
	// the wait up, by the names they were registered with (see
	// WithStallWarning for how they are found).
	Running []string
}

// WithStallWarning makes every Unlisten, Close and Handle.Wait that is
// still waiting after the given duration call report once, on the waiting
// goroutine, and then go on waiting. Several waits may report at the same
// time, so report must be safe for concurrent use, and it should return
// quickly. The causes of a stall are a listener that blocks and a wait
// from inside a listener of the same scope, which waits for itself (in a
// race-enabled build that one fails at once instead: see ErrSelfWait).
//
// The report names the listeners holding the wait up (Stall.Running), and
// so does the error of a wait whose context ends. WithIsolation, each
// listener counts its own calls, and the names are exact. Otherwise the
// scope counts only calls of all its listeners together, and finding them
// costs a stop of the world while every goroutine's stack is read (a
// stall is rare; Dispatch pays nothing for it): a goroutine inside a
// Dispatch is running the listener whose function is the one Dispatch
// called. Listeners that share a function (made by one closure, or with
// the same method) are told apart only by the calls, so all of them are
// named when one runs; a function that is a listener of two scopes is
// named in the reports of both.
//
// WithStallWarning panics if after is not positive or report is nil.
func WithStallWarning(after time.Duration, report func(Stall)) Option {
	if after <= 0 || report == nil {
		panic("scope: WithStallWarning needs a positive duration and a non-nil report func")
	}
	return optionFunc(func(o *options) {
		o.stallAfter = after
		o.stallReport = report
	})
}

// WithIsolation gives every listener of the Scope a read-side domain of
// its own, so that an Unlisten waits only for the calls of its own
// listener: a listener whose calls are slow or blocked delays no other
// listener's Unlisten (or Done). The guarantee is unchanged: after
// Unlisten returns nil, its listener is not running and never runs again.
//
// The price is paid in Dispatch, which counts on each listener's domain
// around its call instead of once on the Scope's: two atomic adds per
// listener rather than per event, and, once calls collide on two
// processors, a processor lookup per listener (docs/benchmarks.md has
// the figures). Each isolated listener costs 256 bytes (amd64) instead of
// 64 until its calls collide. Concurrent Unlistens of different listeners
// no longer share grace periods, and Close waits for every listener's
// grace period in parallel. Stall reports and errors name culprits
// exactly. Use it for scopes whose listeners come from different owners
// (plugins) and may be slow; keep the default where every listener is
// quick, and one grace period can serve them all.
func WithIsolation() Option {
	return optionFunc(func(o *options) { o.isolated = true })
}
