//go:build go1.25

// testing/synctest needs the timer channels of Go 1.23, and the module's
// go line (1.22) predates them: this file asks for them for the whole test
// binary.
//go:debug asynctimerchan=0

package lifecycle_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/lifecycle"
)

// In a synctest bubble, a Synchronize or Guard.Close behind a reader that
// stays inside returns its context's error at exactly its deadline of fake
// time: the runner's spin ends after a number of checks, not only after a
// time (the bubble's clock does not move while a goroutine spins), and
// every wait blocks on channels of the bubble. Two callers at once: the
// runner and a waiter queued behind it, each at its own deadline.
func TestSynctest_SynchronizeEndsAtItsDeadline(t *testing.T) {
	for _, callers := range []int{1, 2} {
		t.Run(fmt.Sprintf("callers=%d", callers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := lifecycle.NewEpoch()
				leave := inside(t, e.Enter)
				start := time.Now()
				errs := make(chan error, callers)
				took := make(chan time.Duration, callers)
				for i := 1; i <= callers; i++ {
					go func() {
						ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*time.Second)
						defer cancel()
						errs <- e.Synchronize(ctx)
						took <- time.Since(start)
					}()
				}
				for i := 1; i <= callers; i++ {
					require.ErrorIs(t, <-errs, context.DeadlineExceeded)
					assert.Equal(t, time.Duration(i)*time.Second, <-took, "caller %d at its deadline of fake time", i)
				}
				running, waiters := lifecycle.SyncState(e)
				assert.False(t, running)
				assert.Zero(t, waiters)
				leave()
				require.NoError(t, e.Synchronize(context.Background()))
			})
		})
	}
}

func TestSynctest_GuardCloseEndsAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := lifecycle.NewGuard()
		leave := inside(t, func() lifecycle.Ref {
			r, ok := g.TryEnter()
			require.True(t, ok)
			return r
		})
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		require.ErrorIs(t, g.Close(ctx), context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start))
		leave()
		require.NoError(t, g.Close(context.Background()))
	})
}

// pkgEpoch is made outside any bubble and used by one bubble after
// another, and outside them: no channel a bubble made is left behind
// for the next user (touching another bubble's channel is a fatal error).
var pkgEpoch lifecycle.Epoch

func useEpoch(t *testing.T, deadline time.Duration) {
	leave := inside(t, pkgEpoch.Enter)
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ { // a runner that sleeps, and a waiter
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			errs <- pkgEpoch.Synchronize(ctx)
		}()
	}
	require.ErrorIs(t, <-errs, context.DeadlineExceeded)
	require.ErrorIs(t, <-errs, context.DeadlineExceeded)
	done := make(chan error, 1)
	go func() { done <- pkgEpoch.Synchronize(context.Background()) }()
	leave()
	require.NoError(t, <-done)
}

func TestSynctest_PackageLevelEpochAcrossBubbles(t *testing.T) {
	for i := 0; i < 2; i++ {
		t.Run(fmt.Sprintf("bubble %d", i+1), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { useEpoch(t, time.Second) })
		})
	}
	t.Run("outside", func(t *testing.T) { useEpoch(t, short) })
	t.Run("bubble 3, after outside", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) { useEpoch(t, time.Second) })
	})
}
