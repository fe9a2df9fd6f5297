package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/lifecycle"
)

// Waits from inside a section of the same domain (ErrSelfWait), beyond
// TestGuard_Misuse. Every test passes in both builds: with the race
// detector (lifecycle.SelfWaitDetection) a self-wait returns an error
// wrapping ErrSelfWait at once; without it, it waits until its context
// ends, which is then short. What is not a self-wait returns nil in both.

const (
	swDeadline = 10 * time.Second // a detected self-wait returns long before
	swAtOnce   = time.Second
)

// swCtx returns the context for a wait that is a self-wait (selfWait) or
// not.
func swCtx(selfWait bool) (context.Context, context.CancelFunc) {
	if selfWait && !lifecycle.SelfWaitDetection {
		return context.WithTimeout(context.Background(), short)
	}
	return context.WithTimeout(context.Background(), swDeadline)
}

// swRequireSelfWait runs wait, a self-wait, and checks its outcome.
func swRequireSelfWait(t *testing.T, wait func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := swCtx(true)
	defer cancel()
	start := time.Now()
	err := wait(ctx)
	took := time.Since(start)
	if lifecycle.SelfWaitDetection {
		require.ErrorIs(t, err, lifecycle.ErrSelfWait)
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, took, swAtOnce, "at once, not at the deadline")
		return
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, lifecycle.ErrSelfWait)
}

// swRequireNoWait runs wait, which has nothing to wait for and is not a
// self-wait: nil, at once.
func swRequireNoWait(t *testing.T, wait func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := swCtx(false)
	defer cancel()
	start := time.Now()
	require.NoError(t, wait(ctx))
	assert.Less(t, time.Since(start), swAtOnce)
}

// swHandedSection hands section r, entered by the test's goroutine, to
// another goroutine that exits it, and waits with wait meanwhile. With
// detection the wait is reported as a self-wait, as documented, although
// the other goroutine may exit the section; without, it ends once the
// other goroutine exits (running reports the wait's grace period under
// way). Afterwards wait has nothing to wait for.
func swHandedSection(t *testing.T, r lifecycle.Ref, wait func(ctx context.Context) error, running func() bool) {
	t.Helper()
	handed := make(chan lifecycle.Ref)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		(<-handed).Exit()
	}()
	if lifecycle.SelfWaitDetection {
		swRequireSelfWait(t, wait)
		handed <- r
	} else {
		errc := make(chan error, 1)
		go func() { ctx, cancel := swCtx(false); defer cancel(); errc <- wait(ctx) }()
		waitQueuedOn(t, func() (bool, int) { return running(), 0 }, 0)
		handed <- r
		require.NoError(t, <-errc)
	}
	<-exited
	swRequireNoWait(t, wait)
}

