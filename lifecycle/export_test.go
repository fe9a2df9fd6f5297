package lifecycle

import (
	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/internal/selfwait"
)

// SelfWaitDetection reports whether this build detects self-waits (it has
// the race detector).
const SelfWaitDetection = selfwait.Enabled

// Hooks for the external tests.

// ProcMode names the processor lookup compiled in: "procpin" or "pool".
const ProcMode = rcu.ProcMode

// Shards returns the number of counter shards e has made so far.
func Shards(e *Epoch) int { return e.d.ShardCount() }

// GuardShards returns the number of counter shards g has made so far.
func GuardShards(g *Guard) int { return g.d.ShardCount() }

// GracePeriods returns how many grace periods e has completed.
func GracePeriods(e *Epoch) uint64 {
	_, _, completed := e.d.State()
	return completed
}

// SyncState returns whether a goroutine is running grace periods and how
// many Synchronize callers are waiting for one, so that tests can wait
// for callers to be queued instead of sleeping.
func SyncState(e *Epoch) (running bool, waiters int) {
	running, waiters, _ = e.d.State()
	return running, waiters
}

// GuardSyncState is SyncState for a Guard.
func GuardSyncState(g *Guard) (running bool, waiters int) {
	running, waiters, _ = g.d.State()
	return running, waiters
}
