package scope_test

import (
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/atomic"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// Decide is Dispatch plus the name of the listener that decided: these
// tests hold it to Dispatch (same calls, same order, same Result, same
// panics, same epoch) and to a reference model of By.

// A decider is Decide and Dispatch of a Scope or of one of its
// Dispatchers.
type decider struct {
	name     string
	decide   func(context.Context, int) listener.Decision
	dispatch func(context.Context, int) listener.Result
}

func decidersOf(s *scope.Scope[int]) []decider {
	d := s.Dispatcher()
	return []decider{
		{"Scope", s.Decide, s.Dispatch},
		{"Dispatcher", d.Decide, d.Dispatch},
	}
}

// decideOptions are the configurations every Decide test runs in: the
// shared epoch's fast path, and the two slow paths Decide shares with
// Dispatch.
var decideOptions = []struct {
	name string
	opts func(handler func(string, any) listener.Result) []scope.Option
}{
	{"shared", func(func(string, any) listener.Result) []scope.Option { return nil }},
	{"isolated", func(func(string, any) listener.Result) []scope.Option {
		return []scope.Option{scope.WithIsolation()}
	}},
	{"panic handler", func(h func(string, any) listener.Result) []scope.Option {
		return []scope.Option{scope.WithPanicHandler(h)}
	}},
	{"isolated with panic handler", func(h func(string, any) listener.Result) []scope.Option {
		return []scope.Option{scope.WithIsolation(), scope.WithPanicHandler(h)}
	}},
}

func denyHandler(string, any) listener.Result { return listener.Deny }

// By names the first listener, in registration order, whose answer
// equals the Result; "" when the Result is Defer.
func TestDecide_ByIsTheFirstListenerWithTheResult(t *testing.T) {
	type l struct {
		name string
		r    listener.Result
	}
	cases := []struct {
		listeners []l
		want      listener.Decision
	}{
		{nil, listener.Decision{}},
		{[]l{{"a", listener.Defer}}, listener.Decision{}},
		{[]l{{"a", listener.Defer}, {"b", listener.Defer}}, listener.Decision{}},
		{[]l{{"a", listener.Allow}}, listener.Decision{Result: listener.Allow, By: "a"}},
		{[]l{{"a", listener.Allow}, {"b", listener.Allow}}, listener.Decision{Result: listener.Allow, By: "a"}},
		{[]l{{"a", listener.Defer}, {"b", listener.Allow}, {"c", listener.Allow}}, listener.Decision{Result: listener.Allow, By: "b"}},
		{[]l{{"a", listener.Allow}, {"b", listener.Deny}, {"c", listener.Deny}}, listener.Decision{Result: listener.Deny, By: "b"}},
		{[]l{{"a", listener.Deny}, {"b", listener.Allow}, {"c", listener.Deny}}, listener.Decision{Result: listener.Deny, By: "a"}},
		{[]l{{"a", listener.Defer}, {"b", listener.Allow}, {"c", listener.Defer}, {"d", listener.Deny}, {"e", listener.Allow}},
			listener.Decision{Result: listener.Deny, By: "d"}},
		{[]l{{"a", listener.Allow}, {"b", listener.Defer}, {"c", listener.Allow}}, listener.Decision{Result: listener.Allow, By: "a"}},
	}
	for _, o := range decideOptions {
		t.Run(o.name, func(t *testing.T) {
			for _, c := range cases {
				s := scope.New[int]("decide", o.opts(denyHandler)...)
				for _, x := range c.listeners {
					_, err := s.Listen(x.name, answer(x.r))
					require.NoError(t, err)
				}
				for _, via := range decidersOf(s) {
					assert.Equal(t, c.want, via.decide(bg, 0), "%s.Decide over %v", via.name, c.listeners)
					assert.Equal(t, c.want.Result, via.dispatch(bg, 0), "%s.Dispatch over %v", via.name, c.listeners)
				}
				require.NoError(t, s.Close(bg))
			}
		})
	}
}

// A stopped listener is not called, so it decides nothing, even when it
// comes first with the answer that wins; and a closed Scope decides
// Defer, by nobody.
func TestDecide_StoppedListenersAndClose(t *testing.T) {
	for _, o := range decideOptions {
		t.Run(o.name, func(t *testing.T) {
			s := scope.New[int]("decide", o.opts(denyHandler)...)
			first, err := s.Listen("first", answer(listener.Deny))
			require.NoError(t, err)
			_, err = s.Listen("allow", answer(listener.Allow))
			require.NoError(t, err)
			second, err := s.Listen("second", answer(listener.Deny))
			require.NoError(t, err)
			for _, via := range decidersOf(s) {
				assert.Equal(t, listener.Decision{Result: listener.Deny, By: "first"}, via.decide(bg, 0), via.name)
			}
			require.True(t, first.Stop())
			for _, via := range decidersOf(s) {
				assert.Equal(t, listener.Decision{Result: listener.Deny, By: "second"}, via.decide(bg, 0), via.name)
			}
			require.NoError(t, s.Unlisten(bg, second))
			for _, via := range decidersOf(s) {
				assert.Equal(t, listener.Decision{Result: listener.Allow, By: "allow"}, via.decide(bg, 0), via.name)
			}
			vias := decidersOf(s) // Dispatchers made before Close
			require.NoError(t, s.Close(bg))
			for _, via := range vias {
				assert.Equal(t, listener.Decision{}, via.decide(bg, 0), "%s after Close", via.name)
			}
		})
	}
}

// With a panic handler, the handler's answer stands for the listener that
// panicked (or returned an invalid Result), so By names it when that
// answer is the Result; the listeners after it are still called.
func TestDecide_PanicHandlerAnswerNamesThePanicker(t *testing.T) {
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			var handled []string
			opts := []scope.Option{scope.WithPanicHandler(func(name string, v any) listener.Result {
				handled = append(handled, fmt.Sprintf("%s: %v", name, v))
				return listener.Deny
			})}
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("decide", opts...)
			_, err := s.Listen("policy", answer(listener.Allow))
			require.NoError(t, err)
			_, err = s.Listen("buggy", func(context.Context, int) listener.Result { panic("nil cookie") })
			require.NoError(t, err)
			_, err = s.Listen("broken", answer(listener.Result(7)))
			require.NoError(t, err)
			var after int
			_, err = s.Listen("after", func(context.Context, int) listener.Result { after++; return listener.Deny })
			require.NoError(t, err)
			for _, via := range decidersOf(s) {
				handled, after = nil, 0
				assert.Equal(t, listener.Decision{Result: listener.Deny, By: "buggy"}, via.decide(bg, 0), via.name)
				assert.Equal(t, []string{
					"buggy: nil cookie",
					`broken: scope: listener "broken" returned invalid Result(7)`,
				}, handled, via.name)
				assert.Equal(t, 1, after, "%s: the listeners after a panic are still called", via.name)
			}
		})
	}
}

