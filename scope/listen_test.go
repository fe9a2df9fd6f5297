package scope_test

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
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

// Listen, ListenSelf and the listener table; the Dispatcher; duplicate
// names.

// ---- ListenSelf ----

// A build that Unlistens its own Handle: the listener is never
// registered, so there is nothing to wait for: nil at once, even with a
// context that has ended, and ListenSelf returns the Stopped Handle with
// a nil error.
func TestListenSelf_BuildUnlistensItself(t *testing.T) {
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			var opts []scope.Option
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("build", opts...)
			_, err := s.Listen("other", answer(listener.Allow))
			require.NoError(t, err)
			for _, ended := range []bool{false, true} {
				var built *listener.Handle
				var w timedWait
				var called atomic.Int64
				h, err := s.ListenSelf("quitter", func(self *listener.Handle) listener.Func[int] {
					built = self
					ctx, cancel := context.WithTimeout(bg, long)
					if ended {
						cancel()
					}
					defer cancel()
					w = timeIt(func() error { return s.Unlisten(ctx, self) })
					return func(context.Context, int) listener.Result { called.Inc(); return listener.Deny }
				})
				require.NoError(t, err)
				require.Same(t, built, h, "ListenSelf returns the Handle build got")
				requireNoWait(t, w)
				assert.Equal(t, listener.Stopped, h.State())
				assert.False(t, notClosed(h.Done()), "Done is closed")
				assert.Equal(t, 1, s.Len())
				assert.Equal(t, listener.Allow, s.Dispatch(bg, 0))
				assert.Zero(t, called.Load(), "never registered, never called")
				require.NoError(t, s.Unlisten(bg, h))
			}
			require.NoError(t, s.Close(bg))
		})
	}
}

// A build that starts a goroutine which Unlistens the Handle, and waits
// for it: the same.
func TestListenSelf_BuildStartsAGoroutineThatUnlistens(t *testing.T) {
	s := scope.New[int]("build")
	var called atomic.Int64
	var w timedWait
	h, err := s.ListenSelf("quitter", func(self *listener.Handle) listener.Func[int] {
		done := make(chan timedWait)
		go func() {
			ctx, cancel := context.WithTimeout(bg, long)
			defer cancel()
			done <- timeIt(func() error { return s.Unlisten(ctx, self) })
		}()
		w = <-done
		return func(context.Context, int) listener.Result { called.Inc(); return listener.Deny }
	})
	require.NoError(t, err)
	requireNoWait(t, w)
	assert.Equal(t, listener.Stopped, h.State())
	assert.False(t, notClosed(h.Done()))
	assert.Zero(t, s.Len())
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 0))
	assert.Zero(t, called.Load())
	require.NoError(t, s.Close(bg))
}

// A build that panics: the panic reaches ListenSelf's caller, and the
// Handle build was given is Stopped with Done closed; nothing is
// registered.
func TestListenSelf_BuildPanics(t *testing.T) {
	s := scope.New[int]("build")
	var built *listener.Handle
	assert.PanicsWithValue(t, "build failed", func() {
		_, _ = s.ListenSelf("panicker", func(self *listener.Handle) listener.Func[int] {
			built = self
			panic("build failed")
		})
	})
	require.NotNil(t, built)
	assert.Equal(t, listener.Stopped, built.State())
	assert.False(t, notClosed(built.Done()), "Done is closed")
	assert.False(t, built.Stop())
	require.NoError(t, built.Wait(bg))
	require.NoError(t, s.Unlisten(bg, built))
	assert.Zero(t, s.Len())
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 0))
	_, err := s.Listen("after", answer(listener.Allow))
	require.NoError(t, err, "the scope still works")
	assert.Equal(t, listener.Allow, s.Dispatch(bg, 0))
	require.NoError(t, s.Close(bg))
}

