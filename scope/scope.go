package scope

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/atomic"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/lifecycle"
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

// A Scope is a set of listeners that events are dispatched to, the model of
// a kauth scope. Listen registers a listener, Dispatch calls every active
// listener with an event, and Unlisten removes a listener and waits until
// no call of it is running any more:
//
//	s := scope.New[Op]("fileop")
//	h, _ := s.Listen("driver", drv.authorize) // drv.authorize may run now
//	...
//	if err := s.Unlisten(ctx, h); err == nil {
//		drv.free() // drv.authorize is not running and never runs again
//	}
//
// Every Dispatch holds a read-side reference on the Scope's
// lifecycle.Epoch for as long as it calls listeners. Unlisten removes the
// listener, then waits for a grace period: every Dispatch that could have
// seen the listener has returned by then.
//
// All methods are safe to call from any number of goroutines at once.
// Dispatch takes no lock, allocates nothing and, in the common case, writes
// only to a counter of the processor it runs on (see package lifecycle).
// Listeners may call Listen, Dispatch and their own Handle's Stop; they
// must not call Unlisten or Close of their own Scope without a deadline
// (see Unlisten). A Scope must be created with New and must not be copied
// after first use.
//
// A Scope needs no Close to be garbage collected: it owns no goroutine
// while no drain is pending, and a drain's goroutine ends with the drain.
//
// In the terminology of the Go memory model, the return of every
// invocation of a listener "synchronizes before" the close of its Handle's
// Done channel, and therefore before the return of an Unlisten or Close
// that returns nil. Everything sequenced before a call to Listen (for
// ListenSelf, also everything build does) "synchronizes before" every
// invocation of the listener it registers; an invocation may begin before
// Listen returns.
type Scope[E any] struct {
	// Read by every Dispatch.
	ep   *lifecycle.Epoch
	snap atomic.Pointer[snapshot[E]]
	opts options
	name string

	// padding to keep the writers' fields off the line Dispatch reads.
	_ [128]byte

	active atomic.Int32 // listeners in Active, for Len

	mu       sync.Mutex
	closed   bool
	pending  []*handle.Core // stopped, waiting for the next drain
	draining bool           // a drain goroutine is running
	idle     chan struct{}  // closed when no drain is running
}

// snapshot is an immutable listener list. Listen and the drain replace it
// whole (copy-on-write, under mu); Dispatch loads it inside the epoch.
type snapshot[E any] struct {
	entries []entry[E]
}

type entry[E any] struct {
	c  *handle.Core
	fn listener.Func[E]
}

