package scope

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/internal/selfwait"
	"github.com/quiesce/quiesce/lifecycle"
)

// ErrSelfWait is the error of an Unlisten, Close or Handle.Wait called
// inside a call of the same Scope (from a listener, the panic handler, or
// anything they call on their goroutine): the wait waits for the Dispatch
// that is making it, and so can never end. Never make such a call; a
// listener stops itself with its Handle's Stop, which does not wait for
// calls to return. In a
// Scope made WithIsolation, only a wait for the listener whose call the
// goroutine is in, or Close, is a self-wait.
//
// Only builds with the race detector (go test -race, the race build tag)
// detect a self-wait, and only one made on the goroutine that is inside
// the call and certain never to end. There the call returns an error
// wrapping ErrSelfWait at once, having done what can be done without
// waiting: the listener (for Close, every listener) is stopped, and its
// Done closes once its calls have returned. Other builds wait until the
// context ends, and WithStallWarning reports the wait; no build detects a
// wait through another goroutine (a listener that waits for a goroutine
// that unlistens). docs/design.md, §3.9, says why.
//
// ErrSelfWait is lifecycle.ErrSelfWait, one sentinel for both packages:
// errors.Is(err, ErrSelfWait) holds for a self-wait error of either.
var ErrSelfWait = lifecycle.ErrSelfWait

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
