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

// A Stall describes an Unlisten or Close that has waited for longer than
// the duration given to WithStallWarning.
type Stall struct {
	Scope    string        // the scope's name
	Listener string        // the listener Unlisten waits for; "" for Close
	Waited   time.Duration // how long the call had waited when it reported
	Inside   int           // Dispatch calls still inside the scope then
}

// WithStallWarning makes every Unlisten and Close that is still waiting
// after the given duration call report once, on the waiting goroutine,
// and then go on waiting. Several waits may report at the same time, so
// report must be safe for concurrent use, and it should return quickly. The classic cause of a stall is an Unlisten or Close called
// from inside a listener of the same scope, which waits for itself and
// can never return; the other is a listener that blocks.
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