// A build that calls runtime.Goexit: ListenSelf never returns, its
// goroutine ends, and the Handle is Stopped with Done closed.
func TestListenSelf_BuildGoexits(t *testing.T) {
	s := scope.New[int]("build")
	built := make(chan *listener.Handle, 1)
	returned := false
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = s.ListenSelf("goexiter", func(self *listener.Handle) listener.Func[int] {
			built <- self
			runtime.Goexit()
			return answer(listener.Deny)
		})
		returned = true
	}()
	within(t, ended, "the goroutine ending")
	assert.False(t, returned, "ListenSelf returned after Goexit")
	h := within(t, built, "the Handle build got")
	assert.Equal(t, listener.Stopped, h.State())
	assert.False(t, notClosed(h.Done()), "Done is closed")
	assert.Zero(t, s.Len())
	assert.Equal(t, listener.Defer, s.Dispatch(bg, 0))
	require.NoError(t, s.Close(bg))
}

// ---- the listener table ----

// Registering 10,000 listeners one by one stays cheap: amortized O(1)
// time and garbage per Listen (the rejected copy-on-every-Listen table
// took 837 MB for this), and the table holds them all, in order.
func TestListen_TenThousandOneByOneStaysCheap(t *testing.T) {
	const n = 10000
	s := scope.New[int]("many")
	var calls atomic.Int64
	fn := func(context.Context, int) listener.Result { calls.Inc(); return listener.Defer }
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	for i := 0; i < n; i++ {
		_, err := s.Listen("l", fn)
		require.NoError(t, err)
	}
	took := time.Since(start)
	runtime.ReadMemStats(&m1)
	bytes, mallocs := m1.TotalAlloc-m0.TotalAlloc, m1.Mallocs-m0.Mallocs
	entries, capacity := scope.Tables(s)
	t.Logf("%d Listens: %v, %d bytes, %d allocations; table: %d entries, capacity %d", n, took, bytes, mallocs, entries, capacity)
	assert.Equal(t, n, entries)
	assert.LessOrEqual(t, capacity, 2*n+2)
	assert.Less(t, bytes, uint64(16<<20), "more than 16 MB for %d Listens: the table is copied too often", n)
	assert.LessOrEqual(t, mallocs, uint64(2*n), "more than two allocations per Listen")
	s.Dispatch(bg, 0)
	assert.Equal(t, int64(n), calls.Load())
	require.NoError(t, s.Close(bg))
}

// The entries Dispatch walks stay within twice the live listeners plus
// MinDead, and the table's capacity within four times plus 2*MinDead (a
// copy leaves room for as many again, and the next copy comes when half
// are dead, and at least MinDead): while listeners are added one by one,
// through long runs of Listen and Unlisten at a steady count, and while
// they are removed one by one.
func TestListen_TableCapacityWithinTwiceLive(t *testing.T) {
	const slack = 2 * scope.MinDead
	// check records the worst excess over the bound, reported once.
	type worst struct {
		capOver, entriesOver int
		capAt, entriesAt     string
	}
	check := func(s *scope.Scope[int], w *worst, when string) {
		live := s.Len()
		entries, capacity := scope.Tables(s)
		if over := capacity - (4*live + slack); over > w.capOver {
			w.capOver, w.capAt = over, fmt.Sprintf("%s: capacity %d for %d live listeners (%d entries)", when, capacity, live, entries)
		}
		if over := entries - (2*live + scope.MinDead); over > w.entriesOver {
			w.entriesOver, w.entriesAt = over, fmt.Sprintf("%s: %d entries for %d live listeners", when, entries, live)
		}
	}
	report := func(t *testing.T, w *worst) {
		t.Helper()
		t.Run("entries walked", func(t *testing.T) {
			assert.Zero(t, w.entriesOver, "entries over 2*live+%d; worst %s", scope.MinDead, w.entriesAt)
		})
		t.Run("capacity", func(t *testing.T) {
			assert.Zero(t, w.capOver, "capacity over 4*live+%d; worst %s", slack, w.capAt)
		})
	}
	fill := func(t *testing.T, s *scope.Scope[int], n int, w *worst) []*listener.Handle {
		hs := make([]*listener.Handle, 0, n)
		for i := 0; i < n; i++ {
			h, err := s.Listen("l", answer(listener.Allow))
			require.NoError(t, err)
			hs = append(hs, h)
			check(s, w, fmt.Sprintf("Listen #%d", i+1))
		}
		return hs
	}

	t.Run("growing one by one", func(t *testing.T) {
		s := scope.New[int]("grow")
		var w worst
		fill(t, s, 10000, &w)
		report(t, &w)
		require.NoError(t, s.Close(bg))
	})
	for _, live := range []int{1, 10, 1000} {
		t.Run(fmt.Sprintf("steady Listen/Unlisten cycles at %d live", live), func(t *testing.T) {
			s := scope.New[int]("steady")
			var w worst
			hs := fill(t, s, live, &w)
			for i := 0; i < 20*live+100; i++ {
				h, err := s.Listen("l", answer(listener.Allow))
				require.NoError(t, err)
				check(s, &w, fmt.Sprintf("cycle %d, after Listen", i))
				require.NoError(t, s.Unlisten(bg, hs[0]))
				hs = append(hs[1:], h)
				check(s, &w, fmt.Sprintf("cycle %d, after Unlisten", i))
			}
			report(t, &w)
			require.NoError(t, s.Close(bg))
		})
	}
	t.Run("shrinking one by one", func(t *testing.T) {
		s := scope.New[int]("shrink")
		var w worst
		hs := fill(t, s, 10000, &w)
		for i, h := range hs {
			require.NoError(t, s.Unlisten(bg, h))
			check(s, &w, fmt.Sprintf("Unlisten #%d", i+1))
		}
		report(t, &w)
		require.NoError(t, s.Close(bg))
	})
}

