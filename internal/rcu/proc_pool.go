//go:build quiesce_portable

package rcu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Portable processor lookup: a token in a sync.Pool. The pool keeps a
// per-P cache, so a goroutine usually gets back a token last used on the
// same processor, and tokens handed out at the same time are distinct.
// It costs a Get and a Put per lookup, and it allocates a token again
// whenever a garbage collection has emptied the pool. A random number per
// call was rejected: with few shards, two cores pick the same one often
// enough to bounce its line.

var (
	nextToken atomic.Int32
	tokens    = sync.Pool{New: func() any {
		// Modulo GOMAXPROCS, read when a token is made (rarely: the
		// call takes the scheduler's lock), so that tokens made after
		// every collection do not keep widening the processor table.
		t := int(nextToken.Add(1)-1) % runtime.GOMAXPROCS(0)
		return &t
	}}
)

// Pin returns a small number that is, with high probability, different
// for goroutines running on different processors at the same moment.
func Pin() int {
	t := tokens.Get().(*int)
	v := *t
	tokens.Put(t)
	return v
}

// Unpin ends a Pin; here it has nothing to do.
func Unpin() {}

// ProcMode names the processor lookup compiled in.
const ProcMode = "pool"
