package scope_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/atomic"

	"github.com/quiesce/quiesce/lifecycle"
	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// Waits from inside a call of their own scope: ErrSelfWait. Every test
// here passes in both builds. With the race detector
// (scope.SelfWaitDetection) a self-wait must return an error wrapping
// ErrSelfWait at once, long before its deadline; without it the wait
// lasts until its context ends, and the deadline is then short. Either
// way the listener must end as the doc comments say: stopped (Stopping
// while the call that waited is still running, then Stopped with Done
// closed) and never called again.

const (
	// swDeadline is the deadline of a self-wait in a build that detects
	// it: the call must return within atOnce, long before.
	swDeadline = 10 * time.Second
	// atOnce bounds a wait that must not wait: a detected self-wait, or
	// a wait with nothing to wait for.
	atOnce = time.Second
)

// waitCtx returns the context for a wait made from inside a listener:
// short if the wait is a self-wait in a build that does not detect it
// (it must run into its deadline), swDeadline otherwise (it must return
// long before).
func waitCtx(parent context.Context, selfWait bool) (context.Context, context.CancelFunc) {
	if selfWait && !scope.SelfWaitDetection {
		return context.WithTimeout(parent, short)
	}
	return context.WithTimeout(parent, swDeadline)
}

// timedWait is the outcome of one wait made from inside a listener.
type timedWait struct {
	err  error
	took time.Duration
	ran  bool
}

func timeIt(f func() error) timedWait {
	start := time.Now()
	err := f()
	return timedWait{err: err, took: time.Since(start), ran: true}
}

// requireSelfWait checks a wait made from inside a call it waits for.
func requireSelfWait(t *testing.T, w timedWait) {
	t.Helper()
	require.True(t, w.ran, "the wait was never made")
	if scope.SelfWaitDetection {
		require.ErrorIs(t, w.err, scope.ErrSelfWait)
		assert.NotErrorIs(t, w.err, context.DeadlineExceeded)
		assert.Less(t, w.took, atOnce, "a detected self-wait returns at once, not at its deadline")
		return
	}
	require.ErrorIs(t, w.err, context.DeadlineExceeded, "without detection a self-wait lasts until its context ends")
	assert.NotErrorIs(t, w.err, scope.ErrSelfWait, "this build does not detect self-waits")
	assert.GreaterOrEqual(t, w.took, short/2, "it waited")
}

// requireNoWait checks a wait from inside a listener that is not a
// self-wait and has nothing left to wait for: nil, at once.
func requireNoWait(t *testing.T, w timedWait) {
	t.Helper()
	require.True(t, w.ran, "the wait was never made")
	require.NoError(t, w.err)
	assert.Less(t, w.took, atOnce)
}

// swCase is one way a listener is called: through Scope.Dispatch or a
// Dispatcher, in a Scope with a shared epoch or one made WithIsolation.
type swCase struct {
	iso bool
	via string
}

const viaDispatcher = "Dispatcher.Dispatch"

func (c swCase) String() string {
	if c.iso {
		return "isolated/" + c.via
	}
	return "shared/" + c.via
}

func eachSwCase(t *testing.T, f func(t *testing.T, c swCase)) {
	t.Helper()
	for _, iso := range []bool{false, true} {
		for _, via := range []string{"Scope.Dispatch", viaDispatcher} {
			c := swCase{iso: iso, via: via}
			t.Run(c.String(), func(t *testing.T) { f(t, c) })
		}
	}
}

func (c swCase) newScope(opts ...scope.Option) *scope.Scope[int] {
	if c.iso {
		opts = append(opts, scope.WithIsolation())
	}
	return scope.New[int]("sw", opts...)
}

// dispatch returns the function that dispatches on s in this case.
func (c swCase) dispatch(s *scope.Scope[int]) func(context.Context, int) listener.Result {
	if c.via == viaDispatcher {
		return s.Dispatcher().Dispatch
	}
	return s.Dispatch
}

