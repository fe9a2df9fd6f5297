package bench_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// The Dispatch workload: one event, an int as in the scope package's own
// benchmarks, delivered to n listeners that each answer Defer. Every
// implementation calls the same listener.Func values, loaded from a slice
// (for quiesce, from the listener table its Listens built), so no
// implementation can have the callback inlined: each call is one indirect
// call everywhere. Every implementation combines the answers the way
// Scope.Dispatch does, Deny over Allow over Defer, and every one that must
// release something on the way out does it with a defer, as Scope.Dispatch
// does, so that a panicking listener leaves nothing held.
//
// Each implementation's dispatch is one non-inlined call per event, as
// Scope.Dispatch is (it is far over the inliner's budget); the baselines
// are marked go:noinline so that none of them is inlined into its
// benchmark loop. Within them RLock, RUnlock and the atomics inline as
// usual.

func noop(context.Context, int) listener.Result { return listener.Defer }

// listeners returns the slice of n no-op listeners that every
// implementation calls through.
func listeners(n int) []listener.Func[int] {
	fns := make([]listener.Func[int], n)
	for i := range fns {
		fns[i] = noop
	}
	return fns
}

// Every baseline's dispatch writes out the same loop as Scope.Dispatch:
// call each listener, check its answer and keep the strongest (Deny over
// Allow over Defer, a panic on an invalid Result). It is written out in
// each rather than shared, because a shared helper is over the inliner's
// budget and would cost the baselines one more call than Scope.Dispatch
// pays.
//
//	res := listener.Defer
//	for _, fn := range fns {
//		v := fn(ctx, ev)
//		if !v.Valid() {
//			panicInvalid(v)
//		}
//		if v > res {
//			res = v
//		}
//	}
//	return res

//go:noinline
func panicInvalid(v listener.Result) {
	panic(fmt.Sprintf("bench: listener returned invalid %v", v))
}

// cacheLine is the padding unit, as in package lifecycle: 128 bytes, the
// 64-byte line of x86 together with the adjacent line its prefetcher
// pulls in.
const cacheLine = 128

// An impl is one way of protecting the listeners while they run. serial
// and worker hold the hot loops, one per implementation, so that each
// event costs a direct call of that implementation's dispatch.
type impl interface {
	// serial dispatches n events on the calling goroutine.
	serial(n int)
	// worker dispatches events until pb says stop; RunParallel runs one
	// per worker goroutine.
	worker(pb *testing.PB)
	// once dispatches one event, for the test that every implementation
	// answers alike.
	once(ctx context.Context, ev int) listener.Result
}

// impls lists the implementations in the order of the benchmark's
// sub-benchmarks and of the doc's tables.
var impls = []struct {
	name string
	new  func(fns []listener.Func[int]) impl
}{
	{"quiesce", newQuiesce},
	{"quiesce-decide", func(fns []listener.Func[int]) impl { return decideImpl{newScope(fns)} }},
	{"dispatcher", func(fns []listener.Func[int]) impl { return dispatcherImpl{newScope(fns)} }},
	{"quiesce-isolated", func(fns []listener.Func[int]) impl { return quiesceImpl{newScope(fns, scope.WithIsolation())} }},
	{"mutex", func(fns []listener.Func[int]) impl { return &mutexImpl{fns: fns} }},
	{"rwmutex", func(fns []listener.Func[int]) impl { return &rwmutexImpl{fns: fns} }},
	{"counter", func(fns []listener.Func[int]) impl { return &counterImpl{fns: fns} }},
	{"xsync", func(fns []listener.Func[int]) impl { return &xsyncImpl{mu: xsync.NewRBMutex(), fns: fns} }},
	{"floor", func(fns []listener.Func[int]) impl { return &floorImpl{fns: fns} }},
	{"floor-isolated", func(fns []listener.Func[int]) impl { return &floorIsolatedImpl{fns: fns} }},
	{"none", func(fns []listener.Func[int]) impl { return &noneImpl{fns: fns} }},
}

// quiesce: Scope.Dispatch, the subject. quiesce-isolated is the same
// over a Scope made WithIsolation, where every listener counts on a
// domain of its own: against quiesce, what isolation costs a Dispatch
// (two atomic adds, and a processor lookup once contended, per listener
// rather than per event).
type quiesceImpl struct{ s *scope.Scope[int] }

func newQuiesce(fns []listener.Func[int]) impl { return quiesceImpl{newScope(fns)} }

// newScope returns a Scope made with opts, with fns registered in order.
func newScope(fns []listener.Func[int], opts ...scope.Option) *scope.Scope[int] {
	s := scope.New[int]("bench", opts...)
	for i, fn := range fns {
		if _, err := s.Listen(fmt.Sprint("noop", i), fn); err != nil {
			panic(err)
		}
	}
	return s
}