// Dispatch calls listeners in Listen order, and the order survives every
// kind of table copy: growth (a full table), drains of half the entries,
// removals by Stop, by Unlisten, from the front, the middle and the back.
func TestListen_OrderKeptAcrossTableCopies(t *testing.T) {
	s := scope.New[int]("order")
	var got []int
	type entry struct {
		id int
		h  *listener.Handle
	}
	var live []entry
	next := 0
	copies := 0 // new tables seen: capacity changed, or entries dropped
	lastN, lastCap := scope.Tables(s)
	track := func() {
		n, c := scope.Tables(s)
		if c != lastCap || n < lastN {
			copies++
		}
		lastN, lastCap = n, c
	}
	check := func(phase string) {
		t.Helper()
		got = nil
		s.Dispatch(bg, 0)
		want := make([]int, len(live))
		for i, e := range live {
			want[i] = e.id
		}
		if len(want) == 0 {
			want = nil
		}
		require.Equal(t, want, got, phase)
	}
	listen := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			id := next
			next++
			h, err := s.Listen(fmt.Sprint(id), func(context.Context, int) listener.Result {
				got = append(got, id)
				return listener.Defer
			})
			require.NoError(t, err)
			live = append(live, entry{id, h})
			track()
			check(fmt.Sprintf("after Listen %d", id))
		}
	}
	remove := func(pick func(i int) bool, how string) {
		t.Helper()
		var keep, gone []entry
		for i, e := range live {
			if pick(i) {
				gone = append(gone, e)
			} else {
				keep = append(keep, e)
			}
		}
		for _, e := range gone {
			if how == "Stop" {
				require.True(t, e.h.Stop())
				within(t, e.h.Done(), "Done after Stop")
			} else {
				require.NoError(t, s.Unlisten(bg, e.h))
			}
			live = append(live[:0], keep...)
			for _, g := range gone {
				if g.h.State() != listener.Stopped {
					live = append(live, g)
				}
			}
			sort.Slice(live, func(i, j int) bool { return live[i].id < live[j].id })
			track()
			check(fmt.Sprintf("after %s of %d", how, e.id))
		}
		live = keep
	}

	listen(100)
	remove(func(i int) bool { return i%2 == 1 }, "Unlisten")      // every other one
	listen(150)                                                   // growth
	remove(func(i int) bool { return i >= 40 && i < 90 }, "Stop") // a block from the middle
	remove(func(i int) bool { return i < 30 }, "Unlisten")        // the front
	listen(60)
	remove(func(i int) bool { return i >= len(live)-50 }, "Stop") // the back
	listen(300)
	remove(func(i int) bool { return i%3 != 0 }, "Unlisten") // two of every three
	t.Logf("table copies seen: %d, %d listeners left", copies, len(live))
	assert.GreaterOrEqual(t, copies, 8, "too few table copies: the test did not exercise them")
	require.NoError(t, s.Close(bg))
}

