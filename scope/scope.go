package scope

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/internal/selfwait"
	"github.com/quiesce/quiesce/listener"
)

// Errors returned by Scope methods. Errors that carry more detail wrap
// these; test with errors.Is.
var (
	// ErrClosed: Listen on a Scope that has been closed.
	ErrClosed = errors.New("scope: closed")
	// ErrNilFunc: Listen with a nil Func (or ListenSelf whose build
	// function is nil or returns nil).
	ErrNilFunc = errors.New("scope: nil listener func")
	// ErrUnknownHandle: Unlisten with a nil or zero Handle, or one that
	// another Scope returned.
	ErrUnknownHandle = errors.New("scope: unknown handle")
)

// A Scope is a set of listeners that events are dispatched to. Listen
// registers a listener, Dispatch calls every Active listener with an
// event, and Unlisten removes a listener and waits until no call of it is
// running any more:
//
//	s := scope.New[Op]("fileop")
//	h, _ := s.Listen("driver", drv.authorize) // drv.authorize may run now
//	...
//	if err := s.Unlisten(ctx, h); err == nil {
//		drv.free() // drv.authorize is not running and never runs again
//	}
//
// All methods are safe to call from any number of goroutines at once.
// Dispatch never waits for Listen, Unlisten or Close; Unlisten may wait
// for every Dispatch that was running when it began (with WithIsolation,
// only for the calls of its own listener). Listeners may call Listen, Dispatch
// and any Handle's Stop; they must never call Unlisten, Close or
// Handle.Wait of their own Scope, which would wait for themselves (see
// ErrSelfWait). A Scope must be created with New and must not be copied
// after first use.
//
// A Scope needs no Close to be garbage collected: it owns no goroutine
// while no drain is pending, and a drain's goroutine ends with the drain.
// It costs 256 bytes (amd64) and one 64-byte allocation per listener
// until its dispatchers collide on two processors (package lifecycle says
// what the counters cost then).
//
// In the terminology of the Go memory model, the return of every
// invocation of a listener "synchronizes before" the close of its Handle's
// Done channel, and therefore before the return of an Unlisten or Close
// that returns nil. Listen's publication of a listener "synchronizes
// before" every invocation of it, so everything sequenced before the call
// to Listen (for ListenSelf, also everything build does) happens before
// every invocation; an invocation may begin before Listen returns.
type Scope[E any] struct {
	// padding to whole lines, so that two Scopes allocated next to each
	// other share none (nothing to add on 64-bit platforms). First,
	// because a zero-size field at the end of a struct is padded.
	_ [(rcu.CacheLine - unsafe.Sizeof(scopeFields{})%rcu.CacheLine) % rcu.CacheLine]byte
	scopeFields
}

// scopeFields are a Scope's fields, which do not depend on E: a struct of
// their own so that the padding above can be computed.
type scopeFields struct {
	// dbg is the self-wait bookkeeping of race-enabled builds; it has no
	// size in others. First, so that a zero size adds no padding.
	dbg selfwait.Tracker

	// The first line: what Dispatch reads, and the epoch's counters,
	// which Dispatch writes while the Scope is uncontended.
	ep      rcu.Domain
	tab     atomic.Pointer[table] // the listeners; never nil once made
	onPanic func(listenerName string, recovered any) listener.Result

	// The second line: writers only (Listen, Stop, the drains).
	name    string
	mu      sync.Mutex
	active  atomic.Int32 // listeners in Active, for Len (sync/atomic's: 4 bytes, go.uber.org/atomic's 8)
	drains  int32        // drains in flight (under mu); see drain.go
	pending []*handle.Core
	waiters *waiter       // goroutines blocked in Unlisten, Handle.Wait or Close, listed through next; see wait.go
	warn    *stallWarning // WithStallWarning's, nil without it
	attr    *attribution  // the profile culprits were last named from; see stall.go
	// t0 is the first listener table, with room for one listener, so
	// that a Scope with one listener costs no allocation but the
	// listener's own.
	t0    table
	t0buf [1]*handle.Core
}

// New returns an open Scope with no listeners. The name is used in
// errors and stall reports. New panics if an Option is nil.
func New[E any](name string, opts ...Option) *Scope[E] {
	s := new(Scope[E])
	s.name = name
	var o options
	for _, opt := range opts {
		if opt == nil {
			panic("scope: New: nil Option")
		}
		opt.apply(&o)
	}
	s.onPanic = o.onPanic
	s.warn = o.warn
	s.t0.iso = o.isolated
	s.t0.slow = o.isolated || o.onPanic != nil
	s.t0.entries = s.t0buf[:]
	s.tab.Store(&s.t0)
	return s
}

// Name returns the name the Scope was created with.
func (s *Scope[E]) Name() string { return s.name }

// Len returns the number of Active listeners. Like any count read under
// concurrency, it may be stale as soon as it returns.
func (s *Scope[E]) Len() int { return int(s.active.Load()) }

// mustBeMade panics, with a message rather than a nil dereference deep
// inside, when s is the zero Scope.
func (s *Scope[E]) mustBeMade() *table {
	t := s.tab.Load()
	if t == nil {
		panicZeroScope()
	}
	return t
}

//go:noinline
func panicZeroScope() {
	panic("scope: use of a Scope not created by New")
}

// owner is how a Scope is a handle.Owner without exporting the methods:
// the same struct, under a type whose methods users never see.
type owner[E any] Scope[E]

func (o *owner[E]) StopCore(c *handle.Core) bool { return (*Scope[E])(o).handleStop(c) }

// the Owner a Scope stores in its listeners' Cores, and compares them with.
func (s *Scope[E]) asOwner() handle.Owner { return (*owner[E])(s) }

// fnOf returns c's Func. Core.Fn holds the func value's single word (a
// pointer to its closure), stored by setFn from a listener.Func[E] of
// this Scope's E: converting back is a reinterpretation of that word,
// which is how the gc toolchain represents every func value.
func fnOf[E any](c *handle.Core) listener.Func[E] {
	return *(*listener.Func[E])(unsafe.Pointer(&c.Fn))
}

func setFn[E any](c *handle.Core, fn listener.Func[E]) {
	c.Fn = *(*unsafe.Pointer)(unsafe.Pointer(&fn))
}
