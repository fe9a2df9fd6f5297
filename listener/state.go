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
	Active = State(handle.Active)
	// Stopping: Stop has been called; no new invocation starts, but
	// invocations that began before may still be running.
	Stopping = State(handle.Stopping)
	// Stopped: every invocation has returned and none will start again.
	Stopped = State(handle.Stopped)
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
