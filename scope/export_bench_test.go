package scope

// Hooks for the benchmarks (memory_bench_test.go), which must see how
// far contention has spread a Scope's counters.

// DispatchShards returns how many counter shards have been made by the
// domains that s's Dispatch counts on: the Scope's epoch, or, with
// WithIsolation, the fewest of any listener's own domain (0 with no
// listener).
func DispatchShards[E any](s *Scope[E]) int {
	t := s.tab.Load()
	if !t.iso {
		return s.ep.ShardCount()
	}
	n := -1
	for _, c := range t.entries[:t.n.Load()] {
		if k := c.Iso.ShardCount(); n < 0 || k < n {
			n = k
		}
	}
	return max(n, 0)
}
