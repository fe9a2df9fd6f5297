// Package lifecycle provides the read-side protection that quiesce is built
// on: an [Epoch], an RCU-style domain whose [Epoch.Synchronize] waits for
// every reader that entered before it, and a [Guard], rundown protection
// that refuses new readers once it is closing and then waits for the ones
// already inside.
//
// Both are meant for the hottest path of a program. [Epoch.Enter] and
// [Ref.Exit] take no lock, allocate nothing and, in the common case, write
// only a counter that no other processor writes, so readers on different
// cores do not contend. The cost is carried by the writer: Synchronize sums
// the counters and may have to wait.
//
// The algorithm is that of Linux's sleepable RCU (SRCU): pairs of enter and
// exit counters selected by an index, and a grace period that waits for
// the inactive index to drain, flips the index, then waits for the
// previously active index to drain. See docs/design.md in the repository
// for the proof sketch, and lifecycle/model for the Spin models that check
// it.
//
// # Memory
//
// An Epoch or Guard is one 128-byte block, the zero value ready to use,
// whatever GOMAXPROCS is: its readers count on a pair of counters of its
// own for as long as they never collide. The first time two processors
// enter at the same moment, it gets a table of GOMAXPROCS pointers, and
// each processor that enters from then on a 128-byte shard of its own,
// made the first time it enters. A grace period sums only the shards that
// exist.
//
// # Processor lookup
//
// Once it has shards, Enter finds its shard from the number of the
// processor (the runtime's P) it runs on, read through the runtime's
// procPin, which the Go runtime keeps reachable for compatibility but does
// not export. Building with the tag quiesce_portable replaces this with a
// token kept in a [sync.Pool]: it uses no runtime internals, costs a Get
// and a Put per lookup (docs/benchmarks.md has the figures), and allocates
// a token again whenever a garbage collection has emptied the pool (the
// default build never allocates in Enter but to make a shard).
//
// # Self-waits
//
// A Synchronize or Guard.Close called by a goroutine inside a section of
// the same Epoch or Guard waits for itself. Builds with the race detector
// detect it and return [ErrSelfWait] at once; others wait until the
// context ends.
package lifecycle