func TestEpoch_SelfWait(t *testing.T) {
	t.Run("Synchronize inside a section of the same Epoch", func(t *testing.T) {
		e := lifecycle.NewEpoch()
		before := lifecycle.GracePeriods(e)
		r := e.Enter()
		swRequireSelfWait(t, e.Synchronize)
		if lifecycle.SelfWaitDetection {
			running, waiters := lifecycle.SyncState(e)
			assert.False(t, running, "nothing left behind: no grace period running")
			assert.Zero(t, waiters)
			assert.Equal(t, before, lifecycle.GracePeriods(e), "no grace period was run")
			assert.Contains(t, e.Synchronize(context.Background()).Error(), "lifecycle: Synchronize from inside a section it would wait for")
		}
		assert.Equal(t, 1, e.Inside())
		r.Exit()
		swRequireNoWait(t, e.Synchronize)
		assert.Zero(t, e.Inside())
	})
	t.Run("nested sections, one exited", func(t *testing.T) {
		e := lifecycle.NewEpoch()
		outer := e.Enter()
		e.Enter().Exit()
		swRequireSelfWait(t, e.Synchronize)
		outer.Exit()
		swRequireNoWait(t, e.Synchronize)
	})
	t.Run("a section that exited is not", func(t *testing.T) {
		e := lifecycle.NewEpoch()
		for i := 0; i < 3; i++ {
			e.Enter().Exit()
		}
		swRequireNoWait(t, e.Synchronize)
	})
	t.Run("a section of another Epoch is not", func(t *testing.T) {
		e1, e2 := lifecycle.NewEpoch(), lifecycle.NewEpoch()
		r := e1.Enter()
		swRequireNoWait(t, e2.Synchronize)
		r.Exit()
	})
	t.Run("a section of a Guard is not", func(t *testing.T) {
		e, g := lifecycle.NewEpoch(), lifecycle.NewGuard()
		r, ok := g.TryEnter()
		require.True(t, ok)
		swRequireNoWait(t, e.Synchronize)
		r.Exit()
	})
	t.Run("a section of another goroutine is waited for, not a self-wait", func(t *testing.T) {
		e := lifecycle.NewEpoch()
		leave := inside(t, e.Enter)
		ctx, cancel := context.WithTimeout(context.Background(), short)
		defer cancel()
		err := e.Synchronize(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, lifecycle.ErrSelfWait)
		leave()
		swRequireNoWait(t, e.Synchronize)
	})
	t.Run("a section handed to another goroutine is still the caller's", func(t *testing.T) {
		e := lifecycle.NewEpoch()
		swHandedSection(t, e.Enter(), e.Synchronize, func() bool { running, _ := lifecycle.SyncState(e); return running })
	})
	t.Run("a section exited by another goroutine is no longer the caller's", func(t *testing.T) {
		e := lifecycle.NewEpoch()
		r := e.Enter()
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			r.Exit()
		}()
		<-exited
		swRequireNoWait(t, e.Synchronize)
	})
}

func TestGuard_SelfWait(t *testing.T) {
	t.Run("Close inside a section of the same Guard, nested", func(t *testing.T) {
		g := lifecycle.NewGuard()
		outer, ok := g.TryEnter()
		require.True(t, ok)
		inner, ok := g.TryEnter()
		require.True(t, ok)
		inner.Exit()
		swRequireSelfWait(t, g.Close)
		assert.True(t, g.Closed())
		if lifecycle.SelfWaitDetection {
			assert.Contains(t, g.Close(context.Background()).Error(), "lifecycle: Guard.Close from inside a section it would wait for")
		}
		outer.Exit()
		swRequireNoWait(t, g.Close)
	})
	t.Run("Close inside a section of another Guard is not", func(t *testing.T) {
		g1, g2 := lifecycle.NewGuard(), lifecycle.NewGuard()
		r, ok := g1.TryEnter()
		require.True(t, ok)
		swRequireNoWait(t, g2.Close)
		assert.True(t, g2.Closed())
		assert.False(t, g1.Closed())
		r.Exit()
	})
	t.Run("Close inside a section of an Epoch is not", func(t *testing.T) {
		e, g := lifecycle.NewEpoch(), lifecycle.NewGuard()
		r := e.Enter()
		swRequireNoWait(t, g.Close)
		r.Exit()
	})
	t.Run("Close after the section exited is not", func(t *testing.T) {
		g := lifecycle.NewGuard()
		r, ok := g.TryEnter()
		require.True(t, ok)
		r.Exit()
		swRequireNoWait(t, g.Close)
	})
	t.Run("a refused TryEnter leaves no section behind", func(t *testing.T) {
		g := lifecycle.NewGuard()
		swRequireNoWait(t, g.Close)
		for i := 0; i < 3; i++ {
			_, ok := g.TryEnter()
			require.False(t, ok)
		}
		swRequireNoWait(t, g.Close)
	})
	t.Run("Synchronize inside a Guard section is not", func(t *testing.T) {
		e, g := lifecycle.NewEpoch(), lifecycle.NewGuard()
		r, ok := g.TryEnter()
		require.True(t, ok)
		swRequireNoWait(t, e.Synchronize)
		r.Exit()
	})
	t.Run("a section handed to another goroutine is still the caller's", func(t *testing.T) {
		g := lifecycle.NewGuard()
		r, ok := g.TryEnter()
		require.True(t, ok)
		swHandedSection(t, r, g.Close, func() bool { running, _ := lifecycle.GuardSyncState(g); return running })
	})
}
