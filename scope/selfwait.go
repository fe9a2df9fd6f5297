package scope

import (
	"errors"
	"fmt"
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
// detect it, as Linux's lockdep detects synchronize_srcu inside a read
// section of the same domain, and the call then returns an error wrapping
// ErrSelfWait at once, having done what can be done without waiting: the
// listener (for Close, every listener) is stopped, as Stop would leave
// it, and its Done still closes once its calls have returned. Other
// builds do not detect it (finding the goroutine costs a microsecond per
// Dispatch) and the call waits until its context ends; WithStallWarning
// reports it. A listener that must stop itself calls its Handle's Stop,
// which never waits.
var ErrSelfWait = errors.New("scope: wait from inside a call of the same scope")

// selfWait reports whether a wait for c (for the whole Scope if c is nil)
// on the calling goroutine would wait for itself. A listener already
// Stopped has nothing left to wait for.
func (s *Scope[E]) selfWait(c *handle.Core) bool {
	if !selfwait.Enabled || (c != nil && c.State.Load() == handle.Stopped) {
		return false
	}
	return s.dbg.Inside(unsafe.Pointer(c))
}

func (s *Scope[E]) selfWaitError(op string, c *handle.Core) error {
	if c == nil {
		return fmt.Errorf("scope: %s %q from inside one of its listeners: %w", op, s.name, ErrSelfWait)
	}
	return fmt.Errorf("scope: %s %q of %q from inside a call it would wait for: %w", op, c.Name, s.name, ErrSelfWait)
}
