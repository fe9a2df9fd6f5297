//go:build !quiesce_portable

package rcu

import (
	_ "unsafe" // for go:linkname
)

// The runtime keeps procPin and procUnpin reachable through linkname for
// compatibility ("do not remove or change the type signature",
// runtime/proc.go), so this is stable in practice, but it is not public
// API: the quiesce_portable build tag replaces it with proc_pool.go.

//go:linkname runtimeProcPin runtime.procPin
func runtimeProcPin() int

//go:linkname runtimeProcUnpin runtime.procUnpin
func runtimeProcUnpin()

// Pin returns the id of the processor (the runtime's P) the caller runs
// on; the caller must call Unpin right after, on the same goroutine (Pin
// disables preemption until then). Read the id and unpin at once: if the
// goroutine migrates afterwards, nothing breaks (every counter is atomic
// and Exit uses the pair Enter counted on), only the chance of sharing a
// line rises for that one section.
//
// Pin and Unpin are one-line wrappers so that each inlines and a caller
// makes exactly the two runtime calls; a function that called both would
// be over the inliner's budget and cost a third call.
func Pin() int { return runtimeProcPin() }

// Unpin ends a Pin.
func Unpin() { runtimeProcUnpin() }

// ProcMode names the processor lookup compiled in, for tests and
// benchmarks.
const ProcMode = "procpin"
