package scope_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/atomic"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// When Unlisten or Handle.Wait returns nil, Done is already closed and
// State is Stopped; whoever reads State as Stopped finds Done closed; and
// whoever has seen Done closed reads Stopped. Three goroutines race on
// each listener, while dispatchers keep readers inside, so that the drain
// that finishes it runs on any of them (or on a goroutine of its own):
// one Unlistens, one Stops and Waits, one polls State and Done. The test
// counts the rounds in which the listener was finished by a goroutine
// other than the one that saw it Stopped: those are the rounds that can
// catch a store of Stopped before the close of Done.
func TestWait_NilMeansDoneClosedAndStopped(t *testing.T) {
	rounds := 3000
	if testing.Short() {
		rounds = 500
	}
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			var opts []scope.Option
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("order", opts...)
			l := startLoad(t, 2, func() { s.Dispatch(bg, 0) })
			defer l.finish()
			var bad []string
			var mu sync.Mutex
			fail := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				if len(bad) < 5 {
					bad = append(bad, fmt.Sprintf(format, args...))
				}
			}
			var waited, polledFirst atomic.Int64
			for r := 0; r < rounds; r++ {
				h, err := s.Listen("l", func(context.Context, int) listener.Result {
					runtime.Gosched() // stay inside a little
					return listener.Allow
				})
				require.NoError(t, err)
				done := h.Done() // asked for before the finish: closed, not stored
				var g sync.WaitGroup
				g.Add(3)
				go func() {
					defer g.Done()
					if err := s.Unlisten(bg, h); err != nil {
						fail("Unlisten: %v", err)
						return
					}
					if !isClosed(done) || h.State() != listener.Stopped {
						fail("round %d: Unlisten returned nil with Done closed=%v, State %v", r, isClosed(done), h.State())
					}
				}()
				go func() {
					defer g.Done()
					h.Stop()
					if err := h.Wait(bg); err != nil {
						fail("Wait: %v", err)
						return
					}
					waited.Inc()
					if !isClosed(h.Done()) || h.State() != listener.Stopped {
						fail("round %d: Wait returned nil with Done closed=%v, State %v", r, isClosed(h.Done()), h.State())
					}
				}()
				go func() {
					defer g.Done()
					for {
						closed := isClosed(done)
						st := h.State()
						if st == listener.Stopped {
							if !isClosed(done) {
								fail("round %d: State Stopped with Done open", r)
							}
							if !closed {
								polledFirst.Inc()
							}
							return
						}
						if closed {
							fail("round %d: Done closed, then State %v", r, st)
							return
						}
						runtime.Gosched()
					}
				}()
				g.Wait()
			}
			assert.Empty(t, bad)
			assert.Equal(t, int64(rounds), waited.Load())
			t.Logf("%d rounds; in %d the poller saw Stopped in the same look as the finish", rounds, polledFirst.Load())
			require.NoError(t, s.Close(bg))
		})
	}
}

// The Dispatchers of one Scope count on its shards in turn, whatever
// Dispatchers of other Scopes are made in between: two pools of workers,
// each making one Dispatcher per worker for each of two Scopes, share no
// shard within a Scope (up to GOMAXPROCS Dispatchers of it).
func TestDispatcher_ShardsInTurnPerScope(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	a, b := scope.New[int]("a"), scope.New[int]("b")
	_, err := a.Listen("l", answer(listener.Allow))
	require.NoError(t, err)
	_, err = b.Listen("l", answer(listener.Allow))
	require.NoError(t, err)
	seenA, seenB := map[unsafe.Pointer]bool{}, map[unsafe.Pointer]bool{}
	for i := 0; i < 4; i++ {
		da, db := a.Dispatcher(), b.Dispatcher()
		assert.False(t, seenA[scope.DispatcherShard(da)], "Dispatcher %d of a shares a shard", i)
		assert.False(t, seenB[scope.DispatcherShard(db)], "Dispatcher %d of b shares a shard", i)
		seenA[scope.DispatcherShard(da)], seenB[scope.DispatcherShard(db)] = true, true
		assert.Equal(t, listener.Allow, da.Dispatch(bg, 0))
		assert.Equal(t, listener.Allow, db.Dispatch(bg, 0))
	}
	assert.True(t, seenA[scope.DispatcherShard(a.Dispatcher())], "the fifth wraps around")
	require.NoError(t, a.Close(bg))
	require.NoError(t, b.Close(bg))
}
