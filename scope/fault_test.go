package scope_test

import (
	"context"
	"errors"
	"fmt"
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

// Stress and fault tests: callbacks that panic, block, re-enter, stop
// themselves or listen others, all under concurrent dispatch; Close racing
// Listen and Unlisten; contexts that end at every stage; a churn of 10,000
// listeners. Each test counts that the race it is about really happened,
// and ends with goleak.VerifyNone.

// owned is what a listener's owner frees once the listener has drained:
// the Go stand-in for the kext's driver object.
type owned struct {
	unlistening atomic.Bool  // the owner has begun removing the listener
	freed       atomic.Bool  // the owner has released the object
	inside      atomic.Int32 // calls running now
}

// watch counts what the guarantee forbids (useAfterFree, stillInside) and
// what shows the race was exercised (overlapped: calls still running when
// their owner had begun to remove the listener).
type watch struct {
	calls, overlapped, useAfterFree, stillInside atomic.Int64
}

// use is what every callback of these tests does with its owner's object:
// touch it, yield to widen the window, touch it again.
func (w *watch) use(o *owned) {
	o.inside.Inc()
	if o.freed.Load() {
		w.useAfterFree.Inc()
	}
	runtime.Gosched()
	if o.unlistening.Load() {
		w.overlapped.Inc()
	}
	if o.freed.Load() {
		w.useAfterFree.Inc()
	}
	o.inside.Dec()
	w.calls.Inc()
}

// free is what the owner does once Unlisten returned nil or Done closed.
func (w *watch) free(o *owned) {
	if o.inside.Load() != 0 {
		w.stillInside.Inc()
	}
	o.freed.Store(true)
}

// enough reports whether the run has shown the race often enough to stop.
func (w *watch) enough() bool { return w.overlapped.Load() >= 500 && w.calls.Load() >= 20000 }

func (w *watch) verify(t *testing.T) {
	t.Helper()
	t.Logf("calls=%d overlapped=%d", w.calls.Load(), w.overlapped.Load())
	assert.Zero(t, w.useAfterFree.Load(), "a callback touched its object after Unlisten returned or Done closed")
	assert.Zero(t, w.stillInside.Load(), "a callback was running when Unlisten returned or Done closed")
	assert.Positive(t, w.calls.Load(), "no callback ran")
	assert.Positive(t, w.overlapped.Load(), "no callback overlapped its removal: the race was not exercised")
}

// load runs dispatcher goroutines until finish (or the end of the test,
// if that comes first: a failing test must not leave them running into the
// next one's leak check). Panics that reach a dispatcher are recovered and
// counted.
type load struct {
	dispatches atomic.Int64 // 64-bit counters first, for 386 (see cObj)
	panics     atomic.Int64
	stop       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

func startLoad(t testing.TB, n int, dispatch func()) *load {
	l := &load{stop: make(chan struct{})}
	t.Cleanup(l.finish)
	for i := 0; i < n; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				func() {
					defer func() {
						if recover() != nil {
							l.panics.Inc()
						}
					}()
					dispatch()
				}()
				// Yield now and then: with more busy dispatchers than
				// cores, owners and drains would otherwise run only at the
				// scheduler's 10 ms preemption tick.
				if l.dispatches.Inc()%16 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	return l
}

func (l *load) finish() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// budget bounds the loops that run until the race has been seen often
// enough; the tests fail if it has not been seen at all by then.
func budget(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(bg, time.Second)
	t.Cleanup(cancel)
	return ctx
}

// within receives from c, failing the test if nothing comes for long: a
// broken scope must make these tests fail, not hang.
func within[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(long)
	defer timer.Stop()
	select {
	case v := <-c:
		return v
	case <-timer.C:
		t.Fatalf("nothing after %v: %s", long, what)
		panic("unreachable")
	}
}

// churn has owners listen and unlisten listeners built by mk until w
// has seen the race often enough (or the budget ends), freeing each
// object as soon as Unlisten returns.
func churn(t *testing.T, s *scope.Scope[int], owners int, w *watch, mk func(o *owned) listener.Func[int]) int64 {
	t.Helper()
	ctx := budget(t)
	var cycles atomic.Int64
	var g errgroup.Group
	for i := 0; i < owners; i++ {
		g.Go(func() error {
			for ctx.Err() == nil && !w.enough() {
				o := &owned{}
				h, err := s.Listen("owned", mk(o))
				if err != nil {
					return err
				}
				for j := 0; j < 3; j++ {
					runtime.Gosched() // let dispatchers pick it up
				}
				o.unlistening.Store(true)
				uctx, cancel := context.WithTimeout(bg, long)
				err = s.Unlisten(uctx, h)
				cancel()
				if err != nil {
					return err
				}
				w.free(o)
				cycles.Inc()
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	return cycles.Load()
}

func TestFault_PanickingCallbacksUnderLoad(t *testing.T) {
	for _, handled := range []bool{false, true} {
		t.Run(fmt.Sprintf("panic handler=%v", handled), func(t *testing.T) {
			var handlerCalls atomic.Int64
			var opts []scope.Option
			if handled {
				opts = append(opts, scope.WithPanicHandler(func(string, any) listener.Result {
					handlerCalls.Inc()
					return listener.Deny
				}))
			}
			s := scope.New[int]("panics", opts...)
			var w watch
			var panicked, panickedWhileRemoved atomic.Int64
			l := startLoad(t, 3, func() { s.Dispatch(bg, 0) })
			cycles := churn(t, s, 3, &w, func(o *owned) listener.Func[int] {
				var n atomic.Int64
				return func(context.Context, int) listener.Result {
					w.use(o)
					if n.Inc()%2 == 1 {
						panicked.Inc()
						if o.unlistening.Load() {
							panickedWhileRemoved.Inc()
						}
						panic("boom")
					}
					return listener.Allow
				}
			})
			l.finish()
			require.NoError(t, s.Close(bg))
			t.Logf("cycles=%d dispatches=%d panics=%d (while being removed %d) recovered by dispatchers=%d by the handler=%d",
				cycles, l.dispatches.Load(), panicked.Load(), panickedWhileRemoved.Load(), l.panics.Load(), handlerCalls.Load())
			w.verify(t)
			assert.Positive(t, panicked.Load(), "no callback panicked")
			assert.Positive(t, panickedWhileRemoved.Load(), "no panic raced an Unlisten")
			if handled {
				assert.Zero(t, l.panics.Load(), "a panic reached Dispatch's caller despite the handler")
				assert.Equal(t, panicked.Load(), handlerCalls.Load(), "the handler sees every panic")
			} else {
				assert.Equal(t, panicked.Load(), l.panics.Load(), "every panic reaches Dispatch's caller")
				assert.Zero(t, handlerCalls.Load())
			}
			goleak.VerifyNone(t)
		})
	}
}

// A callback that blocks holds up Unlisten (of itself and, as documented,
// of every other listener of the scope) until the deadline, and Done
// closes once it returns; Dispatch on other goroutines is not held up.
func TestFault_BlockingCallback(t *testing.T) {
	s := scope.New[int]("blocking")
	const blocked = 3
	inside := make(chan struct{}, blocked)
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // if the test fails early, let the blocked Dispatches go
	hb, err := s.Listen("blocker", func(_ context.Context, ev int) listener.Result {
		if ev == 1 {
			inside <- struct{}{}
			<-release
		}
		return listener.Allow
	})
	require.NoError(t, err)
	hq, err := s.Listen("quick", answer(listener.Defer))
	require.NoError(t, err)

	results := make(chan listener.Result, blocked)
	for i := 0; i < blocked; i++ {
		go func() { results <- s.Dispatch(bg, 1) }()
	}
	for i := 0; i < blocked; i++ {
		within(t, inside, "a Dispatch inside the blocker") // all three at once
	}

	ctx, cancel := context.WithTimeout(bg, short)
	defer cancel()
	err = s.Unlisten(ctx, hb)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, listener.Stopping, hb.State(), "removed, but not drained")

	ctx2, cancel2 := context.WithTimeout(bg, short)
	defer cancel2()
	require.ErrorIs(t, s.Unlisten(ctx2, hq), context.DeadlineExceeded,
		"a blocked callback delays the Unlisten of every listener of its scope")

	// Dispatch does not wait for the drains: it returns at once, calling
	// neither stopped listener.
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 0))
	_, err = s.Listen("late", answer(listener.Deny))
	require.NoError(t, err, "Listen does not wait either")
	assert.Equal(t, listener.Deny, s.Dispatch(bg, 0))

	for _, h := range []*listener.Handle{hb, hq} {
		select {
		case <-h.Done():
			t.Fatalf("%s: Done closed while a Dispatch that saw it was blocked", h.Name())
		default:
		}
	}
	unblock()
	for i := 0; i < blocked; i++ {
		assert.Equal(t, listener.Allow, within(t, results, "a blocked Dispatch returning"), "the blocked calls answer as they return")
	}
	for _, h := range []*listener.Handle{hb, hq} {
		select {
		case <-h.Done():
		case <-time.After(long):
			t.Fatalf("%s: Done not closed after the blocked calls returned", h.Name())
		}
		assert.Equal(t, listener.Stopped, h.State())
		require.NoError(t, s.Unlisten(bg, h))
	}
	t.Logf("%d Dispatches were blocked inside the listener when both Unlistens timed out", blocked)
	require.NoError(t, s.Close(bg))
	goleak.VerifyNone(t)
}

// Callbacks that dispatch again on their own scope (nested epoch
// sections) while their owners unlisten them: the guarantee holds for the
// outer and the nested calls.
func TestFault_ReentrantDispatchUnderLoad(t *testing.T) {
	s := scope.New[int]("reentrant")
	var w watch
	var nested atomic.Int64
	l := startLoad(t, 3, func() { s.Dispatch(bg, 0) })
	cycles := churn(t, s, 3, &w, func(o *owned) listener.Func[int] {
		return func(ctx context.Context, depth int) listener.Result {
			w.use(o)
			if depth < 2 {
				nested.Inc()
				s.Dispatch(ctx, depth+1)
			}
			w.use(o)
			return listener.Defer
		}
	})
	l.finish()
	require.NoError(t, s.Close(bg))
	t.Logf("cycles=%d dispatches=%d nested dispatches=%d", cycles, l.dispatches.Load(), nested.Load())
	w.verify(t)
	assert.Positive(t, nested.Load())
	assert.Zero(t, l.panics.Load())
	goleak.VerifyNone(t)
}

// Listeners that stop themselves from inside their callback, after a few
// calls, while other calls of them are still running; their owners wait
// for Done and free. Stop returns true exactly once per listener.
func TestFault_SelfStopUnderLoad(t *testing.T) {
	s := scope.New[int]("selfstop")
	var w watch
	var stops, stopsWithOthersInside atomic.Int64
	l := startLoad(t, 3, func() { s.Dispatch(bg, 0) })
	ctx := budget(t)
	var g errgroup.Group
	var listeners atomic.Int64
	for i := 0; i < 3; i++ {
		g.Go(func() error {
			for k := int64(1); ctx.Err() == nil && !w.enough(); k++ {
				o := &owned{}
				limit := k%4 + 1
				h, err := s.ListenSelf("self-stopping", func(self *listener.Handle) listener.Func[int] {
					var n atomic.Int64
					return func(context.Context, int) listener.Result {
						w.use(o)
						if n.Inc() == limit {
							o.unlistening.Store(true) // removal begins here
							if self.Stop() {
								stops.Inc()
								if o.inside.Load() > 0 { // other calls, still using o
									stopsWithOthersInside.Inc()
								}
							}
						}
						return listener.Allow
					}
				})
				if err != nil {
					return err
				}
				listeners.Inc()
				select {
				case <-h.Done():
				case <-time.After(long):
					return fmt.Errorf("Done not closed after the listener stopped itself")
				}
				w.free(o)
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	l.finish()
	require.NoError(t, s.Close(bg))
	t.Logf("listeners=%d self-stops=%d (with other calls inside %d) dispatches=%d",
		listeners.Load(), stops.Load(), stopsWithOthersInside.Load(), l.dispatches.Load())
	w.verify(t)
	assert.Equal(t, listeners.Load(), stops.Load(), "every listener's own Stop returned true exactly once")
	assert.Positive(t, stopsWithOthersInside.Load(), "no listener stopped itself while other calls of it ran")
	goleak.VerifyNone(t)
}

// A callback that listens new listeners: the children are called by later
// Dispatches, and their owners (other goroutines) unlisten and free them
// under load.
func TestFault_ListenFromCallbackUnderLoad(t *testing.T) {
	s := scope.New[int]("spawner")
	var w watch
	type child struct {
		o *owned
		h *listener.Handle
	}
	children := make(chan child, 64)
	var spawned, childCalls atomic.Int64
	parent, err := s.Listen("parent", func(context.Context, int) listener.Result {
		if len(children) >= cap(children)/2 {
			return listener.Defer // enough children waiting for an owner
		}
		o := &owned{}
		h, err := s.Listen("child", func(context.Context, int) listener.Result {
			childCalls.Inc()
			w.use(o)
			return listener.Allow
		})
		if err != nil {
			return listener.Deny // a closed scope: counted by the check below
		}
		spawned.Inc()
		children <- child{o, h}
		return listener.Defer
	})
	require.NoError(t, err)

	var denied atomic.Int64
	l := startLoad(t, 3, func() {
		if s.Dispatch(bg, 0) == listener.Deny {
			denied.Inc()
		}
	})
	ctx := budget(t)
	var g errgroup.Group
	for i := 0; i < 2; i++ {
		g.Go(func() error {
			for ctx.Err() == nil && !w.enough() {
				var c child
				select {
				case c = <-children:
				case <-ctx.Done():
					return nil
				}
				runtime.Gosched()
				c.o.unlistening.Store(true)
				if err := s.Unlisten(bg, c.h); err != nil {
					return err
				}
				w.free(c.o)
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	require.NoError(t, s.Unlisten(bg, parent))
	l.finish()
	require.NoError(t, s.Close(bg))
	close(children)
	for c := range children { // drained by Close
		assert.Equal(t, listener.Stopped, c.h.State())
		w.free(c.o)
	}
	t.Logf("children listened from callbacks=%d their calls=%d dispatches=%d", spawned.Load(), childCalls.Load(), l.dispatches.Load())
	w.verify(t)
	assert.Zero(t, denied.Load(), "Listen from a callback failed")
	assert.Positive(t, spawned.Load())
	goleak.VerifyNone(t)
}

// Close races Listen and Unlisten from many goroutines. Every Listen
// either returns a Handle, which is Stopped once Close has returned, or
// ErrClosed, and only once Close has begun; a Listen that begins after
// Close returned fails; no Handle is Active, or even Stopping, once Close
// has returned nil.
//
// Before the fix tested by TestFault_CloseRacingStopWaitsForTheCallback,
// this test failed now and then: an Unlisten racing Close left its Handle
// Stopping after Close returned nil.
func TestFault_CloseRacesListenAndUnlisten(t *testing.T) {
	var rounds, raced, listened, refused, unlistened int
	ctx := budget(t)
	for ctx.Err() == nil && (rounds < 100 || raced == 0) {
		rounds++
		r := closeRace(t)
		listened += r.listened
		refused += r.refused
		unlistened += r.unlistened
		if r.overlaps > 0 {
			raced++
		}
		if t.Failed() {
			break
		}
	}
	t.Logf("rounds=%d listens=%d (unlistened by their owner %d) ErrClosed=%d rounds where a Listen overlapped Close=%d",
		rounds, listened, unlistened, refused, raced)
	assert.Positive(t, raced, "no Listen ever overlapped a Close")
	goleak.VerifyNone(t)
}

type closeRaceResult struct{ listened, refused, unlistened, overlaps int }

// closeRace is one round of TestFault_CloseRacesListenAndUnlisten: eight
// goroutines listen (and unlisten every other listener) until they get
// ErrClosed, while dispatchers run and the test goroutine closes the scope.
func closeRace(t *testing.T) closeRaceResult {
	const workers = 8
	s := scope.New[int]("closing")
	var seq, closeStart, closeEnd atomic.Int64
	var mu sync.Mutex
	var handles []*listener.Handle
	var errs []string
	fail := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var ok, closedErrs, overlaps, unlistens atomic.Int64
	l := startLoad(t, 2, func() { s.Dispatch(bg, 0) })
	start := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		_ = s.Close(bg) // if the round failed early, make the racers end
		wg.Wait()
		l.finish()
	}()
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for n := 0; ; n++ {
				begin := seq.Inc()
				h, err := s.Listen("racer", answer(listener.Allow))
				end := seq.Inc()
				cs, ce := closeStart.Load(), closeEnd.Load()
				if cs != 0 && cs < end && (ce == 0 || begin < ce) {
					overlaps.Inc() // this Listen and Close ran at the same time
				}
				if err != nil {
					if !errors.Is(err, scope.ErrClosed) {
						fail("Listen = %v", err)
					} else if cs == 0 && closeStart.Load() == 0 {
						fail("ErrClosed before Close began")
					}
					closedErrs.Inc()
					return
				}
				if ce != 0 && begin > ce {
					fail("a Listen that began after Close returned succeeded")
					return
				}
				ok.Inc()
				mu.Lock()
				handles = append(handles, h)
				mu.Unlock()
				if n%2 == 0 {
					if err := s.Unlisten(bg, h); err != nil {
						fail("Unlisten = %v", err)
					}
					unlistens.Inc()
				}
			}
		}()
	}
	close(start)
	// Close once the racers are under way.
	require.Eventually(t, func() bool { return ok.Load() >= 50 }, long, 50*time.Microsecond)
	closeStart.Store(seq.Inc())
	require.NoError(t, s.Close(bg))
	closeEnd.Store(seq.Inc())
	// Every Handle whose Listen returned before Close did is Stopped now:
	// none is left Active, or even Stopping.
	mu.Lock()
	seen := append([]*listener.Handle(nil), handles...)
	mu.Unlock()
	for _, h := range seen {
		if st := h.State(); st != listener.Stopped {
			fail("%v when Close returned (see TestFault_CloseRacingStopWaitsForTheCallback)", h)
		}
	}
	wg.Wait()
	for _, h := range handles {
		if st := h.State(); st != listener.Stopped {
			fail("%v after Close and every racer returned", h)
		}
	}
	assert.Empty(t, errs)
	assert.Zero(t, s.Len())
	assert.Equal(t, int64(workers), closedErrs.Load(), "every racer ends on ErrClosed")
	return closeRaceResult{int(ok.Load()), int(closedErrs.Load()), int(unlistens.Load()), int(overlaps.Load())}
}

// stallSignal returns a stall-warning option that tells, on the returned
// channel, that an Unlisten or Close is waiting: the synchronization the
// tests below use to cancel "during the wait" without sleeping.
func stallSignal() (scope.Option, <-chan scope.Stall) {
	c := make(chan scope.Stall, 16)
	return scope.WithStallWarning(time.Millisecond, func(st scope.Stall) { c <- st }), c
}

// Contexts ending at every stage of Unlisten and Close: before the call,
// during the wait, after the return. The outcome is exact each time.
func TestFault_ContextEndsAtEveryStage(t *testing.T) {
	setup := func(t *testing.T) (*scope.Scope[int], *listener.Handle, chan struct{}, <-chan scope.Stall, chan listener.Result) {
		opt, stalls := stallSignal()
		s := scope.New[int]("ctx", opt)
		inside, release := make(chan struct{}), make(chan struct{})
		h, err := s.Listen("blocker", func(context.Context, int) listener.Result {
			close(inside)
			<-release
			return listener.Allow
		})
		require.NoError(t, err)
		res := make(chan listener.Result, 1)
		go func() { res <- s.Dispatch(bg, 0) }()
		within(t, inside, "the Dispatch inside the blocker")
		t.Cleanup(func() { // let the blocked Dispatch go if the test failed early
			select {
			case <-release:
			default:
				close(release)
			}
		})
		return s, h, release, stalls, res
	}
	finish := func(t *testing.T, s *scope.Scope[int], h *listener.Handle, release chan struct{}, res chan listener.Result) {
		select {
		case <-h.Done():
			t.Fatal("Done closed while the call was running")
		default:
		}
		close(release)
		assert.Equal(t, listener.Allow, within(t, res, "the blocked Dispatch returning"))
		within(t, h.Done(), "Done closing after the call returned")
		ended, cancel := context.WithCancel(bg)
		cancel()
		// A drained listener: nothing to wait for, so even an ended
		// context gets nil.
		assert.NoError(t, s.Unlisten(ended, h))
		assert.NoError(t, s.Close(bg))
		assert.NoError(t, s.Close(ended))
		goleak.VerifyNone(t)
	}

	for _, op := range []string{"Unlisten", "Close"} {
		call := func(ctx context.Context, s *scope.Scope[int], h *listener.Handle) error {
			if op == "Close" {
				return s.Close(ctx)
			}
			return s.Unlisten(ctx, h)
		}
		t.Run(op+": context ended before the call", func(t *testing.T) {
			s, h, release, _, res := setup(t)
			ctx, cancel := context.WithCancel(bg)
			cancel()
			err := call(ctx, s, h)
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, listener.Stopping, h.State(), "removed even though the wait did not happen")
			assert.Zero(t, s.Len())
			finish(t, s, h, release, res)
		})
		t.Run(op+": context ends during the wait", func(t *testing.T) {
			s, h, release, stalls, res := setup(t)
			ctx, cancel := context.WithCancel(bg)
			errc := make(chan error, 1)
			go func() { errc <- call(ctx, s, h) }()
			st := within(t, stalls, "a stall report: the call waiting")
			assert.Equal(t, 1, st.Inside)
			cancel()
			err := within(t, errc, "the call returning after cancel")
			require.ErrorIs(t, err, context.Canceled)
			assert.True(t, errors.Is(err, ctx.Err()))
			assert.Equal(t, listener.Stopping, h.State())
			finish(t, s, h, release, res)
		})
		t.Run(op+": context ends after the call returned", func(t *testing.T) {
			s, h, release, stalls, res := setup(t)
			ctx, cancel := context.WithCancel(bg)
			errc := make(chan error, 1)
			go func() { errc <- call(ctx, s, h) }()
			within(t, stalls, "a stall report: the call waiting")
			close(release)
			require.NoError(t, within(t, errc, "the call returning"))
			assert.Equal(t, listener.Allow, within(t, res, "the blocked Dispatch returning"))
			cancel()
			assert.Equal(t, listener.Stopped, h.State(), "cancelling afterwards changes nothing")
			assert.Equal(t, listener.Defer, s.Dispatch(bg, 0))
			require.NoError(t, s.Close(bg))
			goleak.VerifyNone(t)
		})
	}
	t.Run("Dispatch with an ended context still calls every listener", func(t *testing.T) {
		s := scope.New[int]("ctx")
		var sawEnded atomic.Int32
		for i := 0; i < 3; i++ {
			_, err := s.Listen("l", func(ctx context.Context, _ int) listener.Result {
				if ctx.Err() != nil {
					sawEnded.Inc()
				}
				return listener.Allow
			})
			require.NoError(t, err)
		}
		ctx, cancel := context.WithCancel(bg)
		cancel()
		assert.Equal(t, listener.Allow, s.Dispatch(ctx, 0))
		assert.Equal(t, int32(3), sawEnded.Load())
		require.NoError(t, s.Close(bg))
		goleak.VerifyNone(t)
	})
	t.Run("Unlisten with an ended context and no call running", func(t *testing.T) {
		s := scope.New[int]("ctx")
		h, err := s.Listen("idle", answer(listener.Allow))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(bg)
		cancel()
		// Either outcome is allowed (the drain may already be done), but
		// the listener is removed and Done closes.
		if err := s.Unlisten(ctx, h); err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
		assert.NotEqual(t, listener.Active, h.State())
		within(t, h.Done(), "Done closing")
		require.NoError(t, s.Close(bg))
		goleak.VerifyNone(t)
	})
}

// The Close variant of the classic deadlock: Close with a deadline from
// inside a callback fails fast with the race detector (ErrSelfWait); without,
// it is reported as a stall of Close (Listener "") and ends at the
// deadline. Either way it leaves the scope closed, and the drain finishes
// once the callback has returned.
func TestFault_CloseFromInsideCallbackReportsStall(t *testing.T) {
	opt, stalls := stallSignal()
	s := scope.New[int]("self-close", opt)
	var closeErr error
	h, err := s.Listen("closer", func(ctx context.Context, _ int) listener.Result {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		closeErr = s.Close(ctx)
		return listener.Allow
	})
	require.NoError(t, err)
	assert.Equal(t, listener.Allow, s.Dispatch(bg, 0))
	if scope.SelfWaitDetection {
		require.ErrorIs(t, closeErr, scope.ErrSelfWait)
	} else {
		require.ErrorIs(t, closeErr, context.DeadlineExceeded)
		st := within(t, stalls, "a stall report")
		assert.Equal(t, "", st.Listener, "a stall of Close names no listener")
		assert.Equal(t, 1, st.Inside, "the calling Dispatch was inside")
		assert.Equal(t, []string{"closer"}, st.Running)
	}
	within(t, h.Done(), "Done closing")
	_, err = s.Listen("late", answer(listener.Allow))
	require.ErrorIs(t, err, scope.ErrClosed)
	require.NoError(t, s.Close(bg))
	goleak.VerifyNone(t)
}

// TestFault_ChurnTenThousandListeners: 10,000 listeners pass through one
// scope while dispatchers run nonstop. Half are removed one by one with
// Unlisten, half in batches with Stop and Done (the drain's batching path).
func TestFault_ChurnTenThousandListeners(t *testing.T) {
	const total, owners, batch = 10000, 8, 25
	s := scope.New[int]("churn")
	var w watch
	fn := func(o *owned) listener.Func[int] {
		return func(context.Context, int) listener.Result { w.use(o); return listener.Allow }
	}
	l := startLoad(t, 3, func() { s.Dispatch(bg, 0) })
	start := time.Now()
	var listened, churned atomic.Int64
	ctx, cancel := context.WithTimeout(bg, long)
	defer cancel()
	var g errgroup.Group
	for i := 0; i < owners; i++ {
		g.Go(func() error {
			for {
				n := int64(batch)
				if over := listened.Add(batch) - total; over > 0 {
					n -= over
				}
				if n <= 0 {
					return nil
				}
				objs := make([]*owned, n)
				hs := make([]*listener.Handle, n)
				for j := range objs {
					objs[j] = &owned{}
					h, err := s.Listen("churned", fn(objs[j]))
					if err != nil {
						return err
					}
					churned.Inc()
					hs[j] = h
				}
				runtime.Gosched()
				if i%2 == 0 {
					for j, h := range hs {
						objs[j].unlistening.Store(true)
						if err := s.Unlisten(ctx, h); err != nil {
							return err
						}
						w.free(objs[j])
					}
					continue
				}
				for j, h := range hs {
					objs[j].unlistening.Store(true)
					h.Stop()
				}
				for j, h := range hs {
					select {
					case <-h.Done():
					case <-time.After(long):
						return fmt.Errorf("Done not closed")
					}
					w.free(objs[j])
				}
			}
		})
	}
	require.NoError(t, g.Wait())
	l.finish()
	require.NoError(t, s.Close(bg))
	assert.Zero(t, s.Len())
	t.Logf("listeners=%d in %v, dispatches=%d", churned.Load(), time.Since(start).Round(time.Millisecond), l.dispatches.Load())
	assert.Equal(t, int64(total), churned.Load())
	w.verify(t)
	goleak.VerifyNone(t)
}

// Builds that stop their own Handle, racing a reader of Len: such a
// listener is never registered, so Len, with one other listener, must read
// 1 at every instant. (Before 1dbb9c3 it went to -1 for a moment, and for
// good when build then returned nil.)
func TestFault_LenExactWhileBuildsStopThemselves(t *testing.T) {
	s := scope.New[int]("len")
	_, err := s.Listen("steady", answer(listener.Allow))
	require.NoError(t, err)
	var building atomic.Bool
	var polls, pollsDuringBuild, wrong atomic.Int64
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			during := building.Load()
			if n := s.Len(); n != 1 {
				wrong.Inc()
			}
			polls.Inc()
			if during && building.Load() {
				pollsDuringBuild.Inc() // the ListenSelf ran across the whole Len
			}
		}
	}()
	ctx := budget(t)
	var builds int
	for ; ctx.Err() == nil && (builds < 20000 || pollsDuringBuild.Load() < 100); builds++ {
		building.Store(true)
		h, err := s.ListenSelf("quitter", func(self *listener.Handle) listener.Func[int] {
			self.Stop()
			runtime.Gosched() // let the reader look now
			if builds%2 == 0 {
				return nil
			}
			return answer(listener.Deny)
		})
		building.Store(false)
		if builds%2 == 0 {
			require.ErrorIs(t, err, scope.ErrNilFunc)
		} else {
			require.NoError(t, err)
			require.Equal(t, listener.Stopped, h.State())
		}
	}
	close(stop)
	<-polled
	t.Logf("builds=%d polls=%d during a build=%d", builds, polls.Load(), pollsDuringBuild.Load())
	assert.Zero(t, wrong.Load(), "Len was not 1")
	assert.Positive(t, pollsDuringBuild.Load(), "Len was never read during a ListenSelf")
	assert.Equal(t, listener.Allow, s.Dispatch(bg, 0), "no quitter was ever called")
	require.NoError(t, s.Close(bg))
	goleak.VerifyNone(t)
}

// Regression test for a bug this file found: Close could return nil while
// a callback was still running, breaking "waits until no invocation of any
// listener is running, then returns nil". Handle.Stop moved the listener
// out of Active (a CAS) before it queued it for the drain under the
// scope's mutex. A Close that ran in between found the listener neither
// Active (so it did not stop it) nor pending (so no drain waited for it),
// saw no drain running, and returned nil at once, while a Dispatch that
// picked the listener up before the Stop was still inside its callback.
// The fix moves the state and queues the listener in one step under the
// mutex. The race window is widened here by two goroutines contending for
// the scope's mutex; FuzzScopeConcurrent also found it ("listener N is
// Stopping after Close returned nil").
func TestFault_CloseRacingStopWaitsForTheCallback(t *testing.T) {
	var rounds, early int
	ctx, cancel := context.WithTimeout(bg, 3*time.Second) // a race: give it time
	defer cancel()
	for ctx.Err() == nil && early == 0 {
		rounds++
		s := scope.New[int]("bug")
		inside, release := make(chan struct{}), make(chan struct{})
		h, err := s.Listen("blocker", func(context.Context, int) listener.Result {
			close(inside)
			<-release
			return listener.Allow
		})
		require.NoError(t, err)
		dispatched := make(chan struct{})
		go func() {
			defer close(dispatched)
			s.Dispatch(bg, 0)
		}()
		within(t, inside, "the Dispatch inside the blocker")

		stopContending := make(chan struct{})
		var contenders sync.WaitGroup
		for i := 0; i < 2; i++ {
			contenders.Add(1)
			go func() {
				defer contenders.Done()
				for {
					select {
					case <-stopContending:
						return
					default:
					}
					// Takes and releases the scope's mutex, nothing more.
					_, _ = s.ListenSelf("contender", func(*listener.Handle) listener.Func[int] { return nil })
				}
			}()
		}
		stopped := make(chan bool, 1)
		go func() {
			runtime.Gosched()
			stopped <- h.Stop()
		}()
		runtime.Gosched()
		cctx, cancel := context.WithTimeout(bg, 100*time.Microsecond)
		err = s.Close(cctx) // the callback is blocked: must not be nil
		cancel()
		if err == nil {
			select {
			case <-dispatched:
			default:
				early++
				t.Logf("round %d: Close returned nil while the callback was running; %v", rounds, h)
			}
		}
		within(t, stopped, "Stop returning")
		close(stopContending)
		contenders.Wait()
		close(release)
		within(t, dispatched, "the Dispatch returning")
		within(t, h.Done(), "Done closing")
		require.NoError(t, s.Close(bg))
	}
	t.Logf("rounds=%d", rounds)
	assert.Zero(t, early, "Close returned nil while a callback of a listener being stopped was still running")
	goleak.VerifyNone(t)
}
