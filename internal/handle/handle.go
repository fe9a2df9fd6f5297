// Package handle holds the state behind a listener.Handle, so that package
// scope can create and finish handles while package listener exports only
// the read side, Stop and Wait. Rejected alternatives: a type alias for
// listener.Handle (its docs would point into an internal package) and an
// exported constructor in package listener (users could build handles that
// no scope drains).
package handle

import (
	"context"
	"runtime"
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
	// Finishing is internal: Done, which somebody asked for, is being
	// closed, and Stopped follows. Every reader but Handle.State treats
	// it as Stopping (not Active, not Stopped); Handle.State waits it out
	// (Observed).
	Finishing
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
	// done is made by the first call of Done, since most listeners are
	// never watched, and closed by Finish. (The scope's own waits do not
	// use it: see scope's waiter.) Pointer to a channel rather than the
	// channel: sync/atomic has no channel type, and the cell is
	// allocated only when someone asks.
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

// Observed returns the listener's state as its Handle reports it: Stopped
// as soon as Done is closed, even before the store of Stopped. Finishing
// closes Done first, so that whoever loads State as Stopped finds Done
// closed; Observed makes the converse hold too: whoever has seen Done
// closed observes Stopped. It never touches the channel (a receive to
// tell whether it is closed would touch a channel that may belong to a
// testing/synctest bubble the caller is not in): when nobody has asked
// for Done, closing it is storing closedDone, which a load tells; when
// somebody has, Finishing marks the few instructions between the close
// and the store of Stopped, and Observed waits them out.
func (c *Core) Observed() int32 {
	for {
		st := c.State.Load()
		if st == Finishing {
			runtime.Gosched() // the finisher is between the close and its store
			continue
		}
		if st != Stopped && c.done.Load() == closedDone {
			return Stopped
		}
		return st
	}
}

// closedDone is what finishing stores when nobody has asked for Done yet.
var closedDone = func() *chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return &ch
}()

// Finish moves a Stopping listener to Stopped, closing Done first. The
// caller must have waited for a grace period that began after the
// listener left Active, and must hold its owner's mutex, which every
// change of State holds (so that two calls cannot both close Done).
// Finish of a listener that is not Stopping does nothing.
func (c *Core) Finish() {
	if c.State.Load() == Stopping {
		c.finish()
	}
}

// Abandon finishes a Core that was never published, from Active or
// Stopping: no reader can have seen it, so no grace period is needed. The
// caller holds the owner's mutex, as for Finish.
func (c *Core) Abandon() {
	if c.State.Load() != Stopped {
		c.finish()
	}
}

func (c *Core) finish() {
	if c.done.CompareAndSwap(nil, closedDone) {
		c.State.Store(Stopped)
		return
	}
	c.State.Store(Finishing)
	close(*c.done.Load())
	c.State.Store(Stopped)
}

// A Probe is the context with which package scope asks a listener.Notify
// adapter which function it wraps, to name it in stall reports: the
// adapter answers by storing its function in Fn and returning at once,
// without calling it. Only package scope makes Probes, and only for Funcs
// it knows to be Notify adapters.
type Probe struct {
	context.Context // nil: the adapter never calls it
	Fn              any
}

// Of returns the Core inside a *listener.Handle. Package listener sets it
// in its init; package scope, which imports listener, can rely on it.
var Of func(h any) *Core