func (q quiesceImpl) serial(n int) {
	s, ctx := q.s, context.Background()
	for i := 0; i < n; i++ {
		s.Dispatch(ctx, i)
	}
}

func (q quiesceImpl) worker(pb *testing.PB) {
	s, ctx := q.s, context.Background()
	for pb.Next() {
		s.Dispatch(ctx, 0)
	}
}

func (q quiesceImpl) once(ctx context.Context, ev int) listener.Result {
	return q.s.Dispatch(ctx, ev)
}

// quiesce-decide: Scope.Decide, which is Scope.Dispatch plus the name of
// the listener that decided. Against quiesce, what keeping that name
// costs (the target: at most 1.10× with one listener).
type decideImpl struct{ s *scope.Scope[int] }

func (q decideImpl) serial(n int) {
	s, ctx := q.s, context.Background()
	for i := 0; i < n; i++ {
		s.Decide(ctx, i)
	}
}

func (q decideImpl) worker(pb *testing.PB) {
	s, ctx := q.s, context.Background()
	for pb.Next() {
		s.Decide(ctx, 0)
	}
}

func (q decideImpl) once(ctx context.Context, ev int) listener.Result {
	return q.s.Decide(ctx, ev).Result
}

// dispatcher: Dispatcher.Dispatch, the subject for a goroutine that
// dispatches in a loop. It counts on a shard of the Scope's epoch chosen
// once, when the Dispatcher is made, instead of asking the runtime for
// the caller's processor on every call: against floor, whose goroutine
// owns its counter in the same way, it is the cost of everything else
// in a Dispatch. Each goroutine makes its own Dispatcher (serial: the
// benchmark's; parallel: each RunParallel worker's, inside the worker),
// as the Dispatcher's doc prescribes, so the workers count on distinct
// shards.
type dispatcherImpl struct{ s *scope.Scope[int] }

func (q dispatcherImpl) serial(n int) {
	d, ctx := q.s.Dispatcher(), context.Background()
	for i := 0; i < n; i++ {
		d.Dispatch(ctx, i)
	}
}

func (q dispatcherImpl) worker(pb *testing.PB) {
	d, ctx := q.s.Dispatcher(), context.Background() // this worker's own
	for pb.Next() {
		d.Dispatch(ctx, 0)
	}
}

func (q dispatcherImpl) once(ctx context.Context, ev int) listener.Result {
	return q.s.Dispatcher().Dispatch(ctx, ev)
}

// mutex: a sync.Mutex held around the callbacks, what the kauth question
// did. Unlisten would Lock, which waits for the callback.
type mutexImpl struct {
	fns []listener.Func[int]
	_   [cacheLine]byte // padding: the lock's line is written, fns only read
	mu  sync.Mutex
}

//go:noinline
func (m *mutexImpl) dispatch(ctx context.Context, ev int) listener.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := listener.Defer
	for _, fn := range m.fns {
		v := fn(ctx, ev)
		if !v.Valid() {
			panicInvalid(v)
		}
		if v > res {
			res = v
		}
	}
	return res
}

func (m *mutexImpl) serial(n int) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		m.dispatch(ctx, i)
	}
}

func (m *mutexImpl) worker(pb *testing.PB) {
	ctx := context.Background()
	for pb.Next() {
		m.dispatch(ctx, 0)
	}
}

func (m *mutexImpl) once(ctx context.Context, ev int) listener.Result { return m.dispatch(ctx, ev) }

// rwmutex: a sync.RWMutex read-locked around the callbacks, what the
// answer to the kauth question recommends. Unlisten would Lock.
type rwmutexImpl struct {
	fns []listener.Func[int]
	_   [cacheLine]byte // padding: the lock's line is written, fns only read
	mu  sync.RWMutex
}

//go:noinline
func (m *rwmutexImpl) dispatch(ctx context.Context, ev int) listener.Result {
	m.mu.RLock()
	defer m.mu.RUnlock()
	res := listener.Defer
	for _, fn := range m.fns {
		v := fn(ctx, ev)
		if !v.Valid() {
			panicInvalid(v)
		}
		if v > res {
			res = v
		}
	}
	return res
}

func (m *rwmutexImpl) serial(n int) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		m.dispatch(ctx, i)
	}
}

func (m *rwmutexImpl) worker(pb *testing.PB) {
	ctx := context.Background()
	for pb.Next() {
		m.dispatch(ctx, 0)
	}
}

func (m *rwmutexImpl) once(ctx context.Context, ev int) listener.Result { return m.dispatch(ctx, ev) }

