//go:build !linux

package scope_test

import (
	"runtime"
	"time"
)

// pause yields where no sleeping system call is at hand: phase 2 of a
// crowd then spreads slowly past the core count (see crowd), and the
// shards/object metric shows how far it got.
func pause(time.Duration) { runtime.Gosched() }
