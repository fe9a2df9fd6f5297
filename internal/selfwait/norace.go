//go:build !race

package selfwait

import "unsafe"

// Enabled reports whether self-waits are detected in this build.
const Enabled = false

// A Tracker records nothing in a build without the race detector.
type Tracker struct{}

// A G is empty in a build without the race detector.
type G struct{}

// Enter does nothing in this build.
func (*Tracker) Enter(unsafe.Pointer) G { return G{} }

// Exit does nothing in this build.
func (G) Exit() {}

// Inside reports false in this build.
func (*Tracker) Inside(unsafe.Pointer) bool { return false }

// InsideBefore reports false in this build.
func (*Tracker) InsideBefore(unsafe.Pointer, int64) bool { return false }

// Advance does nothing in this build.
func (*Tracker) Advance() int64 { return 0 }

// Last returns 0 in this build.
func (*Tracker) Last() int64 { return 0 }
