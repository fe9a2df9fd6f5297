package listener_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// Notify, and Handle.Wait.

const (
	short = 20 * time.Millisecond // for waits that must time out
	long  = 20 * time.Second      // for waits that must not
)

var bg = context.Background()

// stuck is a listener function that blocks the calls of one event until
// released, and says when a call is inside.
type stuck struct {
	inside  chan struct{}
	release chan struct{}
	once    sync.Once
}

func newStuck(t *testing.T) *stuck {
	s := &stuck{inside: make(chan struct{}, 16), release: make(chan struct{})}
	t.Cleanup(s.open)
	return s
}

func (s *stuck) open() { s.once.Do(func() { close(s.release) }) }

func (s *stuck) block() {
	s.inside <- struct{}{}
	<-s.release
}

func receive[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(long):
		t.Fatalf("nothing after %v: %s", long, what)
		panic("unreachable")
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// ---- Notify ----

type ctxKey struct{}

// The adapter calls fn with the Dispatch's context and event, and answers
// Defer, leaving the decision to the other listeners.
func TestNotify_CallsFnAndAnswersDefer(t *testing.T) {
	var got []string
	fn := listener.Notify(func(ctx context.Context, ev string) {
		got = append(got, ctx.Value(ctxKey{}).(string)+":"+ev)
	})
	require.NotNil(t, fn)
	ctx := context.WithValue(bg, ctxKey{}, "ctx")
	assert.Equal(t, listener.Defer, fn(ctx, "direct"))

	s := scope.New[string]("notify")
	_, err := s.Listen("observer", fn)
	require.NoError(t, err)
	assert.Equal(t, listener.Defer, s.Dispatch(ctx, "alone"), "an observer alone: Defer")
	_, err = s.Listen("policy", func(context.Context, string) listener.Result { return listener.Allow })
	require.NoError(t, err)
	assert.Equal(t, listener.Allow, s.Dispatch(ctx, "with a policy"), "an observer does not change the answer")
	assert.Equal(t, []string{"ctx:direct", "ctx:alone", "ctx:with a policy"}, got)
	require.NoError(t, s.Close(bg))
}

func TestNotify_NilGivesNil(t *testing.T) {
	fn := listener.Notify[int](nil)
	assert.Nil(t, fn)
	s := scope.New[int]("notify")
	h, err := s.Listen("nil", fn)
	assert.Nil(t, h)
	require.ErrorIs(t, err, scope.ErrNilFunc)
	assert.Zero(t, s.Len())
	require.NoError(t, s.Close(bg))
}

func observeA(ctx context.Context, ev int) { observe(ctx, ev) }
func observeB(ctx context.Context, ev int) { observe(ctx, ev) }

// observe blocks the calls of event 1 on the stuck in ctx.
func observe(ctx context.Context, ev int) {
	if ev == 1 {
		ctx.Value(ctxKey{}).(*stuck).block()
	}
}

// Stall reports and deadline errors name a Notify listener by the
// function it wraps, as for any other listener: with a shared epoch,
// two Notify listeners of different functions are told apart, and only
// the one whose call is blocked is named. They are made at one call site
// (a loop, as code that registers a list of observers does) or at two.
func TestNotify_StallReportNamesTheWrappedFunction(t *testing.T) {
	for _, site := range []string{"two call sites", "one call site"} {
		t.Run(site, func(t *testing.T) {
			stalls := make(chan scope.Stall, 4)
			s := scope.New[int]("notify", scope.WithStallWarning(time.Millisecond, func(st scope.Stall) { stalls <- st }))
			var ha, hb *listener.Handle
			var err error
			if site == "two call sites" {
				ha, err = s.Listen("a", listener.Notify(observeA))
				require.NoError(t, err)
				hb, err = s.Listen("b", listener.Notify(observeB))
				require.NoError(t, err)
			} else {
				var hs []*listener.Handle
				for i, f := range []func(context.Context, int){observeA, observeB} {
					h, err := s.Listen(string(rune('a'+i)), listener.Notify(f))
					require.NoError(t, err)
					hs = append(hs, h)
				}
				ha, hb = hs[0], hs[1]
			}
			st := newStuck(t)
			var g errgroup.Group
			// observeA blocks; observeB is not reached by that Dispatch.
			g.Go(func() error { s.Dispatch(context.WithValue(bg, ctxKey{}, st), 1); return nil })
			receive(t, st.inside, "a Dispatch inside observeA")

			ctx, cancel := context.WithTimeout(bg, short)
			defer cancel()
			err = s.Unlisten(ctx, hb)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, `scope: unlisten "b" from "notify": held up by listener "a": context deadline exceeded`, err.Error())
			report := receive(t, stalls, "the stall report")
			assert.Equal(t, []string{"a"}, report.Running, "only the listener whose function is running")
			st.open()
			require.NoError(t, g.Wait())
			require.NoError(t, s.Unlisten(bg, ha))
			require.NoError(t, s.Close(bg))
		})
	}
}