// A listener is never called by a Dispatch that began after its Stop (or
// Unlisten) returned, and never runs after its Unlisten returned or its
// Done closed, while several goroutines Listen and stop listeners, so that
// the table is copied over and over under dispatchers (Scope.Dispatch and
// Dispatchers). The test counts the calls during which the table was
// copied, and fails if there were none.
func TestListen_StoppedListenerNeverCalledWhileTheTableIsCopied(t *testing.T) {
	s := scope.New[int]("copies")
	var seq atomic.Int64 // orders Dispatch starts (the event) and Stop returns
	var calls, late, useAfterFree, stillInside, overlappedCopy, stops, unlistens atomic.Int64
	ds := []*scope.Dispatcher[int]{s.Dispatcher(), s.Dispatcher()}
	l := startLoad(t, 4, func() {
		ev := seq.Inc()
		if ev%3 == 0 {
			s.Dispatch(bg, int(ev))
		} else {
			ds[ev%2].Dispatch(bg, int(ev))
		}
	})
	type tracked struct {
		stoppedAt atomic.Int64 // seq once Stop or Unlisten had returned
		freed     atomic.Bool
		inside    atomic.Int32
	}
	fn := func(o *tracked) listener.Func[int] {
		return func(_ context.Context, ev int) listener.Result {
			o.inside.Inc()
			calls.Inc()
			if at := o.stoppedAt.Load(); at != 0 && int64(ev) > at {
				late.Inc()
			}
			if o.freed.Load() {
				useAfterFree.Inc()
			}
			n0, c0 := scope.Tables(s)
			runtime.Gosched()
			if n1, c1 := scope.Tables(s); c1 != c0 || n1 < n0 {
				overlappedCopy.Inc() // a new table was published during this call
			}
			if o.freed.Load() {
				useAfterFree.Inc()
			}
			o.inside.Dec()
			return listener.Allow
		}
	}
	ctx := budget(t)
	var g errgroup.Group
	for w := 0; w < 4; w++ {
		g.Go(func() error {
			for k := 1; ctx.Err() == nil && (overlappedCopy.Load() < 200 || calls.Load() < 20000); k++ {
				batch := k%8 + 1
				objs := make([]*tracked, batch)
				hs := make([]*listener.Handle, batch)
				for i := range hs {
					objs[i] = &tracked{}
					h, err := s.Listen("copied", fn(objs[i]))
					if err != nil {
						return err
					}
					hs[i] = h
				}
				runtime.Gosched()
				for i, h := range hs {
					o := objs[i]
					if (k+i)%2 == 0 {
						h.Stop()
						o.stoppedAt.Store(seq.Inc())
						stops.Inc()
						continue
					}
					uctx, cancel := context.WithTimeout(bg, long)
					err := s.Unlisten(uctx, h)
					cancel()
					if err != nil {
						return err
					}
					o.stoppedAt.Store(seq.Inc())
					if o.inside.Load() != 0 {
						stillInside.Inc()
					}
					o.freed.Store(true)
					unlistens.Inc()
				}
				for i, h := range hs {
					select {
					case <-h.Done():
					case <-time.After(long):
						return fmt.Errorf("Done not closed")
					}
					if objs[i].inside.Load() != 0 {
						stillInside.Inc()
					}
					objs[i].freed.Store(true)
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	l.finish()
	require.NoError(t, s.Close(bg))
	t.Logf("calls=%d (during a table copy %d) stops=%d unlistens=%d dispatches=%d",
		calls.Load(), overlappedCopy.Load(), stops.Load(), unlistens.Load(), l.dispatches.Load())
	assert.Zero(t, late.Load(), "a Dispatch that began after Stop or Unlisten returned called the listener")
	assert.Zero(t, useAfterFree.Load(), "a call ran after Unlisten returned or Done closed")
	assert.Zero(t, stillInside.Load(), "a call was running when Unlisten returned or Done closed")
	assert.Positive(t, calls.Load())
	assert.Positive(t, overlappedCopy.Load(), "no call overlapped a table copy")
	assert.Zero(t, l.panics.Load())
	goleak.VerifyNone(t)
}

// ---- duplicate names ----

// Names need not be unique: two listeners named "dup" are both registered
// and both named by a stall report and a deadline error when both are
// blocked, and only one of them when only one is (they have different
// functions here, so a shared epoch can tell them apart).
func TestListen_DuplicateNames(t *testing.T) {
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			stalls := make(chan scope.Stall, 16)
			opts := []scope.Option{scope.WithStallWarning(time.Millisecond, func(st scope.Stall) { stalls <- st })}
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("names", opts...)
			inside := make(chan int, 4)
			release := make(chan struct{})
			var once sync.Once
			open := func() { once.Do(func() { close(release) }) }
			t.Cleanup(open)
			h1, err := s.Listen("dup", func(_ context.Context, ev int) listener.Result {
				if ev == 1 {
					inside <- 1
					<-release
				}
				return listener.Allow
			})
			require.NoError(t, err)
			h2, err := s.Listen("dup", func(_ context.Context, ev int) listener.Result {
				if ev == 2 {
					inside <- 2
					<-release
				}
				return listener.Deny
			})
			require.NoError(t, err)
			require.NotSame(t, h1, h2)
			assert.Equal(t, 2, s.Len())
			assert.Equal(t, listener.Deny, s.Dispatch(bg, 0), "both are called")

			var g errgroup.Group
			g.Go(func() error { s.Dispatch(bg, 1); return nil })
			assert.Equal(t, 1, within(t, inside, "a Dispatch inside the first dup"))
			// One blocked: one name.
			ctx, cancel := context.WithTimeout(bg, short)
			defer cancel()
			err = h2.Wait(ctx) // Active: the wait can only time out
			require.ErrorIs(t, err, context.DeadlineExceeded)
			if iso {
				// Isolated: a wait for h2 is held up by h2's calls only.
				assert.NotContains(t, err.Error(), "held up")
			} else {
				assert.Contains(t, err.Error(), `held up by listener "dup":`)
			}
			st := within(t, stalls, "the stall report of the wait")
			if iso {
				assert.Empty(t, st.Running)
			} else {
				assert.Equal(t, []string{"dup"}, st.Running)
			}

			g.Go(func() error { s.Dispatch(bg, 2); return nil })
			assert.Equal(t, 2, within(t, inside, "a Dispatch inside the second dup"))
			// Both blocked: both named.
			ctx2, cancel2 := context.WithTimeout(bg, short)
			defer cancel2()
			err = s.Close(ctx2)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, `scope: close "names": held up by listeners "dup" and "dup": context deadline exceeded`, err.Error())
			st = within(t, stalls, "the stall report of Close")
			assert.Equal(t, []string{"dup", "dup"}, st.Running)
			assert.Equal(t, 2, st.Inside)
			open()
			require.NoError(t, g.Wait())
			require.NoError(t, s.Close(bg))
			assert.Equal(t, listener.Stopped, h1.State())
			assert.Equal(t, listener.Stopped, h2.State())
		})
	}
}

// ---- the Dispatcher ----

// A Dispatcher answers as Scope.Dispatch does, calling the same listeners
// in the same order, for every mix of up to three answers and panics,
// with and without a panic handler, isolated or not.
func TestDispatcher_SameAnswersAsScopeDispatch(t *testing.T) {
	kinds := []string{"Defer", "Allow", "Deny", "panic"}
	results := map[string]listener.Result{"Defer": listener.Defer, "Allow": listener.Allow, "Deny": listener.Deny}
	var mixes [][]string
	var gen func(prefix []string)
	gen = func(prefix []string) {
		mixes = append(mixes, append([]string(nil), prefix...))
		if len(prefix) == 3 {
			return
		}
		for _, k := range kinds {
			gen(append(prefix, k))
		}
	}
	gen(nil)
	require.Len(t, mixes, 1+4+16+64)

	type outcome struct {
		res      listener.Result
		panicked any
		order    []string
	}
	for _, iso := range []bool{false, true} {
		for _, handler := range []bool{false, true} {
			t.Run(fmt.Sprintf("isolated=%v handler=%v", iso, handler), func(t *testing.T) {
				for _, mix := range mixes {
					var order []string
					var opts []scope.Option
					if iso {
						opts = append(opts, scope.WithIsolation())
					}
					if handler {
						opts = append(opts, scope.WithPanicHandler(func(string, any) listener.Result { return listener.Allow }))
					}
					s := scope.New[int]("mix", opts...)
					want := outcome{res: listener.Defer}
					for i, k := range mix {
						name := fmt.Sprintf("%d:%s", i, k)
						_, err := s.Listen(name, func(context.Context, int) listener.Result {
							order = append(order, name)
							if k == "panic" {
								panic(name)
							}
							return results[k]
						})
						require.NoError(t, err)
						if want.panicked != nil {
							continue // not reached
						}
						want.order = append(want.order, name)
						r, ok := results[k]
						if !ok { // a panic
							if !handler {
								want.panicked = name
								continue
							}
							r = listener.Allow // the handler's answer
						}
						want.res = want.res.Combine(r)
					}
					if want.panicked != nil {
						want.res = listener.Defer
					}
					run := func(dispatch func(context.Context, int) listener.Result) (out outcome) {
						order = nil
						defer func() {
							out.panicked = recover()
							out.order = order
						}()
						out.res = dispatch(bg, 0)
						return out
					}
					byScope := run(s.Dispatch)
					byDispatcher := run(s.Dispatcher().Dispatch)
					assert.Equal(t, want, byScope, "Scope.Dispatch, %v", mix)
					assert.Equal(t, byScope, byDispatcher, "Dispatcher.Dispatch, %v", mix)
					require.NoError(t, s.Close(bg))
				}
			})
		}
	}
}

// One Dispatcher shared by several goroutines keeps the guarantee while
// owners listen, unlisten and free.
func TestDispatcher_SharedBetweenGoroutines(t *testing.T) {
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			var opts []scope.Option
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("shared-dispatcher", opts...)
			d := s.Dispatcher()
			var w watch
			l := startLoad(t, 4, func() { d.Dispatch(bg, 0) })
			cycles := churn(t, s, 3, &w, func(o *owned) listener.Func[int] {
				return func(context.Context, int) listener.Result { w.use(o); return listener.Allow }
			})
			l.finish()
			require.NoError(t, s.Close(bg))
			t.Logf("cycles=%d dispatches through one Dispatcher=%d", cycles, l.dispatches.Load())
			w.verify(t)
			assert.Zero(t, l.panics.Load())
			goleak.VerifyNone(t)
		})
	}
}