// requireStoppedForGood checks a listener stopped by a wait made inside
// one of its calls, once that call's Dispatch has returned: its Done
// closes, it is Stopped, and no later Dispatch calls it (calls counts
// its calls).
func requireStoppedForGood(t *testing.T, h *listener.Handle, calls *atomic.Int64, dispatch func(context.Context, int) listener.Result) {
	t.Helper()
	within(t, h.Done(), h.Name()+"'s Done, once the Dispatch returned")
	assert.Equal(t, listener.Stopped, h.State())
	n := calls.Load()
	for i := 0; i < 3; i++ {
		dispatch(bg, 1)
	}
	assert.Equal(t, n, calls.Load(), "%s was called after it was stopped", h.Name())
}

// A listener that Unlistens itself from inside its call: the textbook
// self-wait. The listener is stopped at once (Stopping while its call
// runs), the rest of the Dispatch goes on, and once the Dispatch returns
// it is Stopped and never called again.
func TestSelfWait_UnlistenOwnHandle(t *testing.T) {
	eachSwCase(t, func(t *testing.T, c swCase) {
		s := c.newScope()
		dispatch := c.dispatch(s)
		var calls, afterCalls atomic.Int64
		var w timedWait
		var stateInside listener.State
		lenInside := -1
		h, err := s.ListenSelf("self", func(self *listener.Handle) listener.Func[int] {
			return func(ctx context.Context, ev int) listener.Result {
				calls.Inc()
				if ev == 0 {
					ctx, cancel := waitCtx(ctx, true)
					defer cancel()
					w = timeIt(func() error { return s.Unlisten(ctx, self) })
					stateInside, lenInside = self.State(), s.Len()
				}
				return listener.Deny
			}
		})
		require.NoError(t, err)
		_, err = s.Listen("after", func(context.Context, int) listener.Result { afterCalls.Inc(); return listener.Allow })
		require.NoError(t, err)

		assert.Equal(t, listener.Deny, dispatch(bg, 0), "the call that unlistened itself still answers")
		requireSelfWait(t, w)
		if scope.SelfWaitDetection {
			assert.Contains(t, w.err.Error(), `unlisten "self" from "sw"`)
		} else {
			assert.Contains(t, w.err.Error(), `held up by listener "self"`)
		}
		assert.Equal(t, listener.Stopping, stateInside, "stopped, still draining while its own call runs")
		assert.Equal(t, 1, lenInside, "only the other listener is Active")
		assert.Equal(t, int64(1), afterCalls.Load(), "the rest of the Dispatch went on")
		requireStoppedForGood(t, h, &calls, dispatch)
		assert.Equal(t, listener.Allow, dispatch(bg, 1))
		require.NoError(t, s.Unlisten(bg, h), "from outside, once drained: nil")
		require.NoError(t, s.Close(bg))
	})
}

// Unlisten of another listener of the same scope from inside a call. With
// a shared epoch it is a self-wait: the other listener's drain waits for
// every Dispatch, this one included. WithIsolation it is not: the drain
// waits only for the other listener's calls, and none is running, so
// Unlisten returns nil, and the listener is Stopped before the Dispatch
// reaches it.
func TestSelfWait_UnlistenAnotherListener(t *testing.T) {
	eachSwCase(t, func(t *testing.T, c swCase) {
		s := c.newScope()
		dispatch := c.dispatch(s)
		var bCalls atomic.Int64
		var w timedWait
		var bInside listener.State
		var hb *listener.Handle
		ha, err := s.Listen("a", func(ctx context.Context, ev int) listener.Result {
			if ev == 0 {
				ctx, cancel := waitCtx(ctx, !c.iso)
				defer cancel()
				w = timeIt(func() error { return s.Unlisten(ctx, hb) })
				bInside = hb.State()
			}
			return listener.Allow
		})
		require.NoError(t, err)
		hb, err = s.Listen("b", func(context.Context, int) listener.Result { bCalls.Inc(); return listener.Deny })
		require.NoError(t, err)

		got := dispatch(bg, 0)
		if c.iso {
			requireNoWait(t, w)
			assert.Equal(t, listener.Stopped, bInside, "Unlisten returned nil: b has drained")
		} else {
			requireSelfWait(t, w)
			if scope.SelfWaitDetection {
				assert.Contains(t, w.err.Error(), `unlisten "b" from "sw"`)
			} else {
				assert.Contains(t, w.err.Error(), `held up by listener "a"`, "the caller's own call holds the drain up")
			}
			assert.Equal(t, listener.Stopping, bInside)
		}
		assert.Equal(t, listener.Allow, got, "b, stopped before the Dispatch reached it, was not called")
		assert.Zero(t, bCalls.Load())
		requireStoppedForGood(t, hb, &bCalls, dispatch)
		assert.Equal(t, listener.Active, ha.State(), "the caller is untouched")
		require.NoError(t, s.Close(bg))
	})
}

