package listener

import (
	"context"
	"strconv"

	"github.com/quiesce/quiesce/internal/handle"
)

// A Result is a listener's answer to one event. The values are ordered so
// that combining answers keeps the strongest: Deny over Allow over Defer.
type Result int8

const (
	// Defer leaves the decision to other listeners; it is the zero value.
	Defer Result = iota
	// Allow approves the event unless another listener denies it.
	Allow
	// Deny refuses the event, whatever any other listener answers.
	Deny
)

// Valid reports whether r is Defer, Allow or Deny.
func (r Result) Valid() bool {
	return r >= Defer && r <= Deny
}

// Combine returns the answer of two listeners together: Deny if either
// denied, else Allow if either allowed, else Defer. It panics with a
// message starting "listener: " if either result is not Valid.
func (r Result) Combine(other Result) Result {
	if !r.Valid() || !other.Valid() {
		panic("listener: Combine of invalid Result " + r.String() + ", " + other.String())
	}
	if other > r {
		return other
	}
	return r
}

// String returns "Defer", "Allow" or "Deny", or "Result(n)" for any other
// value.
func (r Result) String() string {
	switch r {
	case Defer:
		return "Defer"
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// A Func is a listener's callback. A scope may call it from many
// goroutines at once, so it must be safe for concurrent use. ctx is the
// context the event was dispatched with, passed on unchanged: the scope
// never checks it, so a Func that should give up when ctx ends must check
// it itself. The Func must return a Valid Result; the scope treats any
// other value as a panic of the Func.
//
// A Func may call Listen and Dispatch on its scope and Stop on any Handle,
// its own included: a listener stops itself with its Handle's Stop. It
// must never call Unlisten, Close or Handle.Wait of its own scope, with or
// without a deadline (with scope.WithIsolation, a wait for another
// listener is allowed): the wait waits for the Func to return, which waits
// for the wait. Builds with the race detector return an error wrapping
// scope.ErrSelfWait at once; others wait until the context ends.
type Func[E any] func(ctx context.Context, ev E) Result

// Notify returns a Func that calls fn and answers Defer: a listener that
// only observes events. It returns nil if fn is nil, so that Listen
// reports ErrNilFunc. Stall reports and errors name such a listener by
// fn's function, as for any other.
//
//go:noinline
func Notify[E any](fn func(ctx context.Context, ev E)) Func[E] {
	// Notify is not inlined, so that its adapters for one E are one
	// function, which the scope recognizes.
	if fn == nil {
		return nil
	}
	return func(ctx context.Context, ev E) Result {
		// The scope's question "which function do you wrap?", asked
		// only of Notify adapters, and only to name a stuck listener: a
		// type check of an interface against one type, all it costs an
		// observer. Rejected alternative: reading
		// fn out of this closure's memory, whose layout the language
		// does not define.
		if p, ok := ctx.(*handle.Probe); ok {
			p.Fn = fn
			return Defer
		}
		fn(ctx, ev)
		return Defer
	}
}