// A Dispatcher stops calling a listener once its Stop has returned: at
// once on the same goroutine, and, under concurrent Dispatchers, for every
// Dispatch that begins after Stop returned.
func TestDispatcher_StopsCallingAfterStopReturns(t *testing.T) {
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			var opts []scope.Option
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("stop", opts...)
			d := s.Dispatcher()
			var aCalls atomic.Int64
			ha, err := s.Listen("a", func(context.Context, int) listener.Result { aCalls.Inc(); return listener.Deny })
			require.NoError(t, err)
			_, err = s.Listen("b", answer(listener.Allow))
			require.NoError(t, err)
			assert.Equal(t, listener.Deny, d.Dispatch(bg, 0))
			require.True(t, ha.Stop())
			assert.Equal(t, listener.Allow, d.Dispatch(bg, 0), "not called right after Stop returned")
			assert.Equal(t, int64(1), aCalls.Load())

			// Concurrently: Dispatchers of their own on four goroutines.
			var seq atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := s.Dispatcher()
					for n := 0; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						d.Dispatch(bg, int(seq.Inc()))
						if n%16 == 0 {
							runtime.Gosched()
						}
					}
				}()
			}
			var late, overlapped, calls atomic.Int64
			ctx := budget(t)
			rounds := 0
			for ctx.Err() == nil && (rounds < 100 || overlapped.Load() < 20) {
				rounds++
				var stoppedAt atomic.Int64
				var inside atomic.Int32
				h, err := s.Listen("stopped", func(_ context.Context, ev int) listener.Result {
					inside.Inc()
					defer inside.Dec()
					calls.Inc()
					if at := stoppedAt.Load(); at != 0 && int64(ev) > at {
						late.Inc()
					}
					runtime.Gosched()
					return listener.Allow
				})
				require.NoError(t, err)
				for i := 0; i < 3; i++ {
					runtime.Gosched()
				}
				require.True(t, h.Stop())
				stoppedAt.Store(seq.Inc())
				if inside.Load() > 0 {
					overlapped.Inc() // calls begun before Stop were still running
				}
				within(t, h.Done(), "Done")
			}
			close(stop)
			wg.Wait()
			t.Logf("rounds=%d calls=%d rounds where calls were running when Stop returned=%d", rounds, calls.Load(), overlapped.Load())
			assert.Zero(t, late.Load(), "a Dispatch that began after Stop returned called the listener")
			assert.Positive(t, overlapped.Load(), "no call was running when Stop returned")
			require.NoError(t, s.Close(bg))
		})
	}
}