// Close from inside a listener: a self-wait whether or not the scope is
// isolated. The scope is closed and every listener stopped at once; every
// Handle reaches Stopped once the Dispatch has returned.
func TestSelfWait_Close(t *testing.T) {
	eachSwCase(t, func(t *testing.T, c swCase) {
		s := c.newScope()
		dispatch := c.dispatch(s)
		hEarly, err := s.Listen("stopped-before", answer(listener.Allow))
		require.NoError(t, err)
		require.True(t, hEarly.Stop())
		within(t, hEarly.Done(), "the early listener draining")

		var calls, otherCalls atomic.Int64
		var w timedWait
		lenInside := -1
		var listenInside error
		var statesInside []listener.State
		var hs []*listener.Handle
		hc, err := s.Listen("closer", func(ctx context.Context, ev int) listener.Result {
			calls.Inc()
			if ev == 0 {
				ctx, cancel := waitCtx(ctx, true)
				defer cancel()
				w = timeIt(func() error { return s.Close(ctx) })
				lenInside = s.Len()
				_, listenInside = s.Listen("late", answer(listener.Allow))
				for _, h := range hs {
					statesInside = append(statesInside, h.State())
				}
			}
			return listener.Allow
		})
		require.NoError(t, err)
		ho, err := s.Listen("other", func(context.Context, int) listener.Result { otherCalls.Inc(); return listener.Deny })
		require.NoError(t, err)
		hs = []*listener.Handle{hc, ho}

		got := dispatch(bg, 0)
		requireSelfWait(t, w)
		if scope.SelfWaitDetection {
			assert.Contains(t, w.err.Error(), `close "sw": lifecycle: wait from inside a section it waits for`)
		} else {
			assert.Contains(t, w.err.Error(), `held up by listener "closer"`)
		}
		assert.Zero(t, lenInside, "every listener stopped at once")
		assert.ErrorIs(t, listenInside, scope.ErrClosed, "the scope is closed at once")
		require.Len(t, statesInside, 2)
		assert.Equal(t, listener.Stopping, statesInside[0], "the closer's own call is running")
		if c.iso {
			// Its own epoch: a listener with no call running may
			// already have drained.
			assert.NotEqual(t, listener.Active, statesInside[1])
		} else {
			assert.Equal(t, listener.Stopping, statesInside[1], "a shared epoch: its drain waits for this Dispatch")
		}
		assert.Equal(t, listener.Allow, got, "other, stopped by the Close, was not called")
		assert.Zero(t, otherCalls.Load())
		requireStoppedForGood(t, hc, &calls, dispatch)
		for _, h := range []*listener.Handle{ho, hEarly} {
			within(t, h.Done(), h.Name()+"'s Done")
			assert.Equal(t, listener.Stopped, h.State(), h.Name())
		}
		assert.Zero(t, otherCalls.Load())
		assert.Equal(t, listener.Defer, dispatch(bg, 0), "a closed scope answers Defer")
		_, err = s.Listen("later", answer(listener.Allow))
		require.ErrorIs(t, err, scope.ErrClosed)
		require.NoError(t, s.Close(bg), "from outside, once drained: nil")
	})
}

