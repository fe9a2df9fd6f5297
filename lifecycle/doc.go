// Package lifecycle provides read-side protection for the hottest paths of
// a program. An [Epoch] is to a [sync.RWMutex] what RCU is to a
// reader-writer lock: [Epoch.Enter] is RLock without the shared write, so
// readers on different processors do not contend and never wait for a
// writer, and [Epoch.Synchronize] is Lock followed by Unlock: it returns
// once every reader that was inside when it was called has left. A
// [Guard] is the "enabled" flag that callbacks check before touching their
// owner's state, made correct: [Guard.TryEnter] fails once [Guard.Close]
// has begun, and Close then waits, as sync.WaitGroup's Wait does, for the
// callers already inside.
//
// Readers pay little: Enter and [Ref.Exit] take no lock and, in the common
// case, write only a counter that no other processor writes. The writer
// carries the cost: Synchronize sums the readers' counters and may have to
// wait. The algorithm is that of Linux's sleepable RCU (SRCU);
// docs/design.md in the repository gives it with a proof sketch, and
// lifecycle/model holds the Spin models that check it.
//
// # Memory
//
// An Epoch or Guard is one 128-byte block, the zero value ready to use,
// whatever GOMAXPROCS is. Once two processors have entered it at the same
// moment, it also has a table of GOMAXPROCS pointers, and each processor
// that enters it from then on a 128-byte shard of its own, made the first
// time it enters.
//
// # Processor lookup
//
// The default build finds the processor a reader runs on through a
// runtime function that the Go runtime keeps reachable but does not
// export. Building with the tag quiesce_portable uses no runtime internals
// instead; its Enter costs about the same on one processor and more when
// goroutines enter in parallel on several (docs/benchmarks.md, "Builds"),
// and may allocate after a garbage collection.
//
// # Self-waits
//
// A Synchronize or Guard.Close called by a goroutine inside a section of
// the same Epoch or Guard waits for itself. Builds with the race detector
// detect it and return [ErrSelfWait] at once; others wait until the
// context ends.
//
// # Testing
//
// Synchronize and Guard.Close work inside a testing/synctest bubble and
// keep its fake time: a wait with a deadline ends when the bubble's clock
// reaches it. An Epoch or Guard can be used by one bubble after another
// and outside them, but not from inside and outside a bubble at the same
// time: touching a bubble's channel from outside it is a fatal error of
// the runtime.
package lifecycle
