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

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// WithIsolation: a blocked listener holds up only the waits for itself
// (and Close), never another listener's Unlisten or Done, and the
// guarantee is unchanged. The shared-epoch runs of the same scenarios
// show, side by side, what isolation changes.

// gate is a listener function that blocks the calls of one event until
// it is opened. Every gate's function is the same code, so a shared
// scope's stall report cannot tell two gates apart; an isolated one can.
type gate struct {
	blocked atomic.Int64 // calls blocked now; 64-bit counters first, for 386
	calls   atomic.Int64
	inside  chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{inside: make(chan struct{}, 64), release: make(chan struct{})}
}

// fn blocks the calls of event blockOn until open, and answers r.
func (g *gate) fn(blockOn int, r listener.Result) listener.Func[int] {
	return func(_ context.Context, ev int) listener.Result {
		g.calls.Inc()
		if ev == blockOn {
			g.blocked.Inc()
			g.inside <- struct{}{}
			<-g.release
			g.blocked.Dec()
		}
		return r
	}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// isoRig is a scope "plugins" with listener A, whose calls of event 1
// block until A's gate opens, and B, registered after A, which denies.
// isoBlocked Dispatches of event 1 are blocked inside A.
type isoRig struct {
	bCalls  atomic.Int64 // first, for 386's 64-bit alignment
	s       *scope.Scope[int]
	ga      *gate
	a, b    *listener.Handle
	results chan listener.Result
}

const isoBlocked = 3

func newIsoRig(t *testing.T, iso bool, opts ...scope.Option) *isoRig {
	t.Helper()
	if iso {
		opts = append(opts, scope.WithIsolation())
	}
	r := &isoRig{s: scope.New[int]("plugins", opts...), ga: newGate(), results: make(chan listener.Result, isoBlocked)}
	t.Cleanup(r.ga.open) // a test that fails early lets the blocked Dispatches go
	var err error
	r.a, err = r.s.Listen("A", r.ga.fn(1, listener.Allow))
	require.NoError(t, err)
	r.b, err = r.s.Listen("B", func(context.Context, int) listener.Result { r.bCalls.Inc(); return listener.Deny })
	require.NoError(t, err)
	for i := 0; i < isoBlocked; i++ {
		go func() { r.results <- r.s.Dispatch(bg, 1) }()
	}
	for i := 0; i < isoBlocked; i++ {
		within(t, r.ga.inside, "a Dispatch inside A")
	}
	require.Equal(t, int64(isoBlocked), r.ga.blocked.Load())
	return r
}

// stillBlocked checks that every blocked Dispatch is still inside A.
func (r *isoRig) stillBlocked(t *testing.T, when string) {
	t.Helper()
	require.Equal(t, int64(isoBlocked), r.ga.blocked.Load(), "A's calls were still blocked %s", when)
	require.Zero(t, len(r.results), "no blocked Dispatch had returned %s", when)
}

// releaseAll opens A's gate and collects the blocked Dispatches' answers.
func (r *isoRig) releaseAll(t *testing.T) []listener.Result {
	t.Helper()
	r.ga.open()
	var out []listener.Result
	for i := 0; i < isoBlocked; i++ {
		out = append(out, within(t, r.results, "a released Dispatch returning"))
	}
	return out
}

func notClosed(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Unlisten of B returns nil at once while A's calls are blocked; with a
// shared epoch the same Unlisten waits for A's calls until its deadline.
func TestIsolation_UnlistenOfAnotherListenerDoesNotWaitForABlockedCall(t *testing.T) {
	for _, iso := range []bool{true, false} {
		t.Run(map[bool]string{true: "isolated", false: "shared, for contrast"}[iso], func(t *testing.T) {
			r := newIsoRig(t, iso)
			d := long
			if !iso {
				d = short
			}
			ctx, cancel := context.WithTimeout(bg, d)
			defer cancel()
			w := timeIt(func() error { return r.s.Unlisten(ctx, r.b) })
			r.stillBlocked(t, "when Unlisten(B) returned")
			t.Logf("A's calls inside during Unlisten(B): %d; it took %v and returned %v", isoBlocked, w.took, w.err)
			if iso {
				requireNoWait(t, w)
				assert.Equal(t, listener.Stopped, r.b.State())
				assert.False(t, notClosed(r.b.Done()), "B's Done is closed")
			} else {
				require.ErrorIs(t, w.err, context.DeadlineExceeded, "a shared epoch waits for A's calls")
				assert.Contains(t, w.err.Error(), `unlisten "B" from "plugins": held up by listener "A"`)
				assert.Equal(t, listener.Stopping, r.b.State())
			}
			for _, res := range r.releaseAll(t) {
				assert.Equal(t, listener.Allow, res, "B (Deny), removed meanwhile, was not called by the released Dispatches")
			}
			assert.Zero(t, r.bCalls.Load())
			within(t, r.b.Done(), "B's Done")
			require.NoError(t, r.s.Unlisten(bg, r.a))
			require.NoError(t, r.s.Close(bg))
		})
	}
}

// Unlisten of A itself waits for A's calls: its deadline error names A,
// and only A.
func TestIsolation_UnlistenOfTheBlockedListenerWaitsForIt(t *testing.T) {
	r := newIsoRig(t, true)
	ctx, cancel := context.WithTimeout(bg, short)
	defer cancel()
	err := r.s.Unlisten(ctx, r.a)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, errors.Is(err, ctx.Err()))
	assert.Equal(t, `scope: unlisten "A" from "plugins": held up by listener "A": context deadline exceeded`, err.Error())
	r.stillBlocked(t, "when Unlisten(A) timed out")
	assert.Equal(t, listener.Stopping, r.a.State())
	assert.True(t, notClosed(r.a.Done()), "A's Done closed while its calls were blocked")
	assert.Equal(t, listener.Active, r.b.State())
	for _, res := range r.releaseAll(t) {
		assert.Equal(t, listener.Deny, res, "the released Dispatches go on to B")
	}
	within(t, r.a.Done(), "A's Done once its calls returned")
	assert.Equal(t, listener.Stopped, r.a.State())
	require.NoError(t, r.s.Unlisten(bg, r.a))
	require.NoError(t, r.s.Close(bg))
}

// A stall report and a deadline error name exactly the blocked listener,
// WithIsolation, even when another listener runs the same function: A and
// B are both gates here, and only A's calls are blocked. With a shared
// epoch the report can only find the function, which both share, and
// names both (as WithStallWarning documents).
func TestIsolation_StallAndErrorsNameExactlyTheBlockedListener(t *testing.T) {
	for _, iso := range []bool{true, false} {
		t.Run(map[bool]string{true: "isolated", false: "shared, for contrast"}[iso], func(t *testing.T) {
			stalls := make(chan scope.Stall, 16)
			opts := []scope.Option{scope.WithStallWarning(time.Millisecond, func(st scope.Stall) { stalls <- st })}
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("plugins", opts...)
			ga, gb := newGate(), newGate()
			t.Cleanup(ga.open)
			t.Cleanup(gb.open)
			// One call site makes both closures, so that they share their
			// code even where fn is inlined. B blocks on an event nobody
			// dispatches.
			var hs []*listener.Handle
			for i, g := range []*gate{ga, gb} {
				h, err := s.Listen(string(rune('A'+i)), g.fn(1+i, listener.Allow))
				require.NoError(t, err)
				hs = append(hs, h)
			}
			ha, hb := hs[0], hs[1]
			results := make(chan listener.Result, isoBlocked)
			for i := 0; i < isoBlocked; i++ {
				go func() { results <- s.Dispatch(bg, 1) }()
			}
			for i := 0; i < isoBlocked; i++ {
				within(t, ga.inside, "a Dispatch inside A")
			}

			ctx, cancel := context.WithTimeout(bg, short)
			defer cancel()
			err := s.Unlisten(ctx, ha)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			st := within(t, stalls, "the stall report of Unlisten(A)")
			assert.Equal(t, "plugins", st.Scope)
			assert.Equal(t, "A", st.Listener)
			assert.Equal(t, isoBlocked, st.Inside, "A's blocked calls")
			if iso {
				assert.Equal(t, []string{"A"}, st.Running)
				assert.Contains(t, err.Error(), `held up by listener "A"`)
				assert.NotContains(t, err.Error(), `"B"`)
			} else {
				assert.Equal(t, []string{"A", "B"}, st.Running, "a shared epoch names every listener of the running function")
			}

			ctx2, cancel2 := context.WithTimeout(bg, short)
			defer cancel2()
			err = s.Close(ctx2)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			st = within(t, stalls, "the stall report of Close")
			assert.Equal(t, "", st.Listener)
			assert.Equal(t, isoBlocked, st.Inside)
			if iso {
				assert.Equal(t, []string{"A"}, st.Running)
				assert.Equal(t, `scope: close "plugins": held up by listener "A": context deadline exceeded`, err.Error())
				within(t, hb.Done(), "B's Done while A is blocked")
			} else {
				assert.Equal(t, []string{"A", "B"}, st.Running)
			}
			assert.Equal(t, int64(isoBlocked), ga.blocked.Load(), "A's calls were blocked throughout")
			ga.open()
			for i := 0; i < isoBlocked; i++ {
				assert.Equal(t, listener.Allow, within(t, results, "a released Dispatch"))
			}
			require.NoError(t, s.Close(bg))
			for _, h := range []*listener.Handle{ha, hb} {
				assert.Equal(t, listener.Stopped, h.State(), h.Name())
			}
			assert.Zero(t, gb.blocked.Load())
		})
	}
}

// B's Done closes while A is blocked, whether B is stopped by Stop or by a
// Close that is itself still waiting for A. With a shared epoch, B's Done
// waits for A's calls.
func TestIsolation_DoneOfAnIdleListenerClosesWhileAnotherIsBlocked(t *testing.T) {
	t.Run("Stop", func(t *testing.T) {
		r := newIsoRig(t, true)
		require.True(t, r.b.Stop())
		within(t, r.b.Done(), "B's Done while A is blocked")
		r.stillBlocked(t, "when B's Done closed")
		assert.Equal(t, listener.Stopped, r.b.State())
		assert.Equal(t, listener.Active, r.a.State())
		for _, res := range r.releaseAll(t) {
			assert.Equal(t, listener.Allow, res)
		}
		assert.Zero(t, r.bCalls.Load())
		require.NoError(t, r.s.Close(bg))
	})
	t.Run("Close", func(t *testing.T) {
		r := newIsoRig(t, true)
		ctx, cancel := context.WithTimeout(bg, short)
		defer cancel()
		err := r.s.Close(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, `scope: close "plugins": held up by listener "A": context deadline exceeded`, err.Error())
		within(t, r.b.Done(), "B's Done after Close, while A is blocked")
		r.stillBlocked(t, "when B's Done closed")
		assert.Equal(t, listener.Stopped, r.b.State())
		assert.Equal(t, listener.Stopping, r.a.State())
		assert.True(t, notClosed(r.a.Done()))
		for _, res := range r.releaseAll(t) {
			assert.Equal(t, listener.Allow, res, "B, stopped by Close, was not called")
		}
		within(t, r.a.Done(), "A's Done")
		require.NoError(t, r.s.Close(bg))
		assert.Zero(t, r.bCalls.Load())
	})
	t.Run("shared, for contrast", func(t *testing.T) {
		r := newIsoRig(t, false)
		require.True(t, r.b.Stop())
		select {
		case <-r.b.Done():
			t.Fatal("a shared epoch closed B's Done while A's calls were blocked")
		case <-time.After(short): // expected to expire
		}
		r.stillBlocked(t, "while B's Done stayed open")
		r.releaseAll(t)
		within(t, r.b.Done(), "B's Done once A's calls returned")
		require.NoError(t, r.s.Close(bg))
	})
}

// The guarantee under load, WithIsolation: dispatchers run nonstop while
// owners listen and unlisten one listener after another and free its
// object the moment Unlisten returns. No call may touch a freed object
// or still be running when Unlisten returns, and calls must have
// overlapped their removal (counted), or the test proved nothing.
func TestIsolation_GuaranteeUnderLoad(t *testing.T) {
	mk := func(w *watch) func(o *owned) listener.Func[int] {
		return func(o *owned) listener.Func[int] {
			return func(context.Context, int) listener.Result { w.use(o); return listener.Allow }
		}
	}
	for _, mode := range []string{"Scope.Dispatch", "Dispatchers", "with a listener blocked throughout"} {
		t.Run(mode, func(t *testing.T) {
			s := scope.New[int]("iso-load", scope.WithIsolation())
			var w watch
			var stuck *gate
			stuckDone := make(chan listener.Result, 1)
			if mode == "with a listener blocked throughout" {
				stuck = newGate()
				t.Cleanup(stuck.open)
				_, err := s.Listen("stuck", stuck.fn(1, listener.Defer))
				require.NoError(t, err)
				go func() { stuckDone <- s.Dispatch(bg, 1) }()
				within(t, stuck.inside, "the Dispatch blocked inside stuck")
			}
			dispatch := func() { s.Dispatch(bg, 0) }
			if mode == "Dispatchers" {
				ds := make([]*scope.Dispatcher[int], 4)
				for i := range ds {
					ds[i] = s.Dispatcher()
				}
				var next atomic.Int64
				dispatch = func() { ds[next.Inc()%int64(len(ds))].Dispatch(bg, 0) }
			}
			l := startLoad(t, 4, dispatch)
			cycles := churn(t, s, 3, &w, mk(&w))
			l.finish()
			if stuck != nil {
				assert.Equal(t, int64(1), stuck.blocked.Load(), "stuck was blocked throughout the churn")
				assert.Zero(t, len(stuckDone))
				stuck.open()
				within(t, stuckDone, "the stuck Dispatch")
			}
			require.NoError(t, s.Close(bg))
			t.Logf("%s: cycles=%d dispatches=%d", mode, cycles, l.dispatches.Load())
			w.verify(t)
			assert.Zero(t, l.panics.Load())
			goleak.VerifyNone(t)
		})
	}
}

// Many Unlistens at once, of every listener but the blocked one, all
// return nil while it is blocked; each listener is Stopped when its own
// Unlisten returns.
func TestIsolation_ConcurrentUnlistensWhileOneIsBlocked(t *testing.T) {
	r := newIsoRig(t, true)
	const n = 32
	hs := make([]*listener.Handle, n)
	for i := range hs {
		h, err := r.s.Listen(fmt.Sprintf("idle-%d", i), answer(listener.Allow))
		require.NoError(t, err)
		hs[i] = h
	}
	ctx, cancel := context.WithTimeout(bg, long)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	states := make([]listener.State, n)
	for i, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.s.Unlisten(ctx, h)
			states[i] = h.State()
			runtime.Gosched()
		}()
	}
	wg.Wait()
	r.stillBlocked(t, "when every Unlisten had returned")
	for i := range hs {
		require.NoError(t, errs[i], hs[i].Name())
		assert.Equal(t, listener.Stopped, states[i], hs[i].Name())
	}
	r.releaseAll(t)
	require.NoError(t, r.s.Close(bg))
}
