package lifecycle

// Hooks for the external tests.

// ShardMode names the shard selection compiled in: "procpin" or "pool".
const ShardMode = shardMode

// Shards returns the number of counter shards of e.
func Shards(e *Epoch) int { return len(e.shards) }

// GracePeriods returns how many grace periods e has completed.
func GracePeriods(e *Epoch) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.completed
}

// SyncState returns whether a goroutine is running grace periods and how
// many Synchronize callers are waiting for one, so that tests can wait
// for callers to be queued instead of sleeping.
func SyncState(e *Epoch) (running bool, waiters int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running, e.waiters
}

// GuardEpoch returns the Epoch behind g.
func GuardEpoch(g *Guard) *Epoch { return &g.ep }
