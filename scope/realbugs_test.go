package scope_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/atomic"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// Real bugs of other callback registries, recreated on a Scope. Each test
// is named after its scenario, and counts that the overlap it is about
// really happened.

// open-telemetry/opentelemetry-go PR #8074: a metrics callback that
// unregisters itself while a collection runs it. OTel's Unregister took
// the pipeline mutex that the collection holds while it runs callbacks,
// and the collection blocked forever; a flag instead of a lock broke "f
// is not called after Unregister returns".
//
// Here the callback is registered with ListenSelf and stops itself with
// Stop, the non-blocking way, while other collections run it too: the
// call returns, the collections go on, Done closes, and no collection
// that began after Stop returned calls it. The variant that calls
// Unlisten from inside fails fast with ErrSelfWait in a race-enabled
// build (waits until its deadline in others), and the callback still ends
// Stopped.
func TestRealBug_OpenTelemetryCallbackUnregistersItselfDuringCollection(t *testing.T) {
	t.Run("Stop from inside", func(t *testing.T) {
		s := scope.New[int]("meter")
		var seq atomic.Int64 // orders collections' starts and Stop's returns
		var collections atomic.Int64
		l := startLoad(t, 4, func() {
			s.Dispatch(bg, int(seq.Inc()))
			collections.Inc()
		})
		var calls, late, useAfterFree, stillInside, stopsWon, stopsWithOthersInside, slowStops atomic.Int64
		ctx := budget(t)
		rounds := 0
		for ctx.Err() == nil && (rounds < 50 || stopsWithOthersInside.Load() < 20) {
			rounds++
			o := &owned{}
			var stoppedAt atomic.Int64 // seq when Stop had returned; 0 before
			h, err := s.ListenSelf("observer", func(self *listener.Handle) listener.Func[int] {
				var n atomic.Int64
				return func(_ context.Context, ev int) listener.Result {
					o.inside.Inc()
					defer o.inside.Dec()
					calls.Inc()
					if at := stoppedAt.Load(); at != 0 && int64(ev) > at {
						late.Inc() // a collection that began after Stop returned
					}
					if o.freed.Load() {
						useAfterFree.Inc()
					}
					runtime.Gosched()
					if n.Inc() == 3 {
						start := time.Now()
						if self.Stop() {
							stoppedAt.Store(seq.Inc())
							stopsWon.Inc()
							if o.inside.Load() > 1 {
								stopsWithOthersInside.Inc() // other collections were in this callback
							}
						}
						if time.Since(start) > atOnce {
							slowStops.Inc()
						}
					}
					if o.freed.Load() {
						useAfterFree.Inc()
					}
					return listener.Defer
				}
			})
			require.NoError(t, err)
			within(t, h.Done(), "the observer's Done after it stopped itself")
			if o.inside.Load() != 0 {
				stillInside.Inc()
			}
			o.freed.Store(true)
			require.Equal(t, listener.Stopped, h.State())
		}
		before := collections.Load()
		require.Eventually(t, func() bool { return collections.Load() > before+100 }, long, time.Millisecond,
			"collections go on after the callbacks stopped themselves")
		l.finish()
		require.NoError(t, s.Close(bg))
		t.Logf("rounds=%d calls=%d self-stops=%d (with other collections inside %d) collections=%d",
			rounds, calls.Load(), stopsWon.Load(), stopsWithOthersInside.Load(), collections.Load())
		assert.Equal(t, int64(rounds), stopsWon.Load(), "every callback's Stop won exactly once")
		assert.Zero(t, late.Load(), "a collection that began after Stop returned called the callback")
		assert.Zero(t, useAfterFree.Load(), "a callback ran after its Done closed and its state was freed")
		assert.Zero(t, stillInside.Load(), "Done closed while a call was running")
		assert.Zero(t, slowStops.Load(), "Stop waited")
		assert.Positive(t, stopsWithOthersInside.Load(), "no callback stopped itself while another collection was inside it")
		assert.Zero(t, l.panics.Load())
		goleak.VerifyNone(t)
	})

	t.Run("Unlisten from inside", func(t *testing.T) {
		s := scope.New[int]("meter")
		var collections atomic.Int64
		l := startLoad(t, 4, func() {
			s.Dispatch(bg, 0)
			collections.Inc()
		})
		var overlapped, rounds int
		ctx := budget(t)
		for ctx.Err() == nil && rounds < 200 && (rounds < 5 || overlapped == 0) {
			rounds++
			var inside atomic.Int32
			var calls atomic.Int64
			var othersInside int32
			done := make(chan timedWait, 1)
			h, err := s.ListenSelf("observer", func(self *listener.Handle) listener.Func[int] {
				var n atomic.Int64
				return func(ctx context.Context, _ int) listener.Result {
					inside.Inc()
					defer inside.Dec()
					calls.Inc()
					runtime.Gosched()
					if n.Inc() == 1 {
						others := inside.Load() - 1
						uctx, cancel := waitCtx(ctx, true)
						w := timeIt(func() error { return s.Unlisten(uctx, self) })
						cancel()
						othersInside = others
						done <- w
					}
					return listener.Defer
				}
			})
			require.NoError(t, err)
			w := within(t, done, "the callback's Unlisten from inside")
			requireSelfWait(t, w)
			within(t, h.Done(), "the observer's Done")
			assert.Equal(t, listener.Stopped, h.State())
			n := calls.Load()
			for i := 0; i < 3; i++ {
				s.Dispatch(bg, 0)
			}
			require.Equal(t, n, calls.Load(), "called after it was Stopped")
			if othersInside > 0 {
				overlapped++
			}
		}
		l.finish()
		require.NoError(t, s.Close(bg))
		t.Logf("rounds=%d rounds where other collections were inside the callback at its Unlisten=%d collections=%d",
			rounds, overlapped, collections.Load())
		assert.Positive(t, overlapped, "no Unlisten from inside overlapped another collection's call")
		assert.Zero(t, l.panics.Load())
		goleak.VerifyNone(t)
	})
}

