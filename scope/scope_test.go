package scope_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/atomic"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

const (
	short = 20 * time.Millisecond // for waits that must time out
	long  = 20 * time.Second      // for waits that must not; reaching it fails
)

var bg = context.Background()

func answer(r listener.Result) listener.Func[int] {
	return func(context.Context, int) listener.Result { return r }
}

func TestScope_DispatchCallsInOrderAndCombines(t *testing.T) {
	s := scope.New[int]("test")
	assert.Equal(t, "test", s.Name())
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 1), "no listener: Defer")

	var order []string
	record := func(name string, r listener.Result) listener.Func[int] {
		return func(_ context.Context, ev int) listener.Result {
			order = append(order, name)
			assert.Equal(t, 7, ev)
			return r
		}
	}
	_, err := s.Listen("a", record("a", listener.Defer))
	require.NoError(t, err)
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 7))
	_, err = s.Listen("b", record("b", listener.Allow))
	require.NoError(t, err)
	assert.Equal(t, listener.Allow, s.Dispatch(bg, 7))
	hc, err := s.Listen("c", record("c", listener.Deny))
	require.NoError(t, err)
	_, err = s.Listen("d", record("d", listener.Allow))
	require.NoError(t, err)
	assert.Equal(t, 4, s.Len())

	order = nil
	assert.Equal(t, listener.Deny, s.Dispatch(bg, 7), "Deny wins over Allow")
	assert.Equal(t, []string{"a", "b", "c", "d"}, order, "Listen order")

	require.NoError(t, s.Unlisten(bg, hc))
	order = nil
	assert.Equal(t, listener.Allow, s.Dispatch(bg, 7))
	assert.Equal(t, []string{"a", "b", "d"}, order)
	assert.Equal(t, 3, s.Len())
	require.NoError(t, s.Close(bg))
}

func TestScope_DispatchPassesContext(t *testing.T) {
	type key struct{}
	s := scope.New[int]("ctx")
	_, err := s.Listen("l", func(ctx context.Context, _ int) listener.Result {
		if ctx.Value(key{}) == "v" {
			return listener.Allow
		}
		return listener.Deny
	})
	require.NoError(t, err)
	assert.Equal(t, listener.Allow, s.Dispatch(context.WithValue(bg, key{}, "v"), 0))
}

func TestScope_ListenErrors(t *testing.T) {
	s := scope.New[int]("errs")
	h, err := s.Listen("nil", nil)
	assert.Nil(t, h)
	assert.ErrorIs(t, err, scope.ErrNilFunc)

	h, err = s.ListenSelf("nil build", nil)
	assert.Nil(t, h)
	assert.ErrorIs(t, err, scope.ErrNilFunc)

	var built *listener.Handle
	h, err = s.ListenSelf("build returns nil", func(self *listener.Handle) listener.Func[int] {
		built = self
		return nil
	})
	assert.Nil(t, h)
	assert.ErrorIs(t, err, scope.ErrNilFunc)
	assert.Equal(t, listener.Stopped, built.State(), "an unregistered handle is Stopped")
	assert.Zero(t, s.Len())

	require.NoError(t, s.Close(bg))
	h, err = s.Listen("late", answer(listener.Allow))
	assert.Nil(t, h)
	assert.ErrorIs(t, err, scope.ErrClosed)
	assert.Equal(t, "scope: closed", err.Error())
	called := false
	_, err = s.ListenSelf("late", func(*listener.Handle) listener.Func[int] { called = true; return answer(listener.Allow) })
	assert.ErrorIs(t, err, scope.ErrClosed)
	assert.False(t, called, "build is not run on a closed scope")
}

// blocker is a listener that signals when it is inside and stays there
// until released.
type blocker struct {
	inside  chan struct{}
	release chan struct{}
	calls   atomic.Int64
}

