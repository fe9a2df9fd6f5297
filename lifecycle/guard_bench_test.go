package lifecycle_test

import (
	"sync"
	"testing"

	"github.com/quiesce/quiesce/lifecycle"
)

// rwGuard is the reference for Guard: rundown protection built from an
// RWMutex, a reader holding the read lock while it checks the flag and
// uses the object, Close taking the write lock to set the flag.
type rwGuard struct {
	mu     sync.RWMutex
	closed bool
}

func (g *rwGuard) tryEnter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *rwGuard) exit() { g.mu.RUnlock() }

var guards = []readSection{
	{
		// The subject: TryEnter on an open Guard, then Exit.
		name: "guard",
		serial: func(b *testing.B) {
			g := lifecycle.NewGuard()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r, ok := g.TryEnter(); ok {
					r.Exit()
				}
			}
		},
		parallel: func(b *testing.B) {
			shared := lifecycle.NewGuard()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				g := shared // a local copy, not a read through the closure
				for pb.Next() {
					if r, ok := g.TryEnter(); ok {
						r.Exit()
					}
				}
			})
		},
	},
	readSections[0], // the bare Epoch under the Guard: the flag's cost is the difference
	{
		name: "rwmutex",
		serial: func(b *testing.B) {
			g := new(rwGuard)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if g.tryEnter() {
					g.exit()
				}
			}
		},
		parallel: func(b *testing.B) {
			shared := new(rwGuard)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				g := shared
				for pb.Next() {
					if g.tryEnter() {
						g.exit()
					}
				}
			})
		},
	},
}

// BenchmarkGuard measures Guard.TryEnter on an open guard followed by
// Ref.Exit, against the bare Epoch it is built on and against the same
// rundown protection built from an RWMutex.
func BenchmarkGuard(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		for _, s := range guards {
			b.Run(modeName(parallel)+"/impl="+s.name, func(b *testing.B) {
				benchReadSection(b, s, parallel)
			})
		}
	}
}