// elastic/beats PR #50528: the OTel telemetry bridge's Shutdown held the
// bridge's lock across Unregister, and the bridge's callback, running in
// a collection, waited for that lock: Unregister waited for the callback,
// the callback for the lock. A receiver shutdown hung.
//
// Here the owner holds the mutex its listener needs and unlistens with a
// deadline: the error wraps context.DeadlineExceeded and names the
// listener, the stall report names it as running, and once the owner
// releases the lock (the fix: release, then unlisten), Done closes.
func TestRealBug_BeatsOwnerHoldsLockItsListenerNeeds(t *testing.T) {
	stalls := make(chan scope.Stall, 4)
	s := scope.New[int]("otel-bridge", scope.WithStallWarning(time.Millisecond, func(st scope.Stall) { stalls <- st }))
	var mu sync.Mutex // the bridge's lock
	stats := 0        // what the bridge guards with it
	entering := make(chan struct{}, 8)
	var waitingForLock atomic.Int32
	collectStats := func(context.Context, int) listener.Result {
		entering <- struct{}{}
		waitingForLock.Inc()
		mu.Lock()
		waitingForLock.Dec()
		stats++
		mu.Unlock()
		return listener.Defer
	}
	h, err := s.Listen("bridge", collectStats)
	require.NoError(t, err)

	mu.Lock() // Shutdown takes the bridge's lock...
	locked := true
	t.Cleanup(func() {
		if locked {
			mu.Unlock()
		}
	})
	const reads = 2
	var g errgroup.Group
	for i := 0; i < reads; i++ {
		g.Go(func() error { s.Dispatch(bg, 0); return nil }) // ...as metrics reads arrive
	}
	for i := 0; i < reads; i++ {
		within(t, entering, "a collection inside the callback")
	}
	require.Eventually(t, func() bool { return waitingForLock.Load() == reads }, long, 100*time.Microsecond)

	ctx, cancel := context.WithTimeout(bg, short)
	defer cancel()
	err = s.Unlisten(ctx, h) // ...and unregisters while holding it
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, errors.Is(err, ctx.Err()))
	assert.Equal(t, `scope: unlisten "bridge" from "otel-bridge": held up by listener "bridge": context deadline exceeded`, err.Error())
	st := within(t, stalls, "the stall report")
	assert.Equal(t, "otel-bridge", st.Scope)
	assert.Equal(t, "bridge", st.Listener)
	assert.Equal(t, []string{"bridge"}, st.Running)
	assert.Equal(t, reads, st.Inside)
	assert.Equal(t, int32(reads), waitingForLock.Load(), "the callbacks were blocked on the lock throughout")
	assert.Equal(t, listener.Stopping, h.State(), "removed, still draining")
	assert.True(t, notClosed(h.Done()))
	t.Logf("collections blocked on the owner's lock during Unlisten: %d; error: %v", reads, err)

	mu.Unlock() // the fix: release the lock, then unregister
	locked = false
	within(t, h.Done(), "Done once the owner released the lock")
	require.NoError(t, g.Wait())
	assert.Equal(t, listener.Stopped, h.State())
	require.NoError(t, s.Unlisten(bg, h))
	mu.Lock()
	assert.Equal(t, reads, stats, "every blocked call finished its work")
	mu.Unlock()
	require.NoError(t, s.Close(bg))
	goleak.VerifyNone(t)
}

