//go:build go1.25

// testing/synctest needs the timer channels of Go 1.23, and the module's
// go line (1.22) predates them: this file asks for them for the whole test
// binary.
//go:debug asynctimerchan=0

package scope_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// Inside a synctest bubble the clock moves only when every goroutine of the
// bubble is blocked, so a wait keeps fake time exactly only if it blocks
// (no spin that waits for the clock) and blocks on channels and timers of
// the bubble (a goroutine blocked on anything else does not count as
// blocked, and the clock stops).

// bubbleBlocker is a listener whose calls of event 1 block until release is
// closed. Made inside a bubble, its channel belongs to the bubble.
type bubbleBlocker struct {
	entered chan struct{} // a call of event 1 is inside
	release chan struct{}
	once    sync.Once
}

func newBubbleBlocker() *bubbleBlocker {
	return &bubbleBlocker{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (b *bubbleBlocker) fn(_ context.Context, ev int) listener.Result {
	if ev == 1 {
		b.entered <- struct{}{}
		<-b.release
	}
	return listener.Allow
}

func (b *bubbleBlocker) open() { b.once.Do(func() { close(b.release) }) }

// waitOps are the three waits of a Scope, each for the listener h (Close:
// for every listener).
var waitOps = []struct {
	name string
	what string // how the error names the wait
	call func(ctx context.Context, s *scope.Scope[int], h *listener.Handle) error
}{
	{"Unlisten", `unlisten "blocked" from "bubble"`, func(ctx context.Context, s *scope.Scope[int], h *listener.Handle) error {
		return s.Unlisten(ctx, h)
	}},
	{"Handle.Wait", `wait for "blocked" of "bubble"`, func(ctx context.Context, s *scope.Scope[int], h *listener.Handle) error {
		h.Stop()
		return h.Wait(ctx)
	}},
	{"Close", `close "bubble"`, func(ctx context.Context, s *scope.Scope[int], _ *listener.Handle) error {
		return s.Close(ctx)
	}},
}

// In a bubble, a wait behind a blocked listener returns its context's
// error at exactly its deadline of fake time, naming the listener; a stall
// warning reports at exactly its delay; once the listener returns, the
// same wait returns nil. For every wait, shared and isolated.
func TestSynctest_WaitsEndAtTheirDeadline(t *testing.T) {
	for _, op := range waitOps {
		for _, iso := range []bool{false, true} {
			for _, warn := range []bool{false, true} {
				name := fmt.Sprintf("%s/isolated=%v/stall-warning=%v", op.name, iso, warn)
				t.Run(name, func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						var stalls []scope.Stall
						var opts []scope.Option
						if iso {
							opts = append(opts, scope.WithIsolation())
						}
						if warn {
							opts = append(opts, scope.WithStallWarning(100*time.Millisecond, func(st scope.Stall) {
								stalls = append(stalls, st)
							}))
						}
						s := scope.New[int]("bubble", opts...)
						b := newBubbleBlocker()
						h, err := s.Listen("blocked", b.fn)
						require.NoError(t, err)
						dispatched := make(chan listener.Result, 1)
						go func() { dispatched <- s.Dispatch(bg, 1) }()
						synctest.Wait() // the Dispatch is blocked inside the listener

						start := time.Now()
						ctx, cancel := context.WithTimeout(bg, time.Second)
						defer cancel()
						err = op.call(ctx, s, h)
						require.ErrorIs(t, err, context.DeadlineExceeded)
						assert.Equal(t, time.Second, time.Since(start), "returned at its deadline of fake time")
						assert.Equal(t, "scope: "+op.what+`: held up by listener "blocked": context deadline exceeded`, err.Error())
						if warn {
							require.Len(t, stalls, 1)
							assert.Equal(t, 100*time.Millisecond, stalls[0].Waited, "reported at its delay of fake time")
							assert.Equal(t, []string{"blocked"}, stalls[0].Running)
						}

						b.open()
						assert.Equal(t, listener.Allow, <-dispatched)
						require.NoError(t, op.call(bg, s, h))
						assert.Equal(t, listener.Stopped, h.State())
						assert.Equal(t, time.Second, time.Since(start), "no time passed once nothing blocked")
						require.NoError(t, s.Close(bg))
					})
				})
			}
		}
	}
}

// pkgScope is a Scope made outside any bubble and used by one bubble after
// another, and outside them.
var pkgScope = scope.New[int]("pkg")

// useScope runs on s what makes every wait make its channels: a listener
// blocked in a Dispatch, an Unlisten that times out behind it (a grace
// period that sleeps, a waiter), a Stop that starts a background drain, a
// Handle whose Done is asked for, a Close-like wait for all, then the
// listener released and everything drained.
func useScope(t *testing.T, s *scope.Scope[int], deadline time.Duration) {
	b := newBubbleBlocker()
	h, err := s.Listen("blocked", b.fn)
	require.NoError(t, err)
	other, err := s.Listen("other", answer(listener.Defer))
	require.NoError(t, err)
	done := other.Done()
	dispatched := make(chan listener.Result, 1)
	go func() { dispatched <- s.Dispatch(bg, 1) }()
	<-b.entered

	ctx, cancel := context.WithTimeout(bg, deadline)
	defer cancel()
	require.ErrorIs(t, s.Unlisten(ctx, h), context.DeadlineExceeded)
	require.True(t, other.Stop())
	b.open()
	assert.Equal(t, listener.Allow, <-dispatched)
	require.NoError(t, s.Unlisten(bg, h))
	<-done
	require.NoError(t, other.Wait(bg))
	assert.Equal(t, 0, s.Len())
}

// A Scope made outside any bubble can be used by one bubble, then by
// another, then outside both: no channel one bubble made is left for the
// next to touch (touching another bubble's channel is a fatal error, and
// blocking on a channel made outside a bubble stops the bubble's clock).
func TestSynctest_PackageLevelScopeAcrossBubbles(t *testing.T) {
	for i := 0; i < 2; i++ {
		t.Run(fmt.Sprintf("bubble %d", i+1), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				useScope(t, pkgScope, time.Second)
				assert.Equal(t, time.Second, time.Since(start))
			})
		})
	}
	t.Run("outside", func(t *testing.T) {
		useScope(t, pkgScope, short)
	})
	t.Run("bubble 3, after outside", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			useScope(t, pkgScope, time.Second)
		})
	})
}

// TestSynctest_DocExample is the example of docs/concurrency.md, "Testing
// with testing/synctest", as it is printed there: keep the two in step.
func TestSynctest_DocExample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scope.New[string]("fileop")
		release := make(chan struct{})
		h, err := s.Listen("driver", func(ctx context.Context, op string) listener.Result {
			<-release // a call that does not return until the test says so
			return listener.Allow
		})
		if err != nil {
			t.Fatal(err)
		}
		go s.Dispatch(context.Background(), "open")
		synctest.Wait() // every other goroutine of the bubble is blocked: the call is inside

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err = s.Unlisten(ctx, h) // returns at once, at exactly 5 s of the bubble's clock
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Fatalf("Unlisten = %v after %v", err, time.Since(start))
		}

		close(release) // the call returns; the listener's drain ends
		if err := s.Unlisten(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	})
}
