// Package handle holds the state behind a listener.Handle, so that package
// scope can create and finish handles while package listener exports only
// the read side, Stop and Wait. Rejected alternatives: a type alias for
// listener.Handle (its docs would point into an internal package) and an
// exported constructor in package listener (users could build handles that
// no scope drains).
package handle

import (
	"context"
	"sync/atomic"
	"unsafe"

	"github.com/quiesce/quiesce/internal/rcu"
)

// The states, in the only order a listener moves through them. Package
// listener exports the same values as listener.State.
const (
	Active int32 = iota
	Stopping
	Stopped
)

// An Owner is the scope that made a Core. Its methods are Stop and Wait
// of the listener.Handle.
type Owner interface {
	StopCore(*Core) bool
	WaitCore(context.Context, *Core) error
}

// Core is one listener's lifecycle state and its function, embedded by
// value in listener.Handle: a listener costs one 64-byte allocation
// (amd64), Handle and all. The fields are ordered to fill that size class
// exactly; a field more would move every listener to the next one.
type Core struct {
	Name  string
	Owner Owner        // nil for a Handle not made by a scope
	State atomic.Int32 // sync/atomic: 4 bytes (go.uber.org/atomic's is 8)
	// Registered is set when the owner publishes the listener. Only the
	// owner reads and writes it, under its own mutex: a Stop before
	// publication (from a ListenSelf build function) must not be counted
	// or drained as if the listener had ever been visible.
	Registered bool
	// Fn is the listener's func value (a listener.Func[E] of the
	// owner's E), type-erased because Core is not generic: written before
	// the listener is published, never changed after.
	Fn unsafe.Pointer
	// Iso is the listener's own domain when its scope isolates its
	// listeners (scope.WithIsolation), nil otherwise.
	Iso *rcu.Domain
	// done is made on first use (Done, or a wait), since most listeners
	// are never waited for, and closed by Finish. Pointer to a channel
	// rather than the channel: sync/atomic has no channel type, and the
	// cell is allocated only when someone waits.
	done atomic.Pointer[chan struct{}]
}

// Done returns the channel that Finish closes.
func (c *Core) Done() <-chan struct{} {
	if p := c.done.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{})
	if c.done.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *c.done.Load() // Finish or another Done got there first
}

// closedDone is what Finish stores when nobody has asked for Done yet.
var closedDone = func() *chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return &ch
}()

// Finish moves a Stopping listener to Stopped and closes Done. The caller
// must have waited for a grace period that began after the listener left
// Active. Finish is idempotent.
func (c *Core) Finish() {
	if c.State.CompareAndSwap(Stopping, Stopped) {
		c.closeDone()
	}
}

func (c *Core) closeDone() {
	if !c.done.CompareAndSwap(nil, closedDone) {
		close(*c.done.Load())
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
			c.closeDone()
			return
		}
	}
}

// Of returns the Core inside a *listener.Handle. Package listener sets it
// in its init; package scope, which imports listener, can rely on it.
var Of func(h any) *Core