// counter: one shared in-flight counter, incremented on entry and
// decremented on exit (the "activation count" of Apple's kauth sample).
// Unlisten would wait for it to reach zero, which a steady stream of
// callers can postpone forever.
type counterImpl struct {
	fns []listener.Func[int]
	_   [cacheLine]byte // padding: n's line is written, fns only read
	n   atomic.Int64
}

//go:noinline
func (c *counterImpl) dispatch(ctx context.Context, ev int) listener.Result {
	c.n.Add(1)
	defer c.n.Add(-1)
	res := listener.Defer
	for _, fn := range c.fns {
		v := fn(ctx, ev)
		if !v.Valid() {
			panicInvalid(v)
		}
		if v > res {
			res = v
		}
	}
	return res
}

func (c *counterImpl) serial(n int) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		c.dispatch(ctx, i)
	}
}

func (c *counterImpl) worker(pb *testing.PB) {
	ctx := context.Background()
	for pb.Next() {
		c.dispatch(ctx, 0)
	}
}

func (c *counterImpl) once(ctx context.Context, ev int) listener.Result { return c.dispatch(ctx, ev) }

// xsync: github.com/puzpuzpuz/xsync/v4's RBMutex, a reader-biased RWMutex
// (BRAVO) whose readers count on one of several padded slots; RLock
// returns the token RUnlock needs.
type xsyncImpl struct {
	mu  *xsync.RBMutex
	fns []listener.Func[int]
}

//go:noinline
func (x *xsyncImpl) dispatch(ctx context.Context, ev int) listener.Result {
	t := x.mu.RLock()
	defer x.mu.RUnlock(t)
	res := listener.Defer
	for _, fn := range x.fns {
		v := fn(ctx, ev)
		if !v.Valid() {
			panicInvalid(v)
		}
		if v > res {
			res = v
		}
	}
	return res
}

func (x *xsyncImpl) serial(n int) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		x.dispatch(ctx, i)
	}
}

func (x *xsyncImpl) worker(pb *testing.PB) {
	ctx := context.Background()
	for pb.Next() {
		x.dispatch(ctx, 0)
	}
}

func (x *xsyncImpl) once(ctx context.Context, ev int) listener.Result { return x.dispatch(ctx, ev) }

// floor: each goroutine owns a padded counter pair and pays two
// uncontended atomic adds per event, with no work to find its counter.
// No counting scheme can pay less (a writer would sum the pairs, as
// Epoch.Synchronize sums its shards); it is not a usable design, since
// a real dispatcher cannot be handed its own counter.
type floorImpl struct{ fns []listener.Func[int] }

// slot is one goroutine's counter pair, alone in its 128-byte block.
type slot struct {
	enter, exit atomic.Uint64
	_           [cacheLine - 16]byte // padding to prevent false sharing
}

//go:noinline
func (f *floorImpl) dispatch(ctx context.Context, c *slot, ev int) listener.Result {
	c.enter.Add(1)
	defer c.exit.Add(1)
	res := listener.Defer
	for _, fn := range f.fns {
		v := fn(ctx, ev)
		if !v.Valid() {
			panicInvalid(v)
		}
		if v > res {
			res = v
		}
	}
	return res
}

func (f *floorImpl) serial(n int) {
	c, ctx := new(slot), context.Background()
	for i := 0; i < n; i++ {
		f.dispatch(ctx, c, i)
	}
}

func (f *floorImpl) worker(pb *testing.PB) {
	c, ctx := new(slot), context.Background() // this worker's own counter
	for pb.Next() {
		f.dispatch(ctx, c, 0)
	}
}

// floorIsolatedImpl is the floor of isolation: what any scheme that
// counts each listener's calls apart must pay, two uncontended atomic
// adds per listener called, on counters the goroutine owns (a pair per
// listener, each alone in its block). quiesce-isolated ÷ floor-isolated is
// what isolation costs beyond that; quiesce-isolated ÷ quiesce is what it
// costs in all.
type floorIsolatedImpl struct{ fns []listener.Func[int] }

//go:noinline
func (f *floorIsolatedImpl) dispatch(ctx context.Context, cs []slot, ev int) listener.Result {
	res := listener.Defer
	for i, fn := range f.fns {
		c := &cs[i]
		c.enter.Add(1)
		v := fn(ctx, ev)
		c.exit.Add(1)
		if !v.Valid() {
			panicInvalid(v)
		}
		if v > res {
			res = v
		}
	}
	return res
}

func (f *floorIsolatedImpl) serial(n int) {
	cs, ctx := make([]slot, len(f.fns)), context.Background()
	for i := 0; i < n; i++ {
		f.dispatch(ctx, cs, i)
	}
}

