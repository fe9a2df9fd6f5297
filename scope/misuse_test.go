package scope_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// Misuse never wedges a Scope: a nil context panics before anything
// changes, and a panic that escapes a wait in the middle of a drain (from
// the caller's context or from the stall report, the caller's code)
// leaves the Scope usable by the next caller, with the listener still
// finished once its calls return.

func TestMisuse_NilContextPanicsBeforeAnyChange(t *testing.T) {
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			var opts []scope.Option
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("nil", opts...)
			b := newBlocker()
			release := sync.OnceFunc(func() { close(b.release) })
			t.Cleanup(release)
			h, err := s.Listen("h", b.fn)
			require.NoError(t, err)
			dispatched := make(chan listener.Result, 1)
			go func() { dispatched <- s.Dispatch(bg, 0) }()
			within(t, b.inside, "the Dispatch inside") // a drain would have to wait

			//lint:ignore SA1012 the nil context is the point
			require.PanicsWithValue(t, "scope: Unlisten: nil Context", func() { _ = s.Unlisten(nil, h) })
			assert.Equal(t, listener.Active, h.State(), "Unlisten changed nothing")
			//lint:ignore SA1012 the nil context is the point
			require.PanicsWithValue(t, "listener: Wait: nil Context", func() { _ = h.Wait(nil) })
			//lint:ignore SA1012 the nil context is the point
			require.PanicsWithValue(t, "scope: Close: nil Context", func() { _ = s.Close(nil) })
			assert.Equal(t, listener.Active, h.State(), "Close changed nothing")
			_, err = s.Listen("after", answer(listener.Deny))
			require.NoError(t, err, "the Scope is still open")

			release()
			assert.Equal(t, listener.Allow, within(t, dispatched, "the Dispatch"))
			require.NoError(t, s.Unlisten(bg, h))
			require.NoError(t, s.Close(bg))
		})
	}
}

// panicErrCtx is a context whose Err panics; Done works, so that a wait
// blocks on it and a grace period gets as far as asking it.
type panicErrCtx struct{ context.Context }

func (panicErrCtx) Err() error { panic("ctx: Err") }

func TestMisuse_PanicInADrainLeavesTheScopeUsable(t *testing.T) {
	ended, cancel := context.WithCancel(bg)
	cancel()
	for _, iso := range []bool{false, true} {
		for _, how := range []string{"Unlisten draining itself", "Close draining itself", "Unlisten waiting, stall report panics"} {
			name := map[bool]string{false: "shared", true: "isolated"}[iso] + "/" + how
			t.Run(name, func(t *testing.T) {
				var opts []scope.Option
				if iso {
					opts = append(opts, scope.WithIsolation())
				}
				if how == "Unlisten waiting, stall report panics" {
					var reported sync.Once // the first report panics; the next caller's reports return
					opts = append(opts, scope.WithStallWarning(time.Millisecond, func(scope.Stall) {
						reported.Do(func() { panic("report") })
					}))
				}
				s := scope.New[int]("panics", opts...)
				b := newBlocker()
				release := sync.OnceFunc(func() { close(b.release) })
				t.Cleanup(release)
				h, err := s.Listen("stuck", b.fn)
				require.NoError(t, err)
				other, err := s.Listen("other", answer(listener.Defer))
				require.NoError(t, err)
				dispatched := make(chan listener.Result, 1)
				go func() { dispatched <- s.Dispatch(bg, 0) }()
				within(t, b.inside, "the Dispatch inside")

				switch how {
				case "Unlisten draining itself":
					require.PanicsWithValue(t, "ctx: Err", func() { _ = s.Unlisten(panicErrCtx{ended}, h) })
				case "Close draining itself":
					require.PanicsWithValue(t, "ctx: Err", func() { _ = s.Close(panicErrCtx{ended}) })
				default:
					require.PanicsWithValue(t, "report", func() { _ = s.Unlisten(bg, h) })
				}
				assert.Equal(t, listener.Stopping, h.State(), "stopped, and still waiting for its call")
				assert.Zero(t, scope.Waiters(s), "the wait that panicked is not registered")

				// The next caller is served: a wait behind the stuck call
				// ends at its deadline, and every wait ends once the call
				// returns.
				ctx, cancel := context.WithTimeout(bg, short)
				defer cancel()
				if how == "Close draining itself" {
					require.ErrorIs(t, s.Close(ctx), context.DeadlineExceeded)
				} else if !iso {
					require.ErrorIs(t, s.Unlisten(ctx, other), context.DeadlineExceeded, "the shared drain waits for the stuck call")
				}
				release()
				assert.Equal(t, listener.Allow, within(t, dispatched, "the Dispatch"))
				within(t, h.Done(), "the stuck listener's Done, after its call")
				require.NoError(t, s.Unlisten(bg, other))
				require.NoError(t, h.Wait(bg))
				require.NoError(t, s.Close(bg))
				assert.Equal(t, listener.Stopped, other.State())
			})
		}
	}
}
