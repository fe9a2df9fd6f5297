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

// WithPanicHandler makes Dispatch and Decide recover a panic in a
// listener's Func (including the panic for an invalid Result): handler is
// called on the dispatching goroutine with the listener's name and the
// recovered value, the Result it returns stands for that listener, and the
// remaining listeners are still called. The handler must return a valid
// Result and must not panic; if it does, the panic reaches Dispatch's
// caller. A listener that calls runtime.Goexit is not recovered.
//
// The handler runs as part of the Dispatch, as a listener does: it may run
// on many goroutines at once, so it must be safe for concurrent use, and
// it must never call Unlisten, Close or Handle.Wait of its own Scope,
// which would wait for itself (see ErrSelfWait).
//
// Without this option a panic in a Func propagates to Dispatch's caller,
// and the listeners after it are not called for that event. Either way no
// Unlisten or Close waits for a Dispatch that panicked.
//
// WithPanicHandler panics if handler is nil.
func WithPanicHandler(handler func(listenerName string, recovered any) listener.Result) Option {
	if handler == nil {
		panic("scope: WithPanicHandler: nil handler")
	}
	return optionFunc(func(o *options) { o.onPanic = handler })
}

// WithIsolation makes every Unlisten and Handle.Wait wait only for the
// calls of its own listener: a listener whose calls are slow or blocked
// delays no other listener's Unlisten, Wait or Done (Close still waits for
// every listener). The guarantee is unchanged: after Unlisten returns nil,
// its listener is not running and never runs again. Stall reports and
// wait errors name the listeners holding a wait up exactly.
//
// Dispatch pays for it: it counts around each listener's call rather than
// once per event (docs/benchmarks.md has the figures). Each listener costs
// 256 bytes (amd64) instead of 64 until its calls collide on two
// processors, and Unlistens of different listeners no longer share their
// waits. Use it for scopes whose listeners come from different owners
// (plugins) and may be slow; keep the default where every listener is
// quick.
func WithIsolation() Option {
	return optionFunc(func(o *options) { o.isolated = true })
}
