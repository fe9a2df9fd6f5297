package listener

import (
	"strconv"

	"github.com/quiesce/quiesce/internal/handle"
)

// A State is where a listener is in its lifecycle. It only moves forward:
// Active, then Stopping, then Stopped.
type State int32

const (
	// Active: the listener is registered and Dispatch calls it.
	Active State = iota
	// Stopping: Stop, Unlisten or Close has removed the listener; no new
	// invocation starts, but invocations that began before may still be
	// running.
	Stopping
	// Stopped: every invocation has returned and none will start again;
	// the Handle's Done is closed.
	Stopped
)

// The states are the values package scope stores (internal/handle); an
// index out of range here fails the build if they ever differ.
var (
	_ = [1]struct{}{}[Active-State(handle.Active)]
	_ = [1]struct{}{}[Stopping-State(handle.Stopping)]
	_ = [1]struct{}{}[Stopped-State(handle.Stopped)]
)

// String returns "Active", "Stopping" or "Stopped", or "State(n)" for any
// other value.
func (s State) String() string {
	switch s {
	case Active:
		return "Active"
	case Stopping:
		return "Stopping"
	case Stopped:
		return "Stopped"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}