// asaskevich/EventBus #35 and #52: Publish held the bus lock while it ran
// handlers, so a handler that published (or subscribed) on its own bus
// deadlocked. Here handlers Dispatch and Listen on their own scope, and
// Stop listeners of it, from inside, while other goroutines dispatch too:
// nothing deadlocks, a listener added from inside is called by later
// Dispatches, and one stopped from inside is not.
func TestRealBug_EventBusHandlerDispatchesAndListensOnItsOwnScope(t *testing.T) {
	const (
		event1 = 1 // its handler publishes event2 and subscribes a new handler
		event2 = 2
	)
	s := scope.New[int]("bus")
	var seq atomic.Int64 // orders Dispatches' starts (carried in their ctx) and Listens' returns
	var nested, event2Calls, subscribed, lateCalls, calledByLaterDispatch, unsubscribed atomic.Int64
	subs := make(chan *listener.Handle, 1024)
	_, err := s.Listen("event1-handler", func(ctx context.Context, ev int) listener.Result {
		if ev != event1 {
			return listener.Defer
		}
		nested.Inc()
		res := s.Dispatch(ctx, event2) // Publish from a handler (#52)
		if len(subs) < cap(subs)/2 {
			var listenedAt atomic.Int64
			h, err := s.Listen("late", func(ctx context.Context, ev int) listener.Result { // Subscribe from a handler (#35)
				if ev == event2 {
					lateCalls.Inc()
					if at := listenedAt.Load(); at != 0 && dispatchStart(ctx) > at {
						calledByLaterDispatch.Inc()
					}
				}
				return listener.Allow
			})
			if err != nil {
				return listener.Deny
			}
			listenedAt.Store(seq.Inc())
			subscribed.Inc()
			subs <- h
		} else if h := <-subs; h.Stop() { // Unsubscribe from a handler
			unsubscribed.Inc()
		}
		return res
	})
	require.NoError(t, err)
	_, err = s.Listen("event2-handler", func(_ context.Context, ev int) listener.Result {
		if ev == event2 {
			event2Calls.Inc()
		}
		return listener.Defer
	})
	require.NoError(t, err)

	var denied atomic.Int64
	l := startLoad(t, 4, func() {
		if s.Dispatch(withDispatchStart(bg, seq.Inc()), event1) == listener.Deny {
			denied.Inc()
		}
	})
	ctx := budget(t)
	require.Eventually(t, func() bool {
		return ctx.Err() != nil || (nested.Load() >= 2000 && calledByLaterDispatch.Load() >= 100 && unsubscribed.Load() >= 100)
	}, long, time.Millisecond, "the dispatchers are stuck: a deadlock")
	l.finish()

	// One more publish from here: every listener still subscribed is
	// called, and none of those stopped.
	close(subs)
	var live []*listener.Handle
	for h := range subs {
		live = append(live, h)
	}
	stopped := 0
	for i, h := range live {
		if i%2 == 0 {
			require.NoError(t, s.Unlisten(bg, h))
			stopped++
		}
	}
	before := lateCalls.Load()
	want := listener.Defer
	if len(live) > stopped {
		want = listener.Allow
	}
	assert.Equal(t, want, s.Dispatch(withDispatchStart(bg, seq.Inc()), event2))
	assert.Equal(t, int64(len(live)-stopped), lateCalls.Load()-before, "each listener still subscribed, and no stopped one, is called")
	require.NoError(t, s.Close(bg))
	t.Logf("publishes from handlers=%d event2 calls=%d subscribed from handlers=%d (calls of them=%d, by Dispatches begun after their Listen returned=%d) unsubscribed from handlers=%d",
		nested.Load(), event2Calls.Load(), subscribed.Load(), lateCalls.Load(), calledByLaterDispatch.Load(), unsubscribed.Load())
	assert.Zero(t, denied.Load(), "Listen from a handler failed")
	assert.Zero(t, l.panics.Load())
	assert.Positive(t, nested.Load(), "no handler published")
	assert.Positive(t, event2Calls.Load())
	assert.Positive(t, calledByLaterDispatch.Load(), "no listener added from a handler was called by a later Dispatch")
	assert.Positive(t, unsubscribed.Load(), "no handler stopped a listener")
	goleak.VerifyNone(t)
}

type dispatchStartKey struct{}

// withDispatchStart carries, in a Dispatch's context, when it began.
func withDispatchStart(ctx context.Context, at int64) context.Context {
	return context.WithValue(ctx, dispatchStartKey{}, at)
}

// dispatchStart returns when the Dispatch that passed ctx began, or 0.
func dispatchStart(ctx context.Context) int64 {
	at, _ := ctx.Value(dispatchStartKey{}).(int64)
	return at
}