// Handle.Wait from inside: a self-wait unless the listener waited for is
// already Stopped (or, WithIsolation, is another listener). Wait never
// stops the listener.
func TestSelfWait_HandleWait(t *testing.T) {
	t.Run("own Handle, still Active", func(t *testing.T) {
		eachSwCase(t, func(t *testing.T, c swCase) {
			s := c.newScope()
			dispatch := c.dispatch(s)
			var calls atomic.Int64
			var w timedWait
			var stateInside listener.State
			h, err := s.ListenSelf("self", func(self *listener.Handle) listener.Func[int] {
				return func(ctx context.Context, ev int) listener.Result {
					calls.Inc()
					if ev == 0 {
						ctx, cancel := waitCtx(ctx, true)
						defer cancel()
						w = timeIt(func() error { return self.Wait(ctx) })
						stateInside = self.State()
					}
					return listener.Allow
				}
			})
			require.NoError(t, err)
			assert.Equal(t, listener.Allow, dispatch(bg, 0))
			requireSelfWait(t, w)
			if scope.SelfWaitDetection {
				assert.Contains(t, w.err.Error(), `wait for "self" of "sw"`)
			}
			assert.Equal(t, listener.Active, stateInside, "Wait does not stop the listener")
			assert.Equal(t, listener.Active, h.State())
			assert.Equal(t, listener.Allow, dispatch(bg, 1))
			assert.Equal(t, int64(2), calls.Load(), "still called")
			require.NoError(t, s.Unlisten(bg, h))
			require.NoError(t, s.Close(bg))
		})
	})
	t.Run("own Handle, after Stop", func(t *testing.T) {
		eachSwCase(t, func(t *testing.T, c swCase) {
			s := c.newScope()
			dispatch := c.dispatch(s)
			var calls atomic.Int64
			var w timedWait
			var stopped bool
			var stateInside listener.State
			h, err := s.ListenSelf("self", func(self *listener.Handle) listener.Func[int] {
				return func(ctx context.Context, ev int) listener.Result {
					calls.Inc()
					if ev == 0 {
						stopped = self.Stop()
						ctx, cancel := waitCtx(ctx, true)
						defer cancel()
						w = timeIt(func() error { return self.Wait(ctx) })
						stateInside = self.State()
					}
					return listener.Allow
				}
			})
			require.NoError(t, err)
			dispatch(bg, 0)
			assert.True(t, stopped)
			requireSelfWait(t, w)
			assert.Equal(t, listener.Stopping, stateInside)
			requireStoppedForGood(t, h, &calls, dispatch)
			require.NoError(t, h.Wait(bg), "from outside, once drained: nil")
			require.NoError(t, s.Close(bg))
		})
	})
	t.Run("another listener, Stopping", func(t *testing.T) {
		eachSwCase(t, func(t *testing.T, c swCase) {
			s := c.newScope()
			dispatch := c.dispatch(s)
			var bCalls atomic.Int64
			var w timedWait
			var hb *listener.Handle
			_, err := s.Listen("a", func(ctx context.Context, ev int) listener.Result {
				if ev == 0 {
					hb.Stop()
					ctx, cancel := waitCtx(ctx, !c.iso)
					defer cancel()
					w = timeIt(func() error { return hb.Wait(ctx) })
				}
				return listener.Allow
			})
			require.NoError(t, err)
			hb, err = s.Listen("b", func(context.Context, int) listener.Result { bCalls.Inc(); return listener.Deny })
			require.NoError(t, err)
			assert.Equal(t, listener.Allow, dispatch(bg, 0))
			if c.iso {
				requireNoWait(t, w) // b's drain waits for b's calls only
			} else {
				requireSelfWait(t, w)
			}
			assert.Zero(t, bCalls.Load())
			requireStoppedForGood(t, hb, &bCalls, dispatch)
			require.NoError(t, s.Close(bg))
		})
	})
	t.Run("another listener, already Stopped", func(t *testing.T) {
		eachSwCase(t, func(t *testing.T, c swCase) {
			s := c.newScope()
			dispatch := c.dispatch(s)
			hb, err := s.Listen("b", answer(listener.Deny))
			require.NoError(t, err)
			require.NoError(t, s.Unlisten(bg, hb))
			var wWait, wUnlisten timedWait
			_, err = s.Listen("a", func(ctx context.Context, ev int) listener.Result {
				if ev == 0 {
					// An ended context: nothing to wait for, so no wait.
					ended, cancel := context.WithCancel(ctx)
					cancel()
					wWait = timeIt(func() error { return hb.Wait(ended) })
					wUnlisten = timeIt(func() error { return s.Unlisten(ended, hb) })
				}
				return listener.Allow
			})
			require.NoError(t, err)
			assert.Equal(t, listener.Allow, dispatch(bg, 0))
			requireNoWait(t, wWait)
			requireNoWait(t, wUnlisten)
			assert.Equal(t, listener.Stopped, hb.State())
			require.NoError(t, s.Close(bg))
		})
	})
}

