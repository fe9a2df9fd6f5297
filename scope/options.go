package scope

import (
	"github.com/quiesce/quiesce/listener"
)

// An Option configures a Scope at New.
type Option interface {
	apply(*options)
}

type options struct {
	onPanic  func(listenerName string, recovered any) listener.Result
	warn     *stallWarning
	isolated bool
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
