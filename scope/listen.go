package scope

import (
	"sync/atomic"
	"unsafe"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/listener"
)

// A table is the listener list Dispatch walks: entries[:n], in Listen
// order. Listen appends in place while there is room, publishing each
// entry by storing n after writing it; when the table is full, or when
// half its entries have been drained (Stopped), the writer makes a new
// table of the entries not yet Stopped, with room to spare, and publishes
// that. Every Listen and Unlisten is thus amortized O(1) in time and
// garbage. A listener stays in the table until it is Stopped, so that the
// table is also the list of listeners a stall report looks among.
//
// Rejected alternative: an immutable snapshot copied on every Listen (and
// on every drain). Registering n listeners one by one then copies O(n²)
// entries, as much garbage as time, and every Unlisten is O(n).
//
// Stopped entries stay in a table until the next copy; Dispatch skips
// them by their state, which it must load anyway (a table loaded before a
// Stop may still hold the entry).
type table struct {
	n       atomic.Int32 // published entries
	dead    int32        // entries drained (Stopped) since the table was made; under the Scope's mu
	iso     bool         // the Scope isolates its listeners (WithIsolation)
	slow    bool         // Dispatch takes dispatchSlow: iso, or a panic handler
	closed  bool         // Close published this table: n is 0, entries lists the listeners it stopped
	entries []*handle.Core
}

// Listen registers fn under name and returns its Handle. From the moment
// Listen publishes the listener, which is before it returns, any Dispatch
// may call fn; a Dispatch already running when Listen is called may or may
// not call it.
//
// Names need not be unique: they identify listeners in errors, panics and
// stall reports, which then list every listener of a repeated name.
// Listen costs amortized O(1) time and allocation whatever the number of
// listeners.
//
// Listen returns ErrNilFunc if fn is nil (whether or not the Scope is
// closed) and ErrClosed if the Scope has been closed, and registers
// nothing then.
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
// starts) stops the Handle, with Stop or Unlisten, before ListenSelf
// publishes it, the listener is never registered: the Handle is Stopped
// at once (an Unlisten of it returns nil without waiting, there being
// nothing to wait for), and ListenSelf returns it with a nil error. If
// build panics or calls runtime.Goexit, the Handle is Stopped and the
// panic goes on to ListenSelf's caller.
func (s *Scope[E]) ListenSelf(name string, build func(self *listener.Handle) listener.Func[E]) (*listener.Handle, error) {
	if build == nil {
		return nil, ErrNilFunc
	}
	if s.mustBeMade().closed { // fail before running the caller's build
		return nil, ErrClosed
	}
	h, c := s.newHandle(name)
	built := false
	defer func() {
		if !built { // build panicked or called runtime.Goexit
			s.abandon(c)
		}
	}()
	fn := build(h) // outside mu: it is the caller's code
	built = true
	if fn == nil {
		s.abandon(c)
		return nil, ErrNilFunc
	}
	setFn(c, fn)

	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tab.Load()
	if t.closed {
		c.Abandon()
		s.settleLocked()
		return nil, ErrClosed
	}
	if c.State.Load() != handle.Active {
		// build stopped its own listener, and stop, seeing it
		// unregistered, finished it: it never becomes visible.
		return h, nil
	}
	c.Registered = true
	s.active.Add(1)
	s.appendLocked(t, c)
	return h, nil
}

// abandon finishes c, which was never published, and wakes whoever waits
// for it (build may have handed the Handle to a goroutine that waits).
// Every change of a listener's state holds mu: Core.Finish and Abandon
// close Done before they store Stopped, and mu keeps two of them from
// closing it twice.
func (s *Scope[E]) abandon(c *handle.Core) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Abandon()
	s.settleLocked()
}

// isoHandle is a listener of an isolated Scope: its Handle and the domain
// its calls count on, in one allocation. The domain comes first so that,
// the struct being padded to whole lines, its counters sit on a line of
// their own.
type isoHandle struct {
	d rcu.Domain
	h listener.Handle
	_ [(rcu.CacheLine - unsafe.Sizeof(isoFields{})%rcu.CacheLine) % rcu.CacheLine]byte
}

// isoFields is the unpadded isoHandle, to compute its padding.
type isoFields struct {
	_ rcu.Domain
	_ listener.Handle
}

// newHandle makes the Handle of a new listener, Active and unpublished.
func (s *Scope[E]) newHandle(name string) (*listener.Handle, *handle.Core) {
	var h *listener.Handle
	var iso *rcu.Domain
	if s.tab.Load().iso {
		ih := new(isoHandle)
		h, iso = &ih.h, &ih.d
	} else {
		h = new(listener.Handle)
	}
	c := handle.Of(h)
	c.Name, c.Owner, c.Iso = name, s.asOwner(), iso
	return h, c
}

// appendLocked publishes c at the end of the listener list: in place if
// t has room (the entry is written before n is stored, so a Dispatch that
// loads the new n sees it), else in a new table.
func (s *Scope[E]) appendLocked(t *table, c *handle.Core) {
	n := t.n.Load()
	if int(n) < len(t.entries) {
		t.entries[n] = c
		t.n.Store(n + 1)
		return
	}
	s.tab.Store(t.copyLive(c))
}

// copyLive returns a new table holding t's entries that are not yet
// Stopped, in order, then extra if it is not nil, with as much room again
// for more. Called under the Scope's mu, which every move to Stopped of a
// registered listener holds, so the count of dead entries is exact.
func (t *table) copyLive(extra *handle.Core) *table {
	entries := t.entries[:t.n.Load()]
	live := make([]*handle.Core, 0, 2*(len(entries)-int(t.dead)+1))
	for _, c := range entries {
		if c.State.Load() != handle.Stopped {
			live = append(live, c)
		}
	}
	if extra != nil {
		live = append(live, extra)
	}
	nt := &table{iso: t.iso, slow: t.slow, entries: live[:cap(live)]}
	nt.n.Store(int32(len(live)))
	return nt
}