func (f *floorIsolatedImpl) worker(pb *testing.PB) {
	cs, ctx := make([]slot, len(f.fns)), context.Background() // this worker's own counters
	for pb.Next() {
		f.dispatch(ctx, cs, 0)
	}
}

func (f *floorIsolatedImpl) once(ctx context.Context, ev int) listener.Result {
	return f.dispatch(ctx, make([]slot, len(f.fns)), ev)
}

func (f *floorImpl) once(ctx context.Context, ev int) listener.Result {
	return f.dispatch(ctx, new(slot), ev)
}

// none: no protection at all. Unsafe (nothing can tell when a callback
// has finished); the absolute floor, for reference.
type noneImpl struct{ fns []listener.Func[int] }

//go:noinline
func (u *noneImpl) dispatch(ctx context.Context, ev int) listener.Result {
	res := listener.Defer
	for _, fn := range u.fns {
		v := fn(ctx, ev)
		if !v.Valid() {
			panicInvalid(v)
		}
		if v > res {
			res = v
		}
	}
	return res
}

func (u *noneImpl) serial(n int) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		u.dispatch(ctx, i)
	}
}

func (u *noneImpl) worker(pb *testing.PB) {
	ctx := context.Background()
	for pb.Next() {
		u.dispatch(ctx, 0)
	}
}

func (u *noneImpl) once(ctx context.Context, ev int) listener.Result { return u.dispatch(ctx, ev) }

// BenchmarkDispatch dispatches one event to 1, 4 and 16 no-op listeners
// through every implementation, from one goroutine (mode=serial) and from
// GOMAXPROCS goroutines at once (mode=parallel). Compare implementations
// with benchstat -col /impl: the columns are quiesce (Scope.Dispatch, the
// base), quiesce-decide (Scope.Decide), dispatcher (Dispatcher.Dispatch),
// quiesce-isolated (a Scope made WithIsolation) and the baselines, each
// running the same listener loop.
// The targets are stated against floor and rwmutex (bench/ratios
// prints them).
func BenchmarkDispatch(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		for _, mode := range []string{"serial", "parallel"} {
			for _, im := range impls {
				name := fmt.Sprintf("listeners=%d/mode=%s/impl=%s", n, mode, im.name)
				b.Run(name, func(b *testing.B) {
					benchDispatch(b, im.new, n, mode == "parallel")
				})
			}
		}
	}
}

// benchDispatch runs the workload: an implementation built by newImpl
// over n no-op listeners, serially or in parallel.
func benchDispatch(b *testing.B, newImpl func([]listener.Func[int]) impl, n int, parallel bool) {
	b.ReportAllocs()
	im := newImpl(listeners(n))
	b.ResetTimer()
	if !parallel {
		im.serial(b.N)
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		// One interface call per worker; the worker's loop makes direct
		// calls and keeps what it needs in locals, so that nothing in it
		// is read through this closure, whose captured variables may
		// share a line with testing.PB's counters.
		w := im
		w.worker(pb)
	})
}

// TestImplementationsAgree checks that every implementation runs the same
// workload: for a mix of answers, each returns what folding
// listener.Result.Combine over the answers gives, and Decide names the
// listener that decided.
func TestImplementationsAgree(t *testing.T) {
	answer := func(r listener.Result) listener.Func[int] {
		return func(context.Context, int) listener.Result { return r }
	}
	cases := [][]listener.Result{
		{listener.Defer},
		{listener.Allow},
		{listener.Defer, listener.Allow, listener.Defer},
		{listener.Allow, listener.Deny, listener.Defer, listener.Allow},
	}
	for _, answers := range cases {
		fns := make([]listener.Func[int], len(answers))
		want := listener.Defer
		for i, a := range answers {
			fns[i] = answer(a)
			want = want.Combine(a)
		}
		for _, im := range impls {
			if got := im.new(fns).once(context.Background(), 0); got != want {
				t.Errorf("%s over %v = %v, want %v", im.name, answers, got, want)
			}
		}
		// Decide also names the first listener that gave the answer
		// (newScope names them noop0, noop1, ...), through a Dispatcher
		// too: it has no row of its own, and .ci/run looks for it in this
		// test binary.
		wantDecision := listener.Decision{Result: want}
		if want != listener.Defer {
			for i, a := range answers {
				if a == want {
					wantDecision.By = fmt.Sprint("noop", i)
					break
				}
			}
		}
		s := newScope(fns)
		if got := s.Decide(context.Background(), 0); got != wantDecision {
			t.Errorf("Scope.Decide over %v = %+v, want %+v", answers, got, wantDecision)
		}
		if got := s.Dispatcher().Decide(context.Background(), 0); got != wantDecision {
			t.Errorf("Dispatcher.Decide over %v = %+v, want %+v", answers, got, wantDecision)
		}
	}
}