// New returns an open Scope with no listeners. The name is used in
// errors and stall reports.
func New[E any](name string, opts ...Option) *Scope[E] {
	s := &Scope[E]{ep: lifecycle.NewEpoch(), name: name, idle: closedChan}
	for _, o := range opts {
		if o == nil {
			panic("scope: New: nil Option")
		}
		o.apply(&s.opts)
	}
	s.snap.Store(&snapshot[E]{})
	return s
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Name returns the name the Scope was created with.
func (s *Scope[E]) Name() string { return s.name }

// Len returns the number of Active listeners. Like any count read under
// concurrency, it may be stale as soon as it returns.
func (s *Scope[E]) Len() int { return int(s.active.Load()) }

// Listen registers fn under name and returns its Handle. From the moment
// Listen publishes the listener, which is before it returns, any Dispatch
// may call fn; a Dispatch already running when Listen is called may or may
// not call it.
//
// Listen returns ErrNilFunc if fn is nil and ErrClosed if the Scope has
// been closed, and registers nothing then.
func (s *Scope[E]) Listen(name string, fn listener.Func[E]) (*listener.Handle, error) {
	if fn == nil {
		return nil, ErrNilFunc
	}
	return s.ListenSelf(name, func(*listener.Handle) listener.Func[E] { return fn })
}

// ListenSelf is Listen for a listener that needs its own Handle, typically
// to stop itself. build is called once, before the listener is published,
// with the Handle that Listen will return; the Func it returns may keep
// the Handle and use it from its first invocation on, even one that runs
// before ListenSelf returns. Capturing the result of Listen in a variable
// instead would race with such an early invocation.
//
// ListenSelf returns ErrNilFunc if build is nil or returns nil, and
// ErrClosed if the Scope has been closed; a Handle already passed to build
// is then Stopped, never having been registered. If build (or anything it
// starts) stops the Handle before ListenSelf publishes it, the listener is
// never registered: ListenSelf returns the Handle, already Stopped, and a
// nil error.
func (s *Scope[E]) ListenSelf(name string, build func(self *listener.Handle) listener.Func[E]) (*listener.Handle, error) {
	if build == nil {
		return nil, ErrNilFunc
	}
	if s.isClosed() { // fail before running the caller's build
		return nil, ErrClosed
	}
	c := handle.New(name, s, s.handleStop)
	h := handle.Wrap(c).(*listener.Handle)
	fn := build(h) // outside mu: it is the caller's code
	if fn == nil {
		c.Abandon()
		return nil, ErrNilFunc
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Abandon()
		return nil, ErrClosed
	}
	if c.State.Load() != handle.Active {
		// build stopped its own listener: it never becomes visible.
		// stop, which holds mu while it moves the state, saw it unregistered
		// and left it to us.
		c.Abandon()
		return h, nil
	}
	old := s.snap.Load().entries
	next := make([]entry[E], 0, len(old)+1)
	next = appendActive(next, old)
	next = append(next, entry[E]{c: c, fn: fn})
	c.Registered = true
	s.active.Inc()
	// The store publishes c, fn and everything build did: a Dispatch that
	// loads this snapshot sees them (atomic store, then atomic load).
	s.snap.Store(&snapshot[E]{entries: next})
	return h, nil
}

func (s *Scope[E]) isClosed() bool {
	s.mustBeMade()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// appendActive appends the Active entries of src to dst. Copying a
// snapshot is also when entries that have stopped are dropped.
func appendActive[E any](dst, src []entry[E]) []entry[E] {
	for _, e := range src {
		if e.c.State.Load() == handle.Active {
			dst = append(dst, e)
		}
	}
	return dst
}

// Dispatch calls every Active listener once with ctx and ev, in the order
// they were registered, and combines their answers: Deny if any denied,
// else Allow if any allowed, else Defer. With no listener, or after Close,
// it returns Defer. A listener added while Dispatch runs may or may not be
// called by it; one whose Stop (or Unlisten, or Close) has moved it out of
// Active before Dispatch reaches it is not called.
//
// Dispatch takes no lock and allocates nothing; it blocks only as long as
// the listeners it calls do. Listeners run on the calling goroutine.
//
// A listener that panics, or returns an invalid Result, is handled as set
// by WithPanicHandler; without it the panic reaches the caller of
// Dispatch, after Dispatch has released its epoch reference.
func (s *Scope[E]) Dispatch(ctx context.Context, ev E) listener.Result {
	// No listener, nothing to protect: a scope nobody listens to costs one
	// load. Safe because a listener registered after this load is one this
	// Dispatch may miss anyway.
	first := s.snap.Load()
	if first == nil {
		panicZeroScope()
	}
	if len(first.entries) == 0 {
		return listener.Defer
	}
	r := s.ep.Enter()
	// Deferred rather than called at the end so that a panicking listener
	// (without a panic handler) or one that calls runtime.Goexit does not
	// leave a reference behind for every later Unlisten to wait on forever.
	// (An open-coded defer costs about a nanosecond.)
	defer exitRef(r)
	// The snapshot is loaded again after Enter: only a load inside the
	// epoch is covered by the grace period of an Unlisten that removes a
	// listener from it.
	entries := s.snap.Load().entries
	res := listener.Defer
	onPanic := s.opts.onPanic
	for i := range entries {
		e := &entries[i]
		// Skipping stopped entries here, rather than removing them from
		// the snapshot at Stop, makes Stop O(1) (no copy) and lets one
		// copy of the snapshot drop a whole batch of stopped listeners.
		if e.c.State.Load() != handle.Active {
			continue
		}
		var v listener.Result
		if onPanic == nil {
			v = e.fn(ctx, ev)
			if !v.Valid() {
				panic(invalidResult(e.c.Name, v))
			}
		} else {
			v = s.callRecover(ctx, e, ev)
		}
		// Defer < Allow < Deny: the strongest answer wins.
		if v > res {
			res = v
		}
	}
	return res
}

func (s *Scope[E]) callRecover(ctx context.Context, e *entry[E], ev E) (res listener.Result) {
	defer func() {
		if p := recover(); p != nil {
			res = s.opts.onPanic(e.c.Name, p)
			if !res.Valid() {
				panic(fmt.Sprintf("scope: panic handler returned invalid %v for listener %q", res, e.c.Name))
			}
		}
	}()
	res = e.fn(ctx, ev)
	if !res.Valid() {
		panic(invalidResult(e.c.Name, res))
	}
	return res
}

// A *InvalidResultError is the value Dispatch panics with (and passes to
// the panic handler) when a listener returns a Result that is not Defer,
// Allow or Deny.
type InvalidResultError struct {
	Listener string
	Result   listener.Result
}

func (e *InvalidResultError) Error() string {
	return fmt.Sprintf("scope: listener %q returned invalid %v", e.Listener, e.Result)
}

//go:noinline
func invalidResult(name string, r listener.Result) error {
	return &InvalidResultError{Listener: name, Result: r}
}

// handleStop is Handle.Stop for the listeners of s, possibly called from
// inside a listener. It only queues the listener for the drain, so it
// never blocks on readers.
func (s *Scope[E]) handleStop(c *handle.Core) bool {
	won, drainer := s.stop(c)
	if drainer {
		go s.drain(context.Background(), nil)
	}
	return won
}

// stop moves c out of Active and queues it for the drain, in one step
// under mu, so that Close (which looks at both under mu) always finds a
// listener either Active or queued. It reports whether this call moved c,
// and whether the caller must run the drain: true when no drain was
// running, in which case the caller now holds the drainer role.
func (s *Scope[E]) stop(c *handle.Core) (won, drainer bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.State.CompareAndSwap(handle.Active, handle.Stopping) {
		return false, false
	}
	if !c.Registered {
		return true, false // stopped inside ListenSelf's build: ListenSelf finishes it
	}
	s.active.Dec()
	s.pending = append(s.pending, c)
	return true, s.claimDrainLocked()
}

// claimDrainLocked makes the caller the drainer if there is work and no
// drainer yet.
func (s *Scope[E]) claimDrainLocked() bool {
	if s.draining || len(s.pending) == 0 {
		return false
	}
	s.draining = true
	s.idle = make(chan struct{})
	return true
}

// drain finishes stopped listeners in batches: everything queued by the
// time a batch starts shares one snapshot copy and one grace period, so
// 64 listeners stopping at once cost about one of each instead of 64.
// (Removing each from the snapshot in its own Stop convoys on mu and
// copies the list 64 times.)
//
// The drainer is whoever claimed the role: a goroutine started by Stop,
// which runs with a background context until nothing is pending, or an
// Unlisten or Close, which drains on its own goroutine (no goroutine to
// start and none to wake it) with its own ctx. An Unlisten stops once
// mine is Stopped and hands any later work to a new goroutine, so its
// latency does not grow with other callers' stops; a drainer whose ctx
// ends puts its batch back and hands the role over the same way.
func (s *Scope[E]) drain(ctx context.Context, mine *handle.Core) error {
	for {
		s.mu.Lock()
		if mine != nil && mine.State.Load() == handle.Stopped && len(s.pending) > 0 {
			go s.drain(context.Background(), nil) // the role passes on
			s.mu.Unlock()
			return nil
		}
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 {
			s.draining = false
			close(s.idle)
			s.mu.Unlock()
			return nil
		}
		if !s.closed {
			old := s.snap.Load().entries
			s.snap.Store(&snapshot[E]{entries: appendActive(make([]entry[E], 0, len(old)), old)})
		}
		s.mu.Unlock()
		// Every listener in the batch left Active before this grace period
		// began, so a Dispatch that saw one of them Active entered the epoch
		// before it and is waited for. Dispatches after that see them
		// stopped.
		if err := s.ep.Synchronize(ctx); err != nil {
			s.mu.Lock()
			s.pending = append(batch, s.pending...)
			go s.drain(context.Background(), nil) // the role passes on
			s.mu.Unlock()
			return err
		}
		for _, c := range batch {
			c.Finish()
		}
	}
}

// Unlisten stops the listener of h, as h.Stop does, then waits until no
// invocation of it is running and returns nil. After a nil return the
// listener's Func is not running and will never run again, so its owner
// may release what the Func touches. Unlisten of a listener that is
// already stopping or stopped waits for the same drain and returns nil
// once it is done.
//
// If ctx ends first, Unlisten returns an error for which
// errors.Is(err, ctx.Err()) holds; the listener stays removed, and its
// Handle's Done is still closed when the drain completes. If h is nil or
// zero, or was returned by another Scope, Unlisten returns an error
// wrapping ErrUnknownHandle and leaves h untouched.
//
// Hazard: Unlisten waits for every Dispatch of the Scope that was running
// when it began, not only the calls of this listener. Called without a
// deadline from inside a listener of the same Scope, it waits for the
// Dispatch that is calling it, which never returns: a deadlock.
// WithStallWarning reports such a wait. To stop a listener from inside a
// listener, call Stop (it does not wait) and let the owner wait on Done
// elsewhere. With a deadline, such a call returns the context's error only
// when the deadline passes, holding up the drain of every listener
// stopped meanwhile. A listener that blocks likewise delays every
// Unlisten of its Scope.
func (s *Scope[E]) Unlisten(ctx context.Context, h *listener.Handle) error {
	c, err := s.own(h)
	if err != nil {
		return err
	}
	// The Handle's Stop would queue c and start a goroutine to drain it;
	// here the caller drains itself when nobody else is draining. With a
	// stall warning it waits instead, so that the report comes from the
	// waiting goroutine while the drain runs elsewhere.
	if _, drainer := s.stop(c); drainer {
		if s.opts.stallReport == nil {
			if err := s.drain(ctx, c); err != nil {
				return s.waitError(ctx, c.Name)
			}
		} else {
			go s.drain(context.Background(), nil)
		}
	}
	return s.wait(ctx, c.Name, c.Done)
}

func (s *Scope[E]) own(h *listener.Handle) (*handle.Core, error) {
	s.mustBeMade()
	if h == nil {
		return nil, fmt.Errorf("%w: nil handle", ErrUnknownHandle)
	}
	c := handle.Unwrap(h)
	if c == nil {
		return nil, fmt.Errorf("%w: zero handle", ErrUnknownHandle)
	}
	if c.Owner != any(s) {
		return nil, fmt.Errorf("%w: listener %q is not registered with scope %q", ErrUnknownHandle, c.Name, s.name)
	}
	return c, nil
}

// wait blocks until done is closed or ctx ends, reporting a stall once if
// the scope has a stall warning.
func (s *Scope[E]) wait(ctx context.Context, who string, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	default:
	}
	var stall <-chan time.Time
	start := time.Now()
	if s.opts.stallReport != nil {
		t := time.NewTimer(s.opts.stallAfter)
		defer t.Stop()
		stall = t.C
	}
	for {
		select {
		case <-done:
			return nil
		case <-stall:
			stall = nil
			s.opts.stallReport(Stall{Scope: s.name, Listener: who, Waited: time.Since(start), Inside: s.ep.Inside()})
		case <-ctx.Done():
			return s.waitError(ctx, who)
		}
	}
}

func (s *Scope[E]) waitError(ctx context.Context, who string) error {
	if who == "" {
		return fmt.Errorf("scope: close %q: %w", s.name, ctx.Err())
	}
	return fmt.Errorf("scope: unlisten %q from %q: %w", who, s.name, ctx.Err())
}

// Close stops every listener, makes later Listen calls fail with
// ErrClosed, and waits until no invocation of any listener is running,
// then returns nil. Dispatch after Close returns Defer. Close may be called
// more than once and from several goroutines; every call waits for the
// same drain.
//
// If ctx ends first, Close returns an error for which
// errors.Is(err, ctx.Err()) holds; the Scope stays closed and the drain
// completes in the background, closing every Handle's Done. The hazard
// described at Unlisten applies to Close as well.
func (s *Scope[E]) Close(ctx context.Context) error {
	s.mustBeMade()
	s.mu.Lock()
	s.closed = true
	for _, e := range s.snap.Load().entries {
		// The Handle's own Stop would call stopped, which takes mu: do
		// its work here instead.
		if e.c.State.CompareAndSwap(handle.Active, handle.Stopping) {
			s.active.Dec()
			s.pending = append(s.pending, e.c)
		}
	}
	s.snap.Store(&snapshot[E]{})
	drainer := s.claimDrainLocked()
	idle := s.idle
	s.mu.Unlock()
	if drainer && s.opts.stallReport == nil {
		if err := s.drain(ctx, nil); err != nil {
			return s.waitError(ctx, "")
		}
	} else if drainer {
		go s.drain(context.Background(), nil)
	}
	return s.wait(ctx, "", idle)
}

// mustBeMade panics, with a message rather than a nil dereference deep
// inside, when s is the zero Scope.
func (s *Scope[E]) mustBeMade() {
	if s.ep == nil {
		panicZeroScope()
	}
}

//go:noinline
func panicZeroScope() {
	panic("scope: use of a Scope not created by New")
}

// exitRef is r.Exit, called through a non-generic function of this
// package. Dispatch is generic, so it is compiled in the package that
// instantiates Scope[E], and that package's compiler can inline only what
// this package exports inline bodies for: a function body is exported
// only if this package itself inlined something into a function it
// compiles. Calling Exit here, from a function scope compiles, exports
// Exit's body with exitRef's, so Dispatch pays no call for Exit in a
// program that imports only scope. (Calling r.Exit in Dispatch directly
// inlined it only where the program also imported lifecycle.)
func exitRef(r lifecycle.Ref) { r.Exit() }
