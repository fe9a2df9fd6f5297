package lifecycle_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/atomic"

	"github.com/quiesce/quiesce/lifecycle"
)

// tryEnter returns an enter function for inside that fails the test if
// the guard refuses entry.
func tryEnter(t *testing.T, g *lifecycle.Guard) func() lifecycle.Ref {
	return func() lifecycle.Ref {
		r, ok := g.TryEnter()
		assert.True(t, ok, "the guard is open")
		return r
	}
}

func TestGuard_RefusesEntryOnceClosing(t *testing.T) {
	g := lifecycle.NewGuard()
	assert.False(t, g.Closed())
	leave := inside(t, tryEnter(t, g))
	assert.Equal(t, 1, g.Inside())

	ctx, cancel := context.WithTimeout(context.Background(), short)
	defer cancel()
	err := g.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "Close returned while a caller was inside")
	assert.True(t, g.Closed(), "a Close that timed out leaves the guard closed")

	r2, ok := g.TryEnter()
	assert.False(t, ok, "TryEnter succeeded after Close began")
	assert.Equal(t, lifecycle.Ref{}, r2)

	leave()
	require.NoError(t, g.Close(context.Background()))
	require.NoError(t, g.Close(context.Background()), "Close is idempotent")
	assert.Zero(t, g.Inside())
}

func TestGuard_ConcurrentClosesAllWait(t *testing.T) {
	g := lifecycle.NewGuard()
	r, ok := g.TryEnter()
	require.True(t, ok)
	const closers = 8
	errs := make(chan error, closers)
	for i := 0; i < closers; i++ {
		go func() { errs <- g.Close(context.Background()) }()
	}
	waitQueuedOn(t, func() (bool, int) { return lifecycle.GuardSyncState(g) }, closers-1)
	select {
	case err := <-errs:
		t.Fatalf("Close returned %v while a caller was inside", err)
	default:
	}
	r.Exit()
	for i := 0; i < closers; i++ {
		require.NoError(t, <-errs)
	}
}

func TestGuard_ZeroValueIsOpen(t *testing.T) {
	var g lifecycle.Guard
	leave := inside(t, tryEnter(t, &g)) // the zero Guard is open
	ctx, cancel := context.WithTimeout(context.Background(), short)
	defer cancel()
	require.ErrorIs(t, g.Close(ctx), context.DeadlineExceeded, "and waits for callers inside")
	leave()
	require.NoError(t, g.Close(context.Background()))
	_, ok := g.TryEnter()
	assert.False(t, ok)
}

// TestGuard_Hammer: callers use the guarded object between TryEnter and
// Exit while the owner closes the guard and frees the object. It counts
// the callers that were inside when Close began (they saw Closed() while
// still holding their Ref), so a pass is not vacuous.
func TestGuard_Hammer(t *testing.T) {
	const rounds = 300
	var uses, overlapped, useAfterFree atomic.Int64
	for round := 0; round < rounds; round++ {
		g := lifecycle.NewGuard()
		var freed atomic.Bool
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					r, ok := g.TryEnter()
					if !ok {
						return
					}
					if freed.Load() {
						useAfterFree.Inc()
					}
					runtime.Gosched()
					if g.Closed() {
						overlapped.Inc()
					}
					if freed.Load() {
						useAfterFree.Inc()
					}
					uses.Inc()
					r.Exit()
				}
			}()
		}
		runtime.Gosched()
		require.NoError(t, g.Close(context.Background()))
		freed.Store(true)
		wg.Wait()
	}
	t.Logf("uses=%d overlapped=%d rounds=%d", uses.Load(), overlapped.Load(), rounds)
	assert.Zero(t, useAfterFree.Load(), "a caller used the object after Close returned")
	assert.Positive(t, overlapped.Load(), "no caller was inside when Close began: the test exercised nothing")
}
