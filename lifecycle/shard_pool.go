//go:build quiesce_portable

package lifecycle

import (
	"sync"

	"go.uber.org/atomic"
)

// Portable shard selection: a token in a sync.Pool. The pool keeps a
// per-P cache, so a goroutine usually gets back a token last used on the
// same processor, and tokens handed out at the same time are distinct.
// It costs a Get and a Put per Enter (a few nanoseconds more than
// procPin). A random shard per call was rejected: with few shards, two
// cores pick the same one often enough to bounce its cache line.

var (
	nextToken atomic.Uint32
	tokens    = sync.Pool{New: func() any {
		t := int(nextToken.Inc() - 1)
		return &t
	}}
)

func shardHint() int {
	t := tokens.Get().(*int)
	v := *t
	tokens.Put(t)
	return v
}

func shardDone() {}

const shardMode = "pool"