// ---- Handle.Wait ----

// Wait returns nil once Done is closed, even with a context that has
// ended; and a Wait that was waiting returns nil when Done closes. The
// return of every call synchronizes before Wait's nil (the race detector
// checks the plain write and read of written).
func TestHandle_WaitNilOnceDone(t *testing.T) {
	s := scope.New[int]("wait")
	st := newStuck(t)
	written := 0
	h, err := s.Listen("slow", func(context.Context, int) listener.Result {
		st.block()
		written = 42
		return listener.Allow
	})
	require.NoError(t, err)
	dispatched := make(chan listener.Result, 1)
	go func() { dispatched <- s.Dispatch(bg, 0) }()
	receive(t, st.inside, "the Dispatch inside")
	require.True(t, h.Stop())
	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, long)
		defer cancel()
		waited <- h.Wait(ctx)
	}()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v while the call was running", err)
	case <-time.After(short): // expected to expire
	}
	st.open()
	require.NoError(t, receive(t, waited, "Wait returning once the call did"))
	assert.True(t, isClosed(h.Done()), "Done is closed when Wait returns nil")
	assert.Equal(t, 42, written)
	assert.Equal(t, listener.Stopped, h.State())
	ended, cancel := context.WithCancel(bg)
	cancel()
	require.NoError(t, h.Wait(ended), "Done closed: nil, whatever the context")
	require.NoError(t, h.Wait(bg))
	assert.Equal(t, listener.Allow, receive(t, dispatched, "the Dispatch"))
	require.NoError(t, s.Close(bg))
}

// When the deadline passes first, Wait returns an error for which
// errors.Is(err, ctx.Err()) holds, naming the listener that holds the
// drain up, and leaves the listener as it was.
func TestHandle_WaitDeadlineNamesTheCulprit(t *testing.T) {
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			var opts []scope.Option
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("wait", opts...)
			st := newStuck(t)
			h, err := s.Listen("slow", func(context.Context, int) listener.Result { st.block(); return listener.Allow })
			require.NoError(t, err)
			dispatched := make(chan listener.Result, 1)
			go func() { dispatched <- s.Dispatch(bg, 0) }()
			receive(t, st.inside, "the Dispatch inside")
			require.True(t, h.Stop())
			ctx, cancel := context.WithTimeout(bg, short)
			defer cancel()
			err = h.Wait(ctx)
			require.Error(t, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.True(t, errors.Is(err, ctx.Err()))
			assert.Contains(t, err.Error(), `scope: wait for "slow" of "wait": held up by listener "slow"`,
				"the error says what waited: a wait, not an unlisten")
			assert.Equal(t, listener.Stopping, h.State())
			assert.False(t, isClosed(h.Done()))
			st.open()
			assert.Equal(t, listener.Allow, receive(t, dispatched, "the Dispatch"))
			require.NoError(t, h.Wait(bg))
			require.NoError(t, s.Close(bg))
		})
	}
}

// Wait does not stop the listener: on an Active listener it waits until
// its context ends, and the listener is still Active and still called.
func TestHandle_WaitDoesNotStopTheListener(t *testing.T) {
	s := scope.New[int]("wait")
	calls := 0
	h, err := s.Listen("active", func(context.Context, int) listener.Result { calls++; return listener.Deny })
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(bg, short)
	defer cancel()
	err = h.Wait(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, listener.Active, h.State())
	assert.False(t, isClosed(h.Done()))
	assert.Equal(t, listener.Deny, s.Dispatch(bg, 0))
	assert.Equal(t, 1, calls)
	assert.True(t, h.Stop(), "the Wait had not stopped it")
	require.NoError(t, h.Wait(bg))
	require.NoError(t, s.Close(bg))
}

func TestHandle_WaitOnZeroHandlePanics(t *testing.T) {
	msg := "listener: use of a nil Handle or one not returned by Listen"
	var nilHandle *listener.Handle
	assert.PanicsWithValue(t, msg, func() { _ = nilHandle.Wait(bg) })
	assert.PanicsWithValue(t, msg, func() { _ = (&listener.Handle{}).Wait(bg) })
}
