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

// Sizes of unexported types, for TestDocumentedSizes.
var (
	IsoHandleSize = unsafe.Sizeof(isoHandle{})
	TableSize     = unsafe.Sizeof(table{})
)
