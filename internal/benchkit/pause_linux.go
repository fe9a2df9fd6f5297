//go:build linux

package benchkit

import (
	"syscall"
	"time"
)

// pause blocks the calling goroutine in a system call for d, keeping its
// processor (see Crowd for why).
func pause(d time.Duration) {
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	_ = syscall.Nanosleep(&ts, nil)
}
