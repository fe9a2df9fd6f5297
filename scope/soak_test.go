package scope_test

import (
	"context"
	"os"
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

// soakEnv names the environment variable that turns the soak on, with its
// duration: QUIESCE_SOAK=10m go test -run Soak -v -timeout 0 ./scope/
const soakEnv = "QUIESCE_SOAK"

// TestSoak runs the stress workload for as long as QUIESCE_SOAK says:
// dispatchers nonstop; owners that listen, unlisten (three ways) and free;
// listeners that panic now and then, stop themselves, or dispatch again;
// and, every so often, a Close of the whole scope and a new one in its
// place. It prints counts periodically (use -v) and fails on the first
// violation of the guarantee it sees. Skipped when the variable is unset,
// so it is off in CI.
func TestSoak(t *testing.T) {
	v := os.Getenv(soakEnv)
	if v == "" {
		t.Skip(soakEnv + " is not set (e.g. " + soakEnv + "=10m go test -run Soak -v -timeout 0 ./scope/)")
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "%s=%q: want a duration such as 10m", soakEnv, v)
	if deadline, ok := t.Deadline(); ok {
		// go test's -timeout (10m by default) would kill the soak with a
		// panic; end early instead, and say so.
		if left := time.Until(deadline) - 30*time.Second; d > left {
			t.Logf("%s=%v exceeds go test's -timeout: soaking %v instead (pass -timeout 0)", soakEnv, d, left.Round(time.Second))
			d = left
		}
	}
	report := d / 10
	if report > 30*time.Second {
		report = 30 * time.Second
	}
	if report < time.Second {
		report = time.Second
	}

	var w watch
	var handlerCalls, selfStops, nested, timeouts, closes, closedEarly, scopes, cycles atomic.Int64
	// A soaked scope counts the calls running in it, so that the replacer
	// can check Close's own promise: no call runs once it returned nil.
	type soaked struct {
		*scope.Scope[int]
		inside atomic.Int32
	}
	newScope := func() *soaked {
		scopes.Inc()
		return &soaked{Scope: scope.New[int]("soak", scope.WithPanicHandler(func(string, any) listener.Result {
			handlerCalls.Inc()
			return listener.Defer
		}))}
	}
	var cur atomic.Pointer[soaked]
	cur.Store(newScope())

	l := startLoad(t, 4, func() { cur.Load().Dispatch(bg, 0) })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	// Owners.
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				s := cur.Load()
				o := &owned{}
				var calls atomic.Int64
				h, err := s.ListenSelf("soaked", func(self *listener.Handle) listener.Func[int] {
					return func(ctx context.Context, depth int) listener.Result {
						s.inside.Inc()
						defer s.inside.Dec()
						w.use(o)
						c := calls.Inc()
						switch {
						case c%64 == 0:
							panic("soak: planned panic")
						case n%5 == 0 && c == 3:
							if self.Stop() {
								selfStops.Inc()
							}
						case n%7 == 0 && depth == 0:
							nested.Inc()
							s.Dispatch(ctx, 1)
						}
						return listener.Allow
					}
				})
				if err != nil {
					if !assert.ErrorIs(t, err, scope.ErrClosed) {
						fail(err)
						return
					}
					continue // the scope was replaced: take the new one
				}
				for j := 0; j < 3; j++ {
					runtime.Gosched()
				}
				o.unlistening.Store(true)
				switch n % 3 {
				case 0:
					ctx, cancel := context.WithTimeout(bg, long)
					err = s.Unlisten(ctx, h)
					cancel()
				case 1:
					h.Stop()
					select {
					case <-h.Done():
					case <-time.After(long):
						err = context.DeadlineExceeded
					}
				case 2:
					ctx, cancel := context.WithTimeout(bg, 50*time.Microsecond)
					if s.Unlisten(ctx, h) != nil {
						timeouts.Inc()
						select {
						case <-h.Done():
						case <-time.After(long):
							err = context.DeadlineExceeded
						}
					}
					cancel()
				}
				if err != nil {
					fail(err)
					return
				}
				if st := h.State(); st != listener.Stopped {
					t.Errorf("listener is %v after its drain", st)
				}
				w.free(o)
				cycles.Inc()
			}
		}()
	}

	// The replacer: now and then, a new scope takes over and the old one
	// is closed under the owners' feet.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			old := cur.Swap(newScope())
			ctx, cancel := context.WithTimeout(bg, long)
			err := old.Close(ctx)
			cancel()
			if err != nil {
				fail(err)
				return
			}
			if old.inside.Load() != 0 {
				closedEarly.Inc() // see TestFault_CloseRacingStopWaitsForTheCallback
			}
			closes.Inc()
		}
	}()

	start := time.Now()
	end := time.NewTimer(d)
	defer end.Stop()
	ticker := time.NewTicker(report)
	defer ticker.Stop()
	line := func() {
		t.Logf("%v: cycles=%d calls=%d overlapped=%d dispatches=%d panics handled=%d self-stops=%d nested=%d unlisten timeouts=%d closes=%d scopes=%d goroutines=%d | use-after-free=%d still-inside=%d close-returned-early=%d",
			time.Since(start).Round(time.Second), cycles.Load(), w.calls.Load(), w.overlapped.Load(), l.dispatches.Load(),
			handlerCalls.Load(), selfStops.Load(), nested.Load(), timeouts.Load(), closes.Load(), scopes.Load(), runtime.NumGoroutine(),
			w.useAfterFree.Load(), w.stillInside.Load(), closedEarly.Load())
	}
soak:
	for {
		select {
		case <-end.C:
			break soak
		case err := <-errs:
			t.Error(err)
			break soak
		case <-ticker.C:
			line()
			if w.useAfterFree.Load() != 0 || w.stillInside.Load() != 0 {
				break soak // fail now, not at the end of a long soak
			}
		}
	}
	close(stop)
	wg.Wait()
	l.finish()
	require.NoError(t, cur.Load().Close(bg))
	line()
	w.verify(t)
	assert.Zero(t, l.panics.Load(), "a panic reached Dispatch's caller despite the handler")
	assert.Positive(t, closes.Load(), "no scope was closed under load")
	assert.Zero(t, closedEarly.Load(), "Close returned nil while a call was running in its scope")
	goleak.VerifyNone(t)
}
