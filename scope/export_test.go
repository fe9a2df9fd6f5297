package scope

import (
	"unsafe"

	"github.com/quiesce/quiesce/internal/selfwait"
)

// SelfWaitDetection reports whether this build detects self-waits (it has
// the race detector).
const SelfWaitDetection = selfwait.Enabled

// Tables returns how many listener entries Dispatch walks (live and not
// yet dropped) and the capacity of the current table, for the tests of
// amortized growth.
func Tables[E any](s *Scope[E]) (entries, capacity int) {
	t := s.tab.Load()
	return int(t.n.Load()), len(t.entries)
}

// MinDead is the least number of dead entries a table drops with a copy.
const MinDead = minDead

// Sizes of unexported types, for TestDocumentedSizes.
var (
	IsoHandleSize = unsafe.Sizeof(isoHandle{})
	TableSize     = unsafe.Sizeof(table{})
)

// Draining reports whether a grace period of s's epoch is running, and
// Index returns the epoch's current index: the tests that need a drain's
// grace period to have begun, and flipped, wait for these.
func Draining[E any](s *Scope[E]) bool {
	running, _, _ := s.ep.State()
	return running
}

func Index[E any](s *Scope[E]) uint32 { return s.ep.Idx() & 1 }

// DispatcherShard returns the shard d counts on, nil for an isolated
// Scope, as an opaque pointer to compare.
func DispatcherShard[E any](d *Dispatcher[E]) unsafe.Pointer { return unsafe.Pointer(d.sh) }

// ProfilesTaken returns how many goroutine profiles stall reports and
// wait errors have taken so far, in the whole program.
func ProfilesTaken() uint64 { return profiles.begun.Load() }

// Waiters returns how many goroutines are registered as blocked in a wait
// of s.
func Waiters[E any](s *Scope[E]) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for w := s.waiters; w != nil; w = w.next {
		n++
	}
	return n
}
