package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/lifecycle"
)

// Misuse of a Guard, beyond TestEpoch_Misuse:
// every detected misuse panics with a "lifecycle: " message, and what the
// docs call a deadlock is one that a deadline ends.

func TestGuard_Misuse(t *testing.T) {
	t.Run("Exit of the Ref of a refused TryEnter panics", func(t *testing.T) {
		g := lifecycle.NewGuard()
		require.NoError(t, g.Close(context.Background()))
		r, ok := g.TryEnter()
		require.False(t, ok)
		require.PanicsWithValue(t,
			"lifecycle: Exit of a zero Ref (one not returned by Enter or a successful TryEnter)",
			r.Exit)
	})
	t.Run("second Exit of a Guard Ref panics and the Guard still drains", func(t *testing.T) {
		g := lifecycle.NewGuard()
		r, ok := g.TryEnter()
		require.True(t, ok)
		r.Exit()
		require.PanicsWithValue(t, "lifecycle: Ref exited more times than it was entered", r.Exit)
		assert.Zero(t, g.Inside(), "the counts stay balanced")
		leave := inside(t, tryEnter(t, g))
		ctx, cancel := context.WithTimeout(context.Background(), short)
		defer cancel()
		require.ErrorIs(t, g.Close(ctx), context.DeadlineExceeded, "a caller still inside is waited for")
		leave()
		require.NoError(t, g.Close(context.Background()))
	})
	t.Run("Close from inside the Guard fails fast under -race, else waits until the deadline", func(t *testing.T) {
		g := lifecycle.NewGuard()
		r, ok := g.TryEnter()
		require.True(t, ok)
		ctx, cancel := context.WithTimeout(context.Background(), short)
		defer cancel()
		start := time.Now()
		err := g.Close(ctx) // a self-wait
		if lifecycle.SelfWaitDetection {
			require.ErrorIs(t, err, lifecycle.ErrSelfWait)
			assert.Less(t, time.Since(start), short, "at once, not at the deadline")
		} else {
			require.ErrorIs(t, err, context.DeadlineExceeded)
		}
		assert.True(t, g.Closed(), "the Guard stays closed")
		_, ok = g.TryEnter()
		assert.False(t, ok, "and refuses entry")
		r.Exit()
		require.NoError(t, g.Close(context.Background()))
	})
}

// A nil context is a programming error, as in the standard library: it
// panics with a "lifecycle: " message before anything changes (the Guard
// stays open, the Epoch has no runner).
func TestMisuse_NilContextPanicsBeforeAnyChange(t *testing.T) {
	e := lifecycle.NewEpoch()
	leave := inside(t, e.Enter) // so that a grace period would have to wait
	//lint:ignore SA1012 the nil context is the point
	require.PanicsWithValue(t, "lifecycle: Synchronize: nil Context", func() { _ = e.Synchronize(nil) })
	running, waiters := lifecycle.SyncState(e)
	assert.False(t, running)
	assert.Zero(t, waiters)
	leave()
	require.NoError(t, e.Synchronize(context.Background()))

	g := lifecycle.NewGuard()
	//lint:ignore SA1012 the nil context is the point
	require.PanicsWithValue(t, "lifecycle: Guard.Close: nil Context", func() { _ = g.Close(nil) })
	assert.False(t, g.Closed(), "the Guard stays open")
	r, ok := g.TryEnter()
	require.True(t, ok)
	r.Exit()
	require.NoError(t, g.Close(context.Background()))
}

// panicCtx is a context whose Err panics: a caller's context is the
// caller's code, and a grace period calls it in the middle of its work
// (after it became the runner, raised the hurry flag, or queued as a
// waiter). Done works, so that a waiter can block on it.
type panicCtx struct {
	context.Context
}

func (panicCtx) Err() error { panic("ctx: Err") }

// A panic that leaves Synchronize or Guard.Close in the middle of a grace
// period leaves the Epoch or Guard usable: the runner role is given up,
// the hurry flag lowered, a waiter no longer counted, and the next caller
// is served.
func TestMisuse_PanicInAGracePeriodLeavesNothingBehind(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	t.Run("Epoch, as the runner", func(t *testing.T) {
		e := lifecycle.NewEpoch()
		leave := inside(t, e.Enter)
		require.PanicsWithValue(t, "ctx: Err", func() { _ = e.Synchronize(panicCtx{ended}) })
		running, waiters := lifecycle.SyncState(e)
		assert.False(t, running, "the runner role was given up")
		assert.Zero(t, waiters)
		ctx, cancel := context.WithTimeout(context.Background(), short)
		defer cancel()
		require.ErrorIs(t, e.Synchronize(ctx), context.DeadlineExceeded, "the reader is still waited for")
		leave()
		require.NoError(t, e.Synchronize(context.Background()))
	})
	t.Run("Epoch, as a waiter behind the runner", func(t *testing.T) {
		e := lifecycle.NewEpoch()
		leave := inside(t, e.Enter)
		runner := make(chan error, 1)
		go func() { runner <- e.Synchronize(context.Background()) }()
		waitQueued(t, e, 0)
		ctx, cancelW := context.WithCancel(context.Background())
		waiter := make(chan any, 1)
		go func() {
			defer func() { waiter <- recover() }()
			_ = e.Synchronize(panicCtx{ctx})
		}()
		waitQueued(t, e, 1)
		cancelW() // the waiter wakes on Done, then calls Err
		assert.Equal(t, "ctx: Err", <-waiter)
		_, waiters := lifecycle.SyncState(e)
		assert.Zero(t, waiters, "the waiter is no longer counted")
		leave()
		require.NoError(t, <-runner)
		require.NoError(t, e.Synchronize(context.Background()))
	})
	t.Run("Guard", func(t *testing.T) {
		g := lifecycle.NewGuard()
		leave := inside(t, tryEnter(t, g))
		require.PanicsWithValue(t, "ctx: Err", func() { _ = g.Close(panicCtx{ended}) })
		assert.True(t, g.Closed())
		leave()
		require.NoError(t, g.Close(context.Background()))
	})
}