// A wait from the panic handler is a wait from inside the Dispatch that
// recovered the panic.
func TestSelfWait_FromPanicHandler(t *testing.T) {
	for _, op := range []string{"Unlisten", "Close"} {
		t.Run(op, func(t *testing.T) {
			eachSwCase(t, func(t *testing.T, c swCase) {
				var s *scope.Scope[int]
				var victim *listener.Handle
				var w timedWait
				var stateInside listener.State
				var handled atomic.Int64
				handler := func(name string, v any) listener.Result {
					handled.Inc()
					if name == "victim" && !w.ran {
						ctx, cancel := waitCtx(bg, true)
						defer cancel()
						if op == "Close" {
							w = timeIt(func() error { return s.Close(ctx) })
						} else {
							w = timeIt(func() error { return s.Unlisten(ctx, victim) })
						}
						stateInside = victim.State()
					}
					return listener.Deny
				}
				s = c.newScope(scope.WithPanicHandler(handler))
				dispatch := c.dispatch(s)
				var calls atomic.Int64
				var err error
				victim, err = s.Listen("victim", func(context.Context, int) listener.Result { calls.Inc(); panic("boom") })
				require.NoError(t, err)
				_, err = s.Listen("after", answer(listener.Allow))
				require.NoError(t, err)

				assert.Equal(t, listener.Deny, dispatch(bg, 0), "the handler's answer stands for the victim")
				assert.Equal(t, int64(1), handled.Load())
				requireSelfWait(t, w)
				assert.Equal(t, listener.Stopping, stateInside)
				requireStoppedForGood(t, victim, &calls, dispatch)
				assert.Equal(t, int64(1), handled.Load(), "the victim never panicked again")
				if op == "Close" {
					assert.Equal(t, listener.Defer, dispatch(bg, 1))
				} else {
					assert.Equal(t, listener.Allow, dispatch(bg, 1))
				}
				require.NoError(t, s.Close(bg))
			})
		})
	}
}

// A listener called by a nested Dispatch of the same scope is inside the
// outer call too: unlistening the outer listener is a self-wait, even
// WithIsolation (the goroutine is inside the outer listener's call).
func TestSelfWait_FromNestedDispatch(t *testing.T) {
	eachSwCase(t, func(t *testing.T, c swCase) {
		s := c.newScope()
		dispatch := c.dispatch(s)
		var outerCalls, nested atomic.Int64
		var w timedWait
		var stateInside listener.State
		var hOuter *listener.Handle
		var err error
		hOuter, err = s.Listen("outer", func(ctx context.Context, ev int) listener.Result {
			outerCalls.Inc()
			if ev == 0 {
				nested.Inc()
				return dispatch(ctx, 2) // the same Dispatcher, re-entered
			}
			return listener.Defer
		})
		require.NoError(t, err)
		hInner, err := s.Listen("inner", func(ctx context.Context, ev int) listener.Result {
			if ev == 2 {
				ctx, cancel := waitCtx(ctx, true)
				defer cancel()
				w = timeIt(func() error { return s.Unlisten(ctx, hOuter) })
				stateInside = hOuter.State()
				return listener.Deny
			}
			return listener.Allow
		})
		require.NoError(t, err)

		assert.Equal(t, listener.Deny, dispatch(bg, 0), "the outer call answers what the nested Dispatch did")
		assert.Equal(t, int64(1), nested.Load())
		requireSelfWait(t, w)
		assert.Equal(t, listener.Stopping, stateInside)
		requireStoppedForGood(t, hOuter, &outerCalls, dispatch)
		assert.Equal(t, listener.Active, hInner.State())
		require.NoError(t, s.Close(bg))
	})
}