// Without a panic handler, a listener's panic, and the panic for an
// invalid Result, reach Decide's caller exactly as they reach Dispatch's,
// and the epoch reference is released first: an Unlisten afterwards
// returns at once.
func TestDecide_PanicsAsDispatch(t *testing.T) {
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			var opts []scope.Option
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("decide", opts...)
			_, err := s.Listen("policy", answer(listener.Allow))
			require.NoError(t, err)
			bad, err := s.Listen("bad", func(_ context.Context, ev int) listener.Result {
				if ev == 0 {
					panic("boom")
				}
				return listener.Result(ev)
			})
			require.NoError(t, err)
			for _, via := range decidersOf(s) {
				assert.PanicsWithValue(t, "boom", func() { via.decide(bg, 0) }, via.name)
				want := recovered(func() { via.dispatch(bg, 3) })
				require.IsType(t, (*scope.InvalidResultError)(nil), want)
				assert.Equal(t, &scope.InvalidResultError{Listener: "bad", Result: 3}, want)
				assert.Equal(t, want, recovered(func() { via.decide(bg, 3) }), via.name)
				assert.Equal(t, listener.Decision{Result: listener.Allow, By: "policy"}, via.decide(bg, 1), via.name)
			}
			ctx, cancel := context.WithTimeout(bg, long)
			defer cancel()
			require.NoError(t, s.Unlisten(ctx, bad), "a panicking Decide left a reference behind")
		})
	}
}

