//go:build !linux

package benchkit

import (
	"runtime"
	"time"
)

// pause yields where no sleeping system call is at hand: phase 2 of a
// Crowd then spreads slowly past the core count (see Crowd), and the
// shards/object metric shows how far it got.
func pause(time.Duration) { runtime.Gosched() }