// Inside a call of one scope, waits for another scope are not self-waits:
// they return nil as soon as that scope has drained. A wait for the first
// scope made through the second one's Dispatch still is.
func TestSelfWait_InsideAnotherScope(t *testing.T) {
	t.Run("waits for another scope return nil", func(t *testing.T) {
		eachSwCase(t, func(t *testing.T, c swCase) {
			s1, s2 := c.newScope(), c.newScope()
			dispatch := c.dispatch(s1)
			var s2Calls atomic.Int64
			counted := func(context.Context, int) listener.Result { s2Calls.Inc(); return listener.Allow }
			h2u, err := s2.Listen("unlistened", counted)
			require.NoError(t, err)
			h2w, err := s2.Listen("waited", counted)
			require.NoError(t, err)
			h2c, err := s2.Listen("closed", counted)
			require.NoError(t, err)
			assert.Equal(t, listener.Allow, s2.Dispatch(bg, 0))
			var wUnlisten, wWait, wClose timedWait
			_, err = s1.Listen("s1", func(ctx context.Context, ev int) listener.Result {
				if ev == 0 {
					ctx, cancel := waitCtx(ctx, false)
					defer cancel()
					wUnlisten = timeIt(func() error { return s2.Unlisten(ctx, h2u) })
					h2w.Stop()
					wWait = timeIt(func() error { return h2w.Wait(ctx) })
					wClose = timeIt(func() error { return s2.Close(ctx) })
				}
				return listener.Allow
			})
			require.NoError(t, err)
			assert.Equal(t, listener.Allow, dispatch(bg, 0))
			requireNoWait(t, wUnlisten)
			requireNoWait(t, wWait)
			requireNoWait(t, wClose)
			for _, h := range []*listener.Handle{h2u, h2w, h2c} {
				assert.Equal(t, listener.Stopped, h.State(), h.Name())
			}
			assert.Equal(t, int64(3), s2Calls.Load())
			require.NoError(t, s1.Close(bg))
		})
	})
	t.Run("a wait for the first scope through the second one's Dispatch", func(t *testing.T) {
		eachSwCase(t, func(t *testing.T, c swCase) {
			s1, s2 := c.newScope(), c.newScope()
			dispatch := c.dispatch(s1)
			var outerCalls atomic.Int64
			var w timedWait
			var hOuter *listener.Handle
			var err error
			hOuter, err = s1.Listen("outer", func(ctx context.Context, ev int) listener.Result {
				outerCalls.Inc()
				if ev == 0 {
					return s2.Dispatch(ctx, 0)
				}
				return listener.Defer
			})
			require.NoError(t, err)
			_, err = s2.Listen("reached", func(ctx context.Context, _ int) listener.Result {
				ctx, cancel := waitCtx(ctx, true)
				defer cancel()
				w = timeIt(func() error { return s1.Unlisten(ctx, hOuter) })
				return listener.Allow
			})
			require.NoError(t, err)
			assert.Equal(t, listener.Allow, dispatch(bg, 0))
			requireSelfWait(t, w)
			requireStoppedForGood(t, hOuter, &outerCalls, dispatch)
			require.NoError(t, s1.Close(bg))
			require.NoError(t, s2.Close(bg))
		})
	})
	t.Run("a goroutine the listener starts is not inside its call", func(t *testing.T) {
		eachSwCase(t, func(t *testing.T, c swCase) {
			s := c.newScope()
			dispatch := c.dispatch(s)
			var calls atomic.Int64
			unlistened := make(chan error, 1)
			h, err := s.ListenSelf("spawner", func(self *listener.Handle) listener.Func[int] {
				return func(ctx context.Context, ev int) listener.Result {
					calls.Inc()
					if ev == 0 {
						// Not waited for here: the goroutine's Unlisten
						// waits for this call, and returns once it has.
						go func() {
							ctx, cancel := context.WithTimeout(bg, long)
							defer cancel()
							unlistened <- s.Unlisten(ctx, self)
						}()
					}
					return listener.Allow
				}
			})
			require.NoError(t, err)
			dispatch(bg, 0)
			require.NoError(t, within(t, unlistened, "the goroutine's Unlisten"), "not a self-wait")
			assert.Equal(t, listener.Stopped, h.State())
			requireStoppedForGood(t, h, &calls, dispatch)
			require.NoError(t, s.Close(bg))
		})
	})
}