// A listener that calls runtime.Goexit ends the goroutine of its Decide,
// which releases its epoch reference on the way out, as Dispatch does:
// an Unlisten afterwards returns at once.
func TestDecide_GoexitReleasesTheEpoch(t *testing.T) {
	for _, o := range decideOptions {
		t.Run(o.name, func(t *testing.T) {
			s := scope.New[int]("decide", o.opts(denyHandler)...)
			h, err := s.Listen("quitter", func(context.Context, int) listener.Result {
				runtime.Goexit()
				return listener.Allow
			})
			require.NoError(t, err)
			for _, via := range decidersOf(s) {
				returned, ended := false, make(chan struct{})
				go func() {
					defer close(ended)
					via.decide(bg, 0)
					returned = true
				}()
				within(t, ended, "the goroutine of "+via.name+".Decide")
				assert.False(t, returned, "%s.Decide returned after Goexit", via.name)
			}
			ctx, cancel := context.WithTimeout(bg, long)
			defer cancel()
			require.NoError(t, s.Unlisten(ctx, h), "a Decide that ended in Goexit left a reference behind")
		})
	}
}

func recovered(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func TestDecide_ZeroScopeAndDispatcherPanic(t *testing.T) {
	var s scope.Scope[int]
	assert.PanicsWithValue(t, "scope: use of a Scope not created by New", func() { s.Decide(bg, 0) })
	var d scope.Dispatcher[int]
	assert.PanicsWithValue(t, "scope: use of a Dispatcher not made by Scope.Dispatcher", func() { d.Decide(bg, 0) })
}

// Decide allocates nothing, through a Dispatcher or not, in every
// configuration, with a name to return. A race-enabled build's self-wait
// bookkeeping may allocate; it is skipped then, saying so.
func TestDecide_NoAllocations(t *testing.T) {
	for _, o := range decideOptions {
		t.Run(o.name, func(t *testing.T) {
			s := scope.New[int]("allocs", o.opts(denyHandler)...)
			for _, r := range []listener.Result{listener.Allow, listener.Defer, listener.Deny, listener.Deny} {
				_, err := s.Listen(r.String(), answer(r))
				require.NoError(t, err)
			}
			want := listener.Decision{Result: listener.Deny, By: "Deny"}
			for _, via := range decidersOf(s) {
				t.Run(via.name, func(t *testing.T) {
					allocs := testing.AllocsPerRun(1000, func() {
						if via.decide(bg, 0) != want {
							panic("wrong decision")
						}
					})
					if allocs > 0 && scope.SelfWaitDetection {
						t.Skipf("%v allocations per Decide under the race detector's self-wait bookkeeping", allocs)
					}
					assert.Zero(t, allocs)
				})
			}
			require.NoError(t, s.Close(bg))
		})
	}
}

// A reference model over random listener sets: answers Defer, Allow and
// Deny, panics and invalid Results (with a panic handler), names that
// repeat, listeners stopped or unlistened before the event, every
// configuration, through the Scope and a Dispatcher. Decide must call
// what Dispatch calls, in the same order, return Dispatch's Result, and
// name the first listener whose answer is that Result.
func TestDecide_AgreesWithDispatchAndModel(t *testing.T) {
	trials := 3000
	if testing.Short() {
		trials = 300
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	names := []string{"a", "b", "quota", "policy"}
	const (
		kindAnswer = iota
		kindPanic
		kindInvalid
	)
	type spec struct {
		name    string
		kind    int
		answer  listener.Result
		removed bool
	}
	for trial := 0; trial < trials; trial++ {
		o := decideOptions[rng.Intn(len(decideOptions))]
		withHandler := strings.Contains(o.name, "handler")
		handlerAnswer := listener.Result(rng.Intn(3))
		var calls []int      // the listeners called, by index
		var handled []string // the names the handler was called with
		handler := func(name string, _ any) listener.Result {
			handled = append(handled, name)
			return handlerAnswer
		}
		s := scope.New[int]("model", o.opts(handler)...)
		specs := make([]spec, rng.Intn(9))
		handles := make([]*listener.Handle, len(specs))
		for i := range specs {
			sp := spec{name: names[rng.Intn(len(names))], answer: listener.Result(rng.Intn(3))}
			if withHandler && rng.Intn(5) == 0 {
				sp.kind = kindPanic + rng.Intn(2)
			}
			specs[i] = sp
			h, err := s.Listen(sp.name, func(context.Context, int) listener.Result {
				calls = append(calls, i)
				switch sp.kind {
				case kindPanic:
					panic(i)
				case kindInvalid:
					return listener.Result(3 + i)
				}
				return sp.answer
			})
			require.NoError(t, err)
			handles[i] = h
		}
		for i := range specs {
			switch rng.Intn(6) {
			case 0:
				handles[i].Stop()
				specs[i].removed = true
			case 1:
				require.NoError(t, s.Unlisten(bg, handles[i]))
				specs[i].removed = true
			}
		}

		// The model: the live listeners in order, each answering its own
		// answer or, if it panics, the handler's; the strongest answer,
		// and the first listener that gave it.
		var wantCalls []int
		var wantHandled []string
		var answers []listener.Result
		for i, sp := range specs {
			if sp.removed {
				continue
			}
			wantCalls = append(wantCalls, i)
			a := sp.answer
			if sp.kind != kindAnswer {
				a = handlerAnswer
				wantHandled = append(wantHandled, sp.name)
			}
			answers = append(answers, a)
		}
		var want listener.Decision
		for _, a := range answers {
			want.Result = want.Result.Combine(a)
		}
		if want.Result != listener.Defer {
			for k, a := range answers {
				if a == want.Result {
					want.By = specs[wantCalls[k]].name
					break
				}
			}
		}

		for _, via := range decidersOf(s) {
			what := fmt.Sprintf("trial %d, %s, %s, handler answers %v, listeners %+v", trial, o.name, via.name, handlerAnswer, specs)
			calls, handled = nil, nil
			got := via.decide(bg, 0)
			decideCalls, decideHandled := calls, handled
			calls, handled = nil, nil
			res := via.dispatch(bg, 0)
			if !assert.Equal(t, want, got, what) ||
				!assert.Equal(t, want.Result, res, "Dispatch: "+what) ||
				!assert.Equal(t, wantCalls, decideCalls, "Decide calls the live listeners in order: "+what) ||
				!assert.Equal(t, calls, decideCalls, "Decide calls what Dispatch calls: "+what) ||
				!assert.Equal(t, wantHandled, decideHandled, "the handler answers for every panic: "+what) ||
				!assert.Equal(t, handled, decideHandled, "the handler is called as by Dispatch: "+what) {
				return
			}
		}
		require.NoError(t, s.Close(bg))
	}
}

// Decide holds its epoch reference as Dispatch does: an Unlisten waits
// for a call inside Decide, and a stall report names the listener that a
// blocked Decide is running (the goroutine profile sees Decide frames as
// it sees Dispatch's).
func TestDecide_UnlistenWaitsAndStallNamesTheListener(t *testing.T) {
	for _, viaName := range []string{"Scope", "Dispatcher"} {
		t.Run(viaName, func(t *testing.T) {
			stalls := make(chan scope.Stall, 4)
			s := scope.New[int]("decide", scope.WithStallWarning(time.Millisecond, func(st scope.Stall) { stalls <- st }))
			inside, release := make(chan struct{}), make(chan struct{})
			_, err := s.Listen("blocker", func(context.Context, int) listener.Result {
				close(inside)
				<-release
				return listener.Deny
			})
			require.NoError(t, err)
			quick, err := s.Listen("quick", answer(listener.Allow))
			require.NoError(t, err)
			var via decider
			for _, v := range decidersOf(s) {
				if v.name == viaName {
					via = v
				}
			}
			got := make(chan listener.Decision, 1)
			go func() { got <- via.decide(bg, 0) }()
			within(t, inside, "the call inside Decide")

			ctx, cancel := context.WithTimeout(bg, short)
			defer cancel()
			err = s.Unlisten(ctx, quick)
			require.ErrorIs(t, err, context.DeadlineExceeded, "Unlisten did not wait for the Decide")
			assert.Contains(t, err.Error(), `held up by listener "blocker"`)
			st := within(t, stalls, "a stall report")
			assert.Equal(t, []string{"blocker"}, st.Running)
			assert.Equal(t, 1, st.Inside)

			close(release)
			assert.Equal(t, listener.Decision{Result: listener.Deny, By: "blocker"}, within(t, got, "the Decide"))
			within(t, quick.Done(), "quick's Done once the Decide returned")
			require.NoError(t, s.Close(bg))
		})
	}
}

// A wait for its own scope from inside a listener that Decide called is
// a self-wait, as from inside Dispatch: a race-enabled build fails it at
// once with ErrSelfWait, others wait until the context ends.
func TestDecide_SelfWait(t *testing.T) {
	s := scope.New[int]("decide")
	errs := make(chan error, 1)
	_, err := s.ListenSelf("selfish", func(self *listener.Handle) listener.Func[int] {
		return func(context.Context, int) listener.Result {
			ctx, cancel := context.WithTimeout(bg, short)
			defer cancel()
			errs <- s.Unlisten(ctx, self)
			return listener.Deny
		}
	})
	require.NoError(t, err)
	assert.Equal(t, listener.Decision{Result: listener.Deny, By: "selfish"}, s.Decide(bg, 0))
	err = <-errs
	if scope.SelfWaitDetection {
		require.ErrorIs(t, err, scope.ErrSelfWait)
	} else {
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.NoError(t, s.Close(bg))
}

// The kauth race with Decide as the dispatcher: owners listen and
// unlisten while goroutines decide nonstop, and free their object as soon
// as Unlisten returns; no call may touch it after. Every decision names
// a listener that answered it.
func TestDecide_UnlistenGuaranteeUnderLoad(t *testing.T) {
	for _, iso := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "isolated"}[iso], func(t *testing.T) {
			var opts []scope.Option
			if iso {
				opts = append(opts, scope.WithIsolation())
			}
			s := scope.New[int]("decide", opts...)
			_, err := s.Listen("base", answer(listener.Defer))
			require.NoError(t, err)
			var wrong atomic.Int64
			d := s.Dispatcher()
			var n atomic.Int64
			l := startLoad(t, 3, func() {
				dec := s.Decide
				if n.Inc()%2 == 0 {
					dec = d.Decide
				}
				if got := dec(bg, 0); got != (listener.Decision{}) && got != (listener.Decision{Result: listener.Allow, By: "owned"}) {
					wrong.Inc()
				}
			})
			var w watch
			churn(t, s, 3, &w, func(o *owned) listener.Func[int] {
				return func(context.Context, int) listener.Result {
					w.use(o)
					return listener.Allow
				}
			})
			l.finish()
			require.NoError(t, s.Close(bg))
			w.verify(t)
			assert.Zero(t, l.panics.Load())
			assert.Zero(t, wrong.Load(), "a decision named nobody, or the wrong listener")
		})
	}
}