func newBlocker() *blocker {
	return &blocker{inside: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blocker) fn(context.Context, int) listener.Result {
	b.calls.Inc()
	b.inside <- struct{}{}
	<-b.release
	return listener.Allow
}

func TestScope_UnlistenWaitsForCallerInside(t *testing.T) {
	s := scope.New[int]("wait")
	b := newBlocker()
	h, err := s.Listen("blocker", b.fn)
	require.NoError(t, err)

	var result listener.Result
	dispatched := make(chan struct{})
	go func() {
		result = s.Dispatch(bg, 1)
		close(dispatched)
	}()
	within(t, b.inside, "the Dispatch inside the callback")

	ctx, cancel := context.WithTimeout(bg, short)
	defer cancel()
	err = s.Unlisten(ctx, h)
	require.Error(t, err, "Unlisten returned while the callback was running")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, errors.Is(err, ctx.Err()))
	assert.Contains(t, err.Error(), "scope: unlisten \"blocker\" from \"wait\"")

	// Still removed after the timeout, still draining.
	assert.Equal(t, listener.Stopping, h.State())
	assert.Zero(t, s.Len())
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 2), "a stopped listener is not called")
	assert.Equal(t, int64(1), b.calls.Load())
	select {
	case <-h.Done():
		t.Fatal("Done closed while the callback was running")
	default:
	}

	close(b.release)
	within(t, dispatched, "the Dispatch returning")
	assert.Equal(t, listener.Allow, result)
	select {
	case <-h.Done():
	case <-time.After(long):
		t.Fatal("Done not closed after the callback returned")
	}
	assert.Equal(t, listener.Stopped, h.State())
	require.NoError(t, s.Unlisten(bg, h), "Unlisten of a drained handle returns nil")
	assert.False(t, h.Stop())
}

func TestScope_StopDoesNotBlockAndDrainsInBackground(t *testing.T) {
	s := scope.New[int]("stop")
	b := newBlocker()
	h, err := s.Listen("blocker", b.fn)
	require.NoError(t, err)
	go s.Dispatch(bg, 1)
	within(t, b.inside, "the Dispatch inside the callback")

	assert.True(t, h.Stop(), "first Stop moves it out of Active")
	assert.False(t, h.Stop(), "later Stops report false")
	assert.Equal(t, listener.Stopping, h.State())
	close(b.release)
	within(t, h.Done(), "Done")
	assert.Equal(t, listener.Stopped, h.State())
}

func TestScope_ConcurrentStopsOnlyOneWins(t *testing.T) {
	s := scope.New[int]("race")
	h, err := s.Listen("l", answer(listener.Allow))
	require.NoError(t, err)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h.Stop() {
				wins.Inc()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
	require.NoError(t, s.Unlisten(bg, h))
}

func TestScope_UnlistenRejectsForeignAndNilHandles(t *testing.T) {
	a := scope.New[int]("a")
	b := scope.New[int]("b")
	h, err := b.Listen("bl", answer(listener.Allow))
	require.NoError(t, err)

	err = a.Unlisten(bg, h)
	require.ErrorIs(t, err, scope.ErrUnknownHandle)
	assert.Equal(t, `scope: unknown handle: listener "bl" is not registered with scope "a"`, err.Error())
	assert.Equal(t, listener.Active, h.State(), "a foreign handle is left untouched")
	assert.Equal(t, listener.Allow, b.Dispatch(bg, 0))

	err = a.Unlisten(bg, nil)
	require.ErrorIs(t, err, scope.ErrUnknownHandle)
	assert.Equal(t, "scope: unknown handle: nil handle", err.Error())

	err = a.Unlisten(bg, &listener.Handle{})
	require.ErrorIs(t, err, scope.ErrUnknownHandle)
	require.NoError(t, b.Close(bg))
}

func TestScope_Close(t *testing.T) {
	s := scope.New[int]("close")
	b := newBlocker()
	hb, err := s.Listen("blocker", b.fn)
	require.NoError(t, err)
	ha, err := s.Listen("allow", answer(listener.Allow))
	require.NoError(t, err)
	hs, err := s.Listen("stopped", answer(listener.Deny))
	require.NoError(t, err)
	require.True(t, hs.Stop())
	go s.Dispatch(bg, 1)
	within(t, b.inside, "the Dispatch inside the callback")

	ctx, cancel := context.WithTimeout(bg, short)
	defer cancel()
	err = s.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "Close returned while a callback was running")
	assert.Contains(t, err.Error(), `scope: close "close"`)
	assert.Zero(t, s.Len())
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 2), "Dispatch after Close")
	_, err = s.Listen("late", answer(listener.Allow))
	assert.ErrorIs(t, err, scope.ErrClosed)

	close(b.release)
	require.NoError(t, s.Close(bg))
	require.NoError(t, s.Close(bg), "Close is idempotent")
	for _, h := range []*listener.Handle{hb, ha, hs} {
		assert.Equal(t, listener.Stopped, h.State(), h.Name())
		within(t, h.Done(), "Done")
	}
	require.NoError(t, s.Unlisten(bg, ha), "Unlisten after Close returns nil once drained")
	assert.Equal(t, int64(1), b.calls.Load())
}

