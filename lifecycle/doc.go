// Package lifecycle provides the read-side protection that quiesce is built
// on: an [Epoch], an RCU-style domain whose [Epoch.Synchronize] waits for
// every reader that entered before it, and a [Guard], rundown protection
// that refuses new readers once it is closing and then waits for the ones
// already inside.
//
// Both are meant for the hottest path of a program. [Epoch.Enter] and
// [Ref.Exit] take no lock, allocate nothing and, in the common case, write
// only to a cache line owned by the processor the caller runs on, so
// readers on different cores never contend with each other. The cost is
// carried by the writer: Synchronize sums per-processor counters and may
// have to wait.
//
// The algorithm is that of Linux's sleepable RCU (SRCU): two sets of
// per-shard enter/exit counters selected by an index, and a grace period
// that waits for the inactive index to drain, flips the index, then waits
// for the previously active index to drain. See docs/design.md in the
// repository for the proof sketch and lifecycle/model for the Spin model
// that checks it.
//
// # Shard selection
//
// By default Enter picks its shard from the number of the processor (the
// runtime's P) it runs on, read through the runtime's procPin, which the Go
// runtime keeps reachable for compatibility but does not export. Building
// with the tag quiesce_portable replaces this with a token kept in a
// [sync.Pool]; it is slower by a few nanoseconds a call, uses no runtime
// internals, and allocates a token again whenever a garbage collection
// has emptied the pool (the default build never allocates in Enter).
package lifecycle
