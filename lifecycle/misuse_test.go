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