func TestScope_PanicWithoutHandlerReleasesTheEpoch(t *testing.T) {
	s := scope.New[int]("panic")
	after := false
	h, err := s.Listen("boom", func(context.Context, int) listener.Result { panic("boom") })
	require.NoError(t, err)
	_, err = s.Listen("after", func(context.Context, int) listener.Result { after = true; return listener.Allow })
	require.NoError(t, err)

	require.PanicsWithValue(t, "boom", func() { s.Dispatch(bg, 0) })
	assert.False(t, after, "listeners after a panic are not called without a handler")
	ctx, cancel := context.WithTimeout(bg, long)
	defer cancel()
	require.NoError(t, s.Unlisten(ctx, h), "Unlisten must not wait for a caller that panicked")
	require.NoError(t, s.Close(ctx))
}

func TestScope_InvalidResultPanics(t *testing.T) {
	s := scope.New[int]("invalid")
	_, err := s.Listen("seven", answer(listener.Result(7)))
	require.NoError(t, err)
	defer func() {
		p := recover()
		var ire *scope.InvalidResultError
		require.ErrorAs(t, p.(error), &ire)
		assert.Equal(t, "seven", ire.Listener)
		assert.Equal(t, `scope: listener "seven" returned invalid Result(7)`, ire.Error())
		require.NoError(t, s.Close(bg))
	}()
	s.Dispatch(bg, 0)
}

func TestScope_PanicHandler(t *testing.T) {
	type report struct {
		name string
		val  any
	}
	var reports []report
	s := scope.New[int]("handled", scope.WithPanicHandler(func(name string, v any) listener.Result {
		reports = append(reports, report{name, v})
		return listener.Deny
	}))
	var calls []string
	_, err := s.Listen("boom", func(context.Context, int) listener.Result { calls = append(calls, "boom"); panic("boom") })
	require.NoError(t, err)
	_, err = s.Listen("invalid", func(context.Context, int) listener.Result { calls = append(calls, "invalid"); return -1 })
	require.NoError(t, err)
	_, err = s.Listen("allow", func(context.Context, int) listener.Result { calls = append(calls, "allow"); return listener.Allow })
	require.NoError(t, err)

	assert.Equal(t, listener.Deny, s.Dispatch(bg, 0), "the handler's answer stands for the panicking listener")
	assert.Equal(t, []string{"boom", "invalid", "allow"}, calls, "the remaining listeners are still called")
	require.Len(t, reports, 2)
	assert.Equal(t, "boom", reports[0].name)
	assert.Equal(t, "boom", reports[0].val)
	assert.Equal(t, "invalid", reports[1].name)
	assert.IsType(t, &scope.InvalidResultError{}, reports[1].val)
	require.NoError(t, s.Close(bg))
}

func TestScope_PanicHandlerReturningInvalidResultPanics(t *testing.T) {
	s := scope.New[int]("bad handler", scope.WithPanicHandler(func(string, any) listener.Result { return 9 }))
	_, err := s.Listen("boom", func(context.Context, int) listener.Result { panic("boom") })
	require.NoError(t, err)
	require.PanicsWithValue(t, `scope: panic handler returned invalid Result(9) for listener "boom"`, func() { s.Dispatch(bg, 0) })
	require.NoError(t, s.Close(bg))
}

func TestScope_OptionMisusePanics(t *testing.T) {
	assert.PanicsWithValue(t, "scope: WithPanicHandler: nil handler", func() { scope.WithPanicHandler(nil) })
	msg := "scope: WithStallWarning needs a positive duration and a non-nil report func"
	assert.PanicsWithValue(t, msg, func() { scope.WithStallWarning(0, func(scope.Stall) {}) })
	assert.PanicsWithValue(t, msg, func() { scope.WithStallWarning(time.Second, nil) })
	assert.PanicsWithValue(t, "scope: New: nil Option", func() { scope.New[int]("x", nil) })
}

