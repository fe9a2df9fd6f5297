//go:build !quiesce_portable

package lifecycle

import _ "unsafe" // for go:linkname

// The runtime keeps procPin and procUnpin reachable through linkname for
// compatibility ("do not remove or change the type signature", runtime/proc.go),
// so this is stable in practice, but it is not public API: the
// quiesce_portable build tag replaces it with shard_pool.go.

//go:linkname runtimeProcPin runtime.procPin
func runtimeProcPin() int

//go:linkname runtimeProcUnpin runtime.procUnpin
func runtimeProcUnpin()

// shardHint returns a number that is, with high probability, different for
// goroutines running on different processors at the same moment: the
// current P's id. The caller must call shardDone right after, on the same
// goroutine: procPin disables preemption until then. Enter holds the pin
// only long enough to read the id; if the goroutine migrates afterwards,
// correctness is unaffected (every counter is atomic and Exit uses the
// shard recorded in the Ref), only the chance of sharing a cache line
// with another processor rises briefly.
//
// Both are one-line wrappers so that they inline and Enter makes exactly
// the two runtime calls: a shardHint that called both, as a first version
// did, cost one more call (about 1.5 ns here, a third of Enter).
func shardHint() int { return runtimeProcPin() }

func shardDone() { runtimeProcUnpin() }

// shardMode names the shard selection compiled in, for tests and benchmarks.
const shardMode = "procpin"