// A ListenSelf build run inside a call of the same scope that Unlistens
// its own Handle: nothing can have seen the listener, so there is nothing
// to wait for, in either build: nil at once, and the Handle is Stopped.
func TestSelfWait_ListenSelfBuildInsideACallUnlistensItself(t *testing.T) {
	eachSwCase(t, func(t *testing.T, c swCase) {
		s := c.newScope()
		dispatch := c.dispatch(s)
		var child *listener.Handle
		var childErr error
		var w timedWait
		var childCalled atomic.Int64
		_, err := s.Listen("parent", func(ctx context.Context, ev int) listener.Result {
			if ev == 0 {
				child, childErr = s.ListenSelf("child", func(self *listener.Handle) listener.Func[int] {
					ctx, cancel := waitCtx(ctx, false)
					defer cancel()
					w = timeIt(func() error { return s.Unlisten(ctx, self) })
					return func(context.Context, int) listener.Result { childCalled.Inc(); return listener.Deny }
				})
			}
			return listener.Allow
		})
		require.NoError(t, err)
		assert.Equal(t, listener.Allow, dispatch(bg, 0))
		requireNoWait(t, w)
		require.NoError(t, childErr)
		require.NotNil(t, child)
		assert.Equal(t, listener.Stopped, child.State())
		within(t, child.Done(), "the child's Done")
		assert.Equal(t, listener.Allow, dispatch(bg, 1))
		assert.Zero(t, childCalled.Load(), "never registered, never called")
		assert.Equal(t, 1, s.Len())
		require.NoError(t, s.Close(bg))
	})
}

// A ListenSelf build run inside a call of the same scope that hands its
// Handle to a goroutine which stops it, then waits for it with
// Handle.Wait: the Handle was never registered, so no grace period waits
// on its account, and the Stop finishes it at once. Only a certain
// self-wait is reported: this one is not, in either build, and the Wait
// returns nil once the goroutine has stopped the Handle.
func TestSelfWait_NeverRegisteredHandleIsNotOne(t *testing.T) {
	eachSwCase(t, func(t *testing.T, c swCase) {
		s := c.newScope()
		dispatch := c.dispatch(s)
		var child *listener.Handle
		var childErr error
		var w timedWait
		stopped := make(chan bool, 1)
		_, err := s.Listen("parent", func(ctx context.Context, ev int) listener.Result {
			if ev == 0 {
				child, childErr = s.ListenSelf("child", func(self *listener.Handle) listener.Func[int] {
					go func() { stopped <- self.Stop() }()
					ctx, cancel := waitCtx(ctx, false)
					defer cancel()
					w = timeIt(func() error { return self.Wait(ctx) })
					return answer(listener.Deny)
				})
			}
			return listener.Allow
		})
		require.NoError(t, err)
		assert.Equal(t, listener.Allow, dispatch(bg, 0))
		require.NoError(t, w.err, "not a self-wait")
		assert.True(t, within(t, stopped, "the goroutine's Stop"))
		require.NoError(t, childErr)
		assert.Equal(t, listener.Stopped, child.State())
		assert.Equal(t, listener.Allow, dispatch(bg, 1), "never registered, never called")
		require.NoError(t, s.Close(bg))
	})
}