// The classic deadlock: a callback that unlistens (blocking) from inside
// its own scope waits for the Dispatch that is calling it. With the race
// detector it fails fast (ErrSelfWait); without, the stall warning
// reports it, naming the listener, and the deadline ends it. Either way
// the listener ends up Stopped once the Dispatch returns.
func TestScope_StallWarningReportsUnlistenFromInsideCallback(t *testing.T) {
	stalls := make(chan scope.Stall, 1)
	s := scope.New[int]("stall", scope.WithStallWarning(5*time.Millisecond, func(st scope.Stall) { stalls <- st }))
	var unlistenErr error
	var took time.Duration
	h, err := s.ListenSelf("selfish", func(self *listener.Handle) listener.Func[int] {
		return func(ctx context.Context, _ int) listener.Result {
			ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			unlistenErr = s.Unlisten(ctx, self)
			took = time.Since(start)
			return listener.Defer
		}
	})
	require.NoError(t, err)
	s.Dispatch(bg, 0)
	if scope.SelfWaitDetection {
		require.ErrorIs(t, unlistenErr, scope.ErrSelfWait)
		assert.Less(t, took, 100*time.Millisecond, "at once, not at the deadline")
		select {
		case st := <-stalls:
			t.Fatalf("a self-wait that failed fast reported a stall: %+v", st)
		default:
		}
	} else {
		require.ErrorIs(t, unlistenErr, context.DeadlineExceeded)
		assert.Contains(t, unlistenErr.Error(), `held up by listener "selfish"`)
		st := within(t, stalls, "a stall report")
		assert.Equal(t, "stall", st.Scope)
		assert.Equal(t, "selfish", st.Listener)
		assert.GreaterOrEqual(t, st.Waited, 5*time.Millisecond)
		assert.Equal(t, 1, st.Inside, "the calling Dispatch was still inside")
		assert.Equal(t, []string{"selfish"}, st.Running)
	}
	within(t, h.Done(), "Done, once the Dispatch returned")
	assert.Equal(t, listener.Stopped, h.State())
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 0), "never called again")
	require.NoError(t, s.Close(bg))
}

func TestScope_StallWarningOnClose(t *testing.T) {
	stalls := make(chan scope.Stall, 1)
	s := scope.New[int]("slow", scope.WithStallWarning(time.Millisecond, func(st scope.Stall) { stalls <- st }))
	b := newBlocker()
	_, err := s.Listen("blocker", b.fn)
	require.NoError(t, err)
	go s.Dispatch(bg, 0)
	within(t, b.inside, "the Dispatch inside the callback")
	closed := make(chan error)
	go func() { closed <- s.Close(bg) }()
	st := within(t, stalls, "a stall report")
	assert.Equal(t, "", st.Listener, "Close waits for no single listener")
	assert.Equal(t, 1, st.Inside)
	assert.Equal(t, []string{"blocker"}, st.Running, "the report names who holds Close up")
	close(b.release)
	require.NoError(t, within(t, closed, "Close returning"))
}

func TestScope_ListenAndStopFromInsideCallback(t *testing.T) {
	s := scope.New[int]("reentrant")
	var child *listener.Handle
	var childErr error
	_, err := s.ListenSelf("parent", func(self *listener.Handle) listener.Func[int] {
		return func(ctx context.Context, ev int) listener.Result {
			if ev == 0 {
				child, childErr = s.Listen("child", answer(listener.Deny))
				self.Stop()
				// Re-entrant Dispatch: nested epoch sections are fine.
				return s.Dispatch(ctx, 1)
			}
			return listener.Defer
		}
	})
	require.NoError(t, err)
	got := s.Dispatch(bg, 0)
	require.NoError(t, childErr)
	assert.Equal(t, listener.Deny, got, "the nested Dispatch called the new child")
	assert.Equal(t, 1, s.Len())
	require.NoError(t, s.Unlisten(bg, child))
	require.NoError(t, s.Close(bg))
}

// A one-shot listener acts exactly once, however many dispatches race to
// it, and may fire before ListenSelf has returned.
func TestScope_OneShotActsExactlyOnce(t *testing.T) {
	for round := 0; round < 50; round++ {
		s := scope.New[int]("oneshot")
		var acted atomic.Int32
		l := startLoad(t, 4, func() { s.Dispatch(bg, 0) })
		h, err := s.ListenSelf("once", func(self *listener.Handle) listener.Func[int] {
			return func(context.Context, int) listener.Result {
				if !self.Stop() {
					return listener.Defer
				}
				acted.Inc()
				return listener.Allow
			}
		})
		require.NoError(t, err)
		within(t, h.Done(), "Done") // the listener stopped itself and drained
		l.finish()
		require.Zero(t, l.panics.Load())
		require.Equal(t, int32(1), acted.Load())
		require.NoError(t, s.Close(bg))
	}
}

