package scope

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/internal/selfwait"
)

// ErrSelfWait: a wait that can never end, because the waiting goroutine
// is itself inside a call of the Scope it waits for. An Unlisten, Close
// or Handle.Wait called from a listener of the same Scope (or from the
// panic handler, or from anything they call on their goroutine) waits for
// a drain that waits for the Dispatch making the call: without a
// deadline, forever. In a Scope made WithIsolation, only a wait for the
// listener whose call the goroutine is in (or Close) is a self-wait.
//
// Builds with the race detector (go test -race, the race build tag)
// detect it on the calling goroutine, as Linux's lockdep detects
// synchronize_srcu inside a read section of the same domain, and the call
// then returns an error wrapping ErrSelfWait at once, having done what can
// be done without waiting: the listener (for Close, every listener) is
// stopped, as Stop would leave it, and its Done still closes once its
// calls have returned. Only a certain self-wait is reported: a wait for a
// listener whose drain had already begun when the caller's Dispatch
// entered may end, and is left to its context. Other
// builds do not detect it (finding the goroutine costs a microsecond per
// Dispatch) and the call waits until its context ends; WithStallWarning
// reports it. A listener that must stop itself calls its Handle's Stop,
// which never waits.
var ErrSelfWait = errors.New("scope: wait from inside a call of the same scope")

// selfWait reports whether a wait for c (for the whole Scope if c is nil)
// on the calling goroutine would certainly wait for itself: the goroutine
// is inside a call of s that the grace period draining c must wait for.
// stopped says the caller has just moved c (for Close: some listener) out
// of Active, so that its grace period begins after the caller's Dispatch
// entered. A listener already Stopped has nothing left to wait for.
//
// With a shared epoch, c may also be in the batch of a drain whose grace
// period has begun. That grace period waits for the caller's Dispatch if
// the Dispatch entered before the batch was taken (the tracker's sequence
// numbers tell); a Dispatch that entered later may be past the grace
// period's flip, and then the wait ends: reporting it would fail a wait
// that can succeed, so it is not reported.
func (s *Scope[E]) selfWait(c *handle.Core, stopped bool) bool {
	if !selfwait.Enabled || (c != nil && c.State.Load() == handle.Stopped) {
		return false
	}
	if !s.dbg.Inside(unsafe.Pointer(c)) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c != nil && !c.Registered {
		// Never published (a wait from inside ListenSelf's build): no
		// Dispatch can have seen it, so no grace period will be waited
		// for on its account; the Stop that ends it finishes it at once.
		return false
	}
	if stopped || s.tab.Load().iso {
		// Isolated: the goroutine is inside c's own call (or, for
		// Close, some listener's), which saw c Active after entering
		// c's domain; c's grace period began after that.
		return true
	}
	if c == nil {
		if len(s.pending) > 0 {
			return true
		}
	} else if c.State.Load() == handle.Active || slices.Contains(s.pending, c) {
		return true // its grace period has not begun
	}
	return s.drains > 0 && s.dbg.InsideBefore(nil, s.dbg.Last())
}

func (s *Scope[E]) selfWaitError(op string, c *handle.Core) error {
	return fmt.Errorf("scope: %s: %w", s.what(op, c), ErrSelfWait)
}