// A wait, from inside a Dispatch, for a listener whose drain had already
// begun (its grace period running, the index flipped) before that
// Dispatch entered is not a self-wait: the grace period does not wait for
// that Dispatch, so the wait ends once the drain is done. It must not be
// reported as ErrSelfWait (with the race detector), and it returns nil.
func TestSelfWait_NotReportedForADrainThatBeganBefore(t *testing.T) {
	stalls := make(chan scope.Stall, 4)
	s := scope.New[int]("sw", scope.WithStallWarning(time.Millisecond, func(st scope.Stall) { stalls <- st }))
	b := newBlocker()
	_, err := s.Listen("A", func(ctx context.Context, ev int) listener.Result {
		if ev == 1 {
			return b.fn(ctx, ev)
		}
		return listener.Defer
	})
	require.NoError(t, err)
	l, err := s.Listen("L", answer(listener.Defer))
	require.NoError(t, err)
	waited := make(chan error, 1)
	_, err = s.Listen("B", func(ctx context.Context, ev int) listener.Result {
		if ev == 2 {
			waited <- s.Unlisten(ctx, l) // L is already stopping
		}
		return listener.Defer
	})
	require.NoError(t, err)

	blocked := make(chan listener.Result, 1)
	go func() { blocked <- s.Dispatch(bg, 1) }() // inside A until released
	within(t, b.inside, "a Dispatch inside A")
	before := scope.Index(s)
	require.True(t, l.Stop()) // L's drain: its grace period waits for the Dispatch inside A
	require.Eventually(t, func() bool { return scope.Draining(s) && scope.Index(s) != before },
		long, 10*time.Microsecond, "the drain's grace period flipped the index")

	second := make(chan listener.Result, 1)
	go func() { second <- s.Dispatch(bg, 2) }() // enters after the flip: not waited for
	select {
	case st := <-stalls:
		assert.Equal(t, "L", st.Listener, "the wait from inside B waits, as it should")
	case err := <-waited:
		t.Fatalf("the wait from inside B returned %v before the drain it waits for could end", err)
	case <-time.After(long):
		t.Fatal("no stall report and no return")
	}
	close(b.release)
	require.NoError(t, within(t, waited, "the wait from inside B"))
	within(t, blocked, "the Dispatch blocked in A")
	within(t, second, "the Dispatch that waited")
	assert.Equal(t, listener.Stopped, l.State())
	require.NoError(t, s.Close(bg))
}

// One sentinel: the self-wait errors of both packages wrap
// lifecycle.ErrSelfWait, which is scope.ErrSelfWait.
func TestSelfWait_OneSentinel(t *testing.T) {
	assert.Same(t, lifecycle.ErrSelfWait, scope.ErrSelfWait)
	if !scope.SelfWaitDetection {
		t.Skip("only race-enabled builds return self-wait errors")
	}
	s := scope.New[int]("one")
	var err error
	_, lerr := s.ListenSelf("self", func(self *listener.Handle) listener.Func[int] {
		return func(ctx context.Context, _ int) listener.Result {
			err = s.Unlisten(ctx, self)
			return listener.Defer
		}
	})
	require.NoError(t, lerr)
	s.Dispatch(bg, 0)
	require.ErrorIs(t, err, lifecycle.ErrSelfWait)
	require.ErrorIs(t, err, scope.ErrSelfWait)
	require.NoError(t, s.Close(bg))

	var e lifecycle.Epoch
	r := e.Enter()
	err = e.Synchronize(bg)
	r.Exit()
	require.ErrorIs(t, err, scope.ErrSelfWait)
}
