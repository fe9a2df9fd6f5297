// Package handle holds the state behind a listener.Handle, so that package
// scope can create and finish handles while package listener exports only
// the read side and Stop. Rejected alternatives: a type alias for
// listener.Handle (its docs would point into an internal package) and an
// exported constructor in package listener (users could build handles that
// no scope drains).
package handle

import "go.uber.org/atomic"

// The states, in the only order a listener moves through them. Package
// listener exports the same values as listener.State.
const (
	Active int32 = iota
	Stopping
	Stopped
)

// Core is one listener's lifecycle state.
type Core struct {
	Name  string
	Owner any // the scope that made it; identity only
	State atomic.Int32
	Done  chan struct{} // closed on the move to Stopped

	// Registered is set when the owner publishes the listener. Only the
	// owner reads and writes it, under its own mutex: a Stop before
	// publication (from a ListenSelf build function) must not be counted
	// or drained as if the listener had ever been visible.
	Registered bool

	// stop moves the listener out of Active for Stop and reports whether
	// this call did it. The owner does the move itself, under its own
	// mutex, together with queueing the listener for a drain: done as
	// two steps, a Close between them would see the listener neither
	// Active nor queued and return while a call of it still ran. It must
	// not block on readers: Stop is called from callbacks.
	stop func(*Core) bool
}

// New returns an Active Core whose Stop calls stop.
func New(name string, owner any, stop func(*Core) bool) *Core {
	return &Core{Name: name, Owner: owner, Done: make(chan struct{}), stop: stop}
}

// Stop moves the listener from Active to Stopping, through its owner, and
// reports whether this call did it.
func (c *Core) Stop() bool {
	return c.stop(c)
}

// Finish moves a Stopping listener to Stopped and closes Done. The caller
// must have waited for a grace period that began after the listener left
// Active. Finish is idempotent.
func (c *Core) Finish() {
	if c.State.CompareAndSwap(Stopping, Stopped) {
		close(c.Done)
	}
}

// Abandon finishes a Core that was never published, from Active or
// Stopping: no reader can have seen it, so no grace period is needed.
func (c *Core) Abandon() {
	for {
		st := c.State.Load()
		if st == Stopped {
			return
		}
		if c.State.CompareAndSwap(st, Stopped) {
			close(c.Done)
			return
		}
	}
}

// Wrap and Unwrap convert between a Core and the *listener.Handle that
// exposes it. Package listener sets them in its init; package scope, which
// imports listener, can rely on them being set.
var (
	Wrap   func(*Core) any
	Unwrap func(any) *Core
)