func TestScope_HandleAccessors(t *testing.T) {
	s := scope.New[int]("h")
	h, err := s.Listen("named", answer(listener.Allow))
	require.NoError(t, err)
	assert.Equal(t, "named", h.Name())
	assert.Equal(t, `listener "named" (Active)`, h.String())
	require.NoError(t, s.Unlisten(bg, h))
	assert.Equal(t, `listener "named" (Stopped)`, h.String())
	require.NoError(t, s.Close(bg))
}

func TestScope_ZeroValuePanics(t *testing.T) {
	s := new(scope.Scope[int])
	msg := "scope: use of a Scope not created by New"
	assert.PanicsWithValue(t, msg, func() { s.Dispatch(bg, 0) })
	assert.PanicsWithValue(t, msg, func() { _, _ = s.Listen("l", answer(listener.Allow)) })
	assert.PanicsWithValue(t, msg, func() { _ = s.Unlisten(bg, nil) })
	assert.PanicsWithValue(t, msg, func() { _ = s.Close(bg) })
}

// A ListenSelf build function that stops its own Handle: the listener is
// never registered, never called, and the count of active listeners stays
// right.
func TestScope_ListenSelfStoppedInsideBuild(t *testing.T) {
	s := scope.New[int]("build-stop")
	called := false
	h, err := s.ListenSelf("quitter", func(self *listener.Handle) listener.Func[int] {
		require.True(t, self.Stop())
		return func(context.Context, int) listener.Result { called = true; return listener.Deny }
	})
	require.NoError(t, err)
	assert.Equal(t, listener.Stopped, h.State())
	within(t, h.Done(), "Done")
	assert.Zero(t, s.Len())
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 0))
	assert.False(t, called)

	// The same with a build that then fails: Len must not go negative.
	h2 := (*listener.Handle)(nil)
	_, err = s.ListenSelf("quitter-nil", func(self *listener.Handle) listener.Func[int] {
		h2 = self
		self.Stop()
		return nil
	})
	require.ErrorIs(t, err, scope.ErrNilFunc)
	assert.Equal(t, listener.Stopped, h2.State())
	assert.Zero(t, s.Len())
	_, err = s.Listen("ok", answer(listener.Allow))
	require.NoError(t, err)
	assert.Equal(t, 1, s.Len())
	require.NoError(t, s.Close(bg))
	assert.Zero(t, s.Len())
}

// Without a stall warning, Unlisten drains on its own goroutine. When its
// deadline passes with a caller still inside, the drain must pass to the
// background, so that Done still closes once the caller leaves.
func TestScope_UnlistenDrainingInlineHandsOverOnDeadline(t *testing.T) {
	s := scope.New[int]("inline")
	b := newBlocker()
	h, err := s.Listen("slow", b.fn)
	require.NoError(t, err)
	dispatched := make(chan listener.Result)
	go func() { dispatched <- s.Dispatch(bg, 0) }()
	within(t, b.inside, "the Dispatch inside the callback")
	ctx, cancel := context.WithTimeout(bg, short)
	defer cancel()
	err = s.Unlisten(ctx, h) // drains inline: nobody else is draining
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), `held up by listener "slow"`)
	assert.Equal(t, listener.Stopping, h.State())
	close(b.release)
	assert.Equal(t, listener.Allow, within(t, dispatched, "the blocked Dispatch"))
	within(t, h.Done(), "the drain, handed to the background when the deadline passed")
	assert.Equal(t, listener.Stopped, h.State())
	require.NoError(t, s.Close(bg))
}

// Many concurrent Unlistens: one of them drains inline, the others wait;
// every one returns nil only after its own listener is Stopped.
func TestScope_ConcurrentUnlistensAllDrain(t *testing.T) {
	s := scope.New[int]("many")
	const n = 64
	handles := make([]*listener.Handle, n)
	for i := range handles {
		h, err := s.Listen("l", answer(listener.Allow))
		require.NoError(t, err)
		handles[i] = h
	}
	var wg sync.WaitGroup
	for _, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, s.Unlisten(bg, h))
			assert.Equal(t, listener.Stopped, h.State())
		}()
	}
	wg.Wait()
	assert.Zero(t, s.Len())
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 0))
	require.NoError(t, s.Close(bg))
}