// Decide tells an audit log who decided: here a quota listener denies a
// write that the policy allows, and a path that no listener cares about
// is left to the caller's default.
func ExampleScope_Decide() {
	s := scope.New[op]("fileop")
	_, _ = s.Listen("policy", func(_ context.Context, o op) listener.Result {
		if strings.HasPrefix(o.path, "/home/") {
			return listener.Allow
		}
		return listener.Defer
	})
	_, _ = s.Listen("quota", func(_ context.Context, o op) listener.Result {
		if o.action == "write" && strings.HasPrefix(o.path, "/home/full/") {
			return listener.Deny
		}
		return listener.Defer
	})

	for _, o := range []op{{"read", "/home/full/notes"}, {"write", "/home/full/notes"}, {"read", "/etc/hosts"}} {
		d := s.Decide(context.Background(), o)
		switch d.Result {
		case listener.Deny:
			fmt.Printf("%s %s: denied by %q\n", o.action, o.path, d.By)
		case listener.Allow:
			fmt.Printf("%s %s: allowed by %q\n", o.action, o.path, d.By)
		default:
			fmt.Printf("%s %s: no listener decided\n", o.action, o.path)
		}
	}
	// Output:
	// read /home/full/notes: allowed by "policy"
	// write /home/full/notes: denied by "quota"
	// read /etc/hosts: no listener decided
}