func TestDispatcher_ZeroValuePanics(t *testing.T) {
	var d scope.Dispatcher[int]
	defer func() {
		p := recover()
		require.NotNil(t, p, "a zero Dispatcher did not panic")
		msg, ok := p.(string)
		require.True(t, ok, "panic value %#v", p)
		assert.True(t, strings.HasPrefix(msg, "scope: "), msg)
		assert.Equal(t, "scope: use of a Dispatcher not made by Scope.Dispatcher", msg)
	}()
	d.Dispatch(bg, 0)
}

// Dispatch allocates nothing, through a Dispatcher or not, isolated or
// not, with or without a panic handler. A race-enabled build's self-wait
// bookkeeping may allocate; it is skipped then, saying so.
func TestDispatcher_NoAllocations(t *testing.T) {
	configs := []struct {
		name string
		opts []scope.Option
	}{
		{"shared", nil},
		{"isolated", []scope.Option{scope.WithIsolation()}},
		{"panic handler", []scope.Option{scope.WithPanicHandler(func(string, any) listener.Result { return listener.Deny })}},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := scope.New[int]("allocs", c.opts...)
			for _, r := range []listener.Result{listener.Allow, listener.Defer, listener.Deny} {
				_, err := s.Listen("l", answer(r))
				require.NoError(t, err)
			}
			d := s.Dispatcher()
			for _, via := range []struct {
				name     string
				dispatch func(context.Context, int) listener.Result
			}{{"Scope.Dispatch", s.Dispatch}, {"Dispatcher.Dispatch", d.Dispatch}} {
				t.Run(via.name, func(t *testing.T) {
					allocs := testing.AllocsPerRun(1000, func() {
						if via.dispatch(bg, 0) != listener.Deny {
							panic("wrong answer")
						}
					})
					if allocs > 0 && scope.SelfWaitDetection {
						t.Skipf("%v allocations per Dispatch under the race detector's self-wait bookkeeping", allocs)
					}
					assert.Zero(t, allocs)
				})
			}
			require.NoError(t, s.Close(bg))
		})
	}
}
