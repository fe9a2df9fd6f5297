package scope_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/atomic"
	"go.uber.org/goleak"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// The fuzz targets drive a fuzzTarget, not a *scope.Scope directly, so that
// TestFuzzHarness_* can hand them a deliberately broken scope and check
// that the checks catch it: a checker that cannot fail proves nothing.
type fuzzTarget interface {
	Listen(name string, fn listener.Func[int]) (*listener.Handle, error)
	ListenSelf(name string, build func(self *listener.Handle) listener.Func[int]) (*listener.Handle, error)
	Dispatch(ctx context.Context, ev int) listener.Result
	Unlisten(ctx context.Context, h *listener.Handle) error
	Close(ctx context.Context) error
	Len() int
}

var _ fuzzTarget = (*scope.Scope[int])(nil)

func newRealTarget(opts ...scope.Option) fuzzTarget { return scope.New[int]("fuzz", opts...) }

// mustReturn bounds every wait that the guarantee says must end: reaching
// it is reported as a failure, not waited out.
const mustReturn = 10 * time.Second

// fuzzBytes hands out the fuzzer's bytes one at a time, then zeros.
type fuzzBytes struct {
	b []byte
	i int
}

func (r *fuzzBytes) more() bool { return r.i < len(r.b) }

func (r *fuzzBytes) next() byte {
	if r.i >= len(r.b) {
		return 0
	}
	v := r.b[r.i]
	r.i++
	return v
}

func (r *fuzzBytes) intn(n int) int { return int(r.next()) % n }

// ---------------------------------------------------------------------
// FuzzScopeOps: one goroutine, one Scope, a reference model.

// What a listener of FuzzScopeOps does when it is called.
type behaviorKind uint8

const (
	bReturn       behaviorKind = iota // return ret
	bInvalid                          // return the invalid Result bad
	bPanic                            // panic with a string
	bPanicErr                         // panic with an error
	bPanicNil                         // panic(nil): a *runtime.PanicNilError since Go 1.21
	bStopSelf                         // Stop its own Handle, then return ret
	bStopNth                          // Stop the Handle of listener #target, then return ret
	bNested                           // at depth 0, answer with a nested Dispatch; deeper, return ret
	bListen                           // Listen a child that answers Defer, then return ret
	bUnlistenSelf                     // Unlisten its own Handle (a self-wait), then return ret
	numBehaviors
)

type behavior struct {
	kind   behaviorKind
	ret    listener.Result
	bad    listener.Result
	target int
}

var invalidResults = []listener.Result{3, -1, 127, -128}

func decodeBehavior(r *fuzzBytes) behavior {
	return behavior{
		kind:   behaviorKind(r.intn(int(numBehaviors))),
		ret:    listener.Result(r.intn(3)),
		bad:    invalidResults[r.intn(len(invalidResults))],
		target: int(r.next()),
	}
}

// mListener is one listener as the model sees it, together with the real
// Handle it stands for.
type mListener struct {
	id    int
	name  string
	b     behavior
	h     *listener.Handle // the real Handle
	self  *listener.Handle // the Handle ListenSelf passed to build, if any
	state listener.State   // model state; Stopping means "Stopping or already Stopped"
	born  int              // dispatch serial when a callback listened it; 0 otherwise
}

// call is one invocation of a listener in a trace.
type traceCall struct {
	l      *mListener
	serial int  // which Dispatch (outer or nested) called it
	stop   int8 // result of the Stop the listener made: -1 none, 0 false, 1 true
}

type opsRun struct {
	s       fuzzTarget
	v       int              // the variant bits (vIsolated, ...) of this input
	foreign *listener.Handle // a Handle of another scope
	handler *listener.Result // the panic handler's answer; nil: no handler

	ls      []*mListener // registered listeners, in Listen order
	orphans []*mListener // Handles never registered: passed to a failed ListenSelf's build, or stopped in build
	closed  bool
	n0      int // len(ls) when the current operation began: bStopNth indexes it

	// Real side, written by the listeners while a real Dispatch runs.
	serial       int   // dispatch serials handed out so far
	stack        []int // serials of the Dispatches running, innermost last
	trace        []traceCall
	handlerCalls []string
	children     []*mListener // listened by callbacks, not yet adopted by the model
	cbErrs       []string     // what callbacks saw go wrong, reported after the Dispatch

	// Model side.
	mserial       int
	mtrace        []traceCall
	mhandlerCalls []string
	log           []string // operations so far, for the failure message
}

func (o *opsRun) fail(format string, args ...any) error {
	return fmt.Errorf("after ops [%s]: %s", strings.Join(o.log, "; "), fmt.Sprintf(format, args...))
}

// fn builds the real Func of l.
func (o *opsRun) fn(l *mListener) listener.Func[int] {
	return func(ctx context.Context, depth int) listener.Result {
		o.trace = append(o.trace, traceCall{l: l, serial: o.stack[len(o.stack)-1], stop: -1})
		at := len(o.trace) - 1
		switch l.b.kind {
		case bReturn:
			return l.b.ret
		case bInvalid:
			return l.b.bad
		case bPanic:
			panic("boom " + l.name)
		case bPanicErr:
			panic(errors.New("error " + l.name))
		case bPanicNil:
			panic(nil) // recovered as a *runtime.PanicNilError
		case bStopSelf, bStopNth:
			h := l.self
			if h == nil {
				h = l.h
			}
			if l.b.kind == bStopNth {
				h = o.ls[l.b.target%o.n0].h
			}
			o.trace[at].stop = 0
			if h.Stop() {
				o.trace[at].stop = 1
			}
			return l.b.ret
		case bNested:
			if depth > 0 {
				return l.b.ret
			}
			o.serial++
			o.stack = append(o.stack, o.serial)
			defer func() { o.stack = o.stack[:len(o.stack)-1] }()
			return o.s.Dispatch(ctx, depth+1)
		case bListen:
			child := &mListener{name: fmt.Sprintf("child-of-%s", l.name), b: behavior{kind: bReturn, ret: listener.Defer}, born: o.serial}
			h, err := o.s.Listen(child.name, o.fn(child))
			if err != nil {
				panic(fmt.Sprintf("harness: Listen from a callback: %v", err))
			}
			child.h = h
			o.children = append(o.children, child)
			return l.b.ret
		case bUnlistenSelf:
			h := l.self
			if h == nil {
				h = l.h
			}
			o.trace[at].stop = 0
			if err := o.unlistenSelf(ctx, h); err != nil {
				o.cbErrs = append(o.cbErrs, l.name+": "+err.Error())
				return l.b.ret
			}
			o.trace[at].stop = 1
			return l.b.ret
		}
		panic("harness: unknown behavior")
	}
}

// unlistenSelf is a listener's Unlisten of its own Handle during its own
// call. In a build that detects self-waits it must fail at once with
// ErrSelfWait; in others it would wait forever, so it is made with a
// context that has already ended and must fail with that context's error.
// Either way the listener must be left stopped, as Stop leaves it.
func (o *opsRun) unlistenSelf(parent context.Context, h *listener.Handle) error {
	ctx, cancel := context.WithTimeout(parent, mustReturn)
	want := scope.ErrSelfWait
	if !scope.SelfWaitDetection {
		cancel()
		want = context.Canceled
	}
	defer cancel()
	if err := o.s.Unlisten(ctx, h); !errors.Is(err, want) {
		return fmt.Errorf("Unlisten of itself during its call = %v, want an error wrapping %v", err, want)
	}
	if st := h.State(); st != listener.Stopping {
		return fmt.Errorf("%v after Unlisten of itself during its call, want Stopping", st)
	}
	return nil
}

func panicString(v any) string { return fmt.Sprintf("%T: %v", v, v) }

// dispatchOutcome is what a Dispatch did: a result, or a panic.
type dispatchOutcome struct {
	res      listener.Result
	panicked bool
	pv       string
}

func (o *opsRun) realDispatch() (out dispatchOutcome) {
	o.serial++
	o.stack = append(o.stack, o.serial)
	defer func() {
		o.stack = o.stack[:0]
		if p := recover(); p != nil {
			out = dispatchOutcome{panicked: true, pv: panicString(p)}
		}
	}()
	return dispatchOutcome{res: o.s.Dispatch(context.Background(), 0)}
}

// simulate is the reference model of Dispatch: the registered listeners
// that are Active when their turn comes, in Listen order, combined Deny
// over Allow over Defer; a panic ends the Dispatch without a handler and
// is replaced by the handler's answer with one.
func (o *opsRun) simulate(depth int) dispatchOutcome {
	o.mserial++
	serial := o.mserial
	if o.closed {
		return dispatchOutcome{res: listener.Defer}
	}
	// A Dispatch sees the listeners registered when it began.
	snap := append([]*mListener(nil), o.ls...)
	res := listener.Defer
	for _, l := range snap {
		if l.state != listener.Active {
			continue
		}
		o.mtrace = append(o.mtrace, traceCall{l: l, serial: serial, stop: -1})
		at := len(o.mtrace) - 1
		var v listener.Result
		var pv string
		panicked := false
		switch l.b.kind {
		case bReturn:
			v = l.b.ret
		case bInvalid:
			panicked, pv = true, panicString(&scope.InvalidResultError{Listener: l.name, Result: l.b.bad})
		case bPanic:
			panicked, pv = true, panicString("boom "+l.name)
		case bPanicErr:
			panicked, pv = true, panicString(errors.New("error "+l.name))
		case bPanicNil:
			panicked, pv = true, panicString(new(runtime.PanicNilError))
		case bStopSelf, bStopNth, bUnlistenSelf:
			t := l
			if l.b.kind == bStopNth {
				t = o.ls[l.b.target%o.n0]
			}
			o.mtrace[at].stop = 0
			if t.state == listener.Active {
				t.state = listener.Stopping
				o.mtrace[at].stop = 1
			}
			v = l.b.ret
		case bNested:
			if depth > 0 {
				v = l.b.ret
				break
			}
			sub := o.simulate(depth + 1)
			v, panicked, pv = sub.res, sub.panicked, sub.pv
		case bListen:
			if len(o.children) == 0 {
				return dispatchOutcome{panicked: true, pv: "model: a callback listened a child that the real run did not"}
			}
			child := o.children[0]
			o.children = o.children[1:]
			child.state = listener.Active
			o.ls = append(o.ls, child)
			v = l.b.ret
		}
		if panicked {
			if o.handler == nil {
				return dispatchOutcome{panicked: true, pv: pv}
			}
			o.mhandlerCalls = append(o.mhandlerCalls, l.name+" "+pv)
			v = *o.handler
			if !v.Valid() {
				return dispatchOutcome{panicked: true, pv: panicString(fmt.Sprintf("scope: panic handler returned invalid %v for listener %q", v, l.name))}
			}
		}
		if v > res {
			res = v
		}
	}
	return dispatchOutcome{res: res}
}

func traceString(tr []traceCall) string {
	parts := make([]string, len(tr))
	for i, c := range tr {
		parts[i] = fmt.Sprintf("%s@%d", c.l.name, c.serial)
		if c.stop >= 0 {
			parts[i] += fmt.Sprintf("(stop=%d)", c.stop)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (o *opsRun) dispatch() error {
	o.trace, o.mtrace, o.handlerCalls, o.mhandlerCalls, o.cbErrs = nil, nil, nil, nil, nil
	o.n0 = len(o.ls)
	o.mserial = o.serial
	got := o.realDispatch()
	want := o.simulate(0)
	if len(o.cbErrs) != 0 {
		return o.fail("during Dispatch: %s", strings.Join(o.cbErrs, "; "))
	}
	if len(o.children) != 0 {
		return o.fail("a callback listened %d children the model did not expect", len(o.children))
	}
	// A listener listened by a callback while Dispatch d ran may or may not
	// be called by d ("may or may not" in Dispatch's doc); the model never
	// calls it, so such calls are dropped from the real trace.
	real := o.trace[:0:0]
	for _, c := range o.trace {
		if c.l.born != 0 && c.l.born >= c.serial {
			continue
		}
		real = append(real, c)
	}
	if a, b := traceString(real), traceString(o.mtrace); a != b {
		return o.fail("Dispatch called %s, the model calls %s", a, b)
	}
	if got != want {
		return o.fail("Dispatch gave %+v, the model %+v", got, want)
	}
	if a, b := strings.Join(o.handlerCalls, ", "), strings.Join(o.mhandlerCalls, ", "); a != b {
		return o.fail("panic handler called with [%s], the model says [%s]", a, b)
	}
	return nil
}

func (o *opsRun) pick(r *fuzzBytes) *mListener {
	all := append(append([]*mListener(nil), o.ls...), o.orphans...)
	if len(all) == 0 {
		return nil
	}
	return all[r.intn(len(all))]
}

func (o *opsRun) all() []*mListener { return append(append([]*mListener(nil), o.ls...), o.orphans...) }

// check compares Len and every Handle's State with the model.
func (o *opsRun) check() error {
	active := 0
	for _, l := range o.ls {
		if l.state == listener.Active {
			active++
		}
	}
	if n := o.s.Len(); n != active {
		return o.fail("Len() = %d, the model has %d Active", n, active)
	}
	for _, l := range o.all() {
		// Done is read before State: the drain may finish in between,
		// and it stores Stopped before it closes Done.
		var doneClosed bool
		select {
		case <-l.h.Done():
			doneClosed = true
		default:
		}
		got := l.h.State()
		ok := got == l.state || (l.state == listener.Stopping && got == listener.Stopped)
		if !ok {
			return o.fail("%s is %v, the model says %v", l.name, got, l.state)
		}
		if doneClosed && got != listener.Stopped {
			return o.fail("%s: Done closed in state %v", l.name, got)
		}
		if got == listener.Stopped && !closesSoon(l.h.Done()) {
			return o.fail("%s: Stopped but Done not closed", l.name)
		}
	}
	return nil
}

func (o *opsRun) newListener(r *fuzzBytes) *mListener {
	id := len(o.ls) + len(o.orphans)
	return &mListener{id: id, name: fmt.Sprintf("L%d", id), b: decodeBehavior(r)}
}

// listenerFunc is o.fn(l), or, for a listener that answers Defer in an
// input with vNotify, the same calls through listener.Notify, whose
// answer is Defer.
func (o *opsRun) listenerFunc(l *mListener) listener.Func[int] {
	f := o.fn(l)
	if o.v&vNotify == 0 || l.b.kind != bReturn || l.b.ret != listener.Defer {
		return f
	}
	return listener.Notify(func(ctx context.Context, ev int) { f(ctx, ev) })
}

// listen registers a listener with Listen or ListenSelf, or hits one of
// their error cases.
func (o *opsRun) listen(r *fuzzBytes, how int) error {
	l := o.newListener(r)
	var h *listener.Handle
	var err error
	var built *listener.Handle
	wantErr := error(nil)
	switch how {
	case 0: // Listen
		o.log = append(o.log, fmt.Sprintf("Listen %s %+v", l.name, l.b))
		h, err = o.s.Listen(l.name, o.listenerFunc(l))
	case 1: // ListenSelf
		o.log = append(o.log, fmt.Sprintf("ListenSelf %s %+v", l.name, l.b))
		h, err = o.s.ListenSelf(l.name, func(self *listener.Handle) listener.Func[int] {
			built, l.self = self, self
			return o.listenerFunc(l)
		})
	case 2: // Listen(nil)
		o.log = append(o.log, "Listen nil")
		h, err = o.s.Listen(l.name, nil)
		wantErr = scope.ErrNilFunc
	case 3: // ListenSelf(nil)
		o.log = append(o.log, "ListenSelf nil build")
		h, err = o.s.ListenSelf(l.name, nil)
		wantErr = scope.ErrNilFunc
	case 4: // build returns nil
		o.log = append(o.log, "ListenSelf build returns nil")
		h, err = o.s.ListenSelf(l.name, func(self *listener.Handle) listener.Func[int] { built = self; return nil })
		wantErr = scope.ErrNilFunc
	case 5: // build stops its own Handle, then returns a Func
		o.log = append(o.log, fmt.Sprintf("ListenSelf %s stopping itself in build", l.name))
		h, err = o.s.ListenSelf(l.name, func(self *listener.Handle) listener.Func[int] {
			built, l.self = self, self
			if !self.Stop() {
				panic("harness: first Stop of a new Handle returned false")
			}
			return o.fn(l)
		})
	case 6: // build stops its own Handle, then returns nil
		o.log = append(o.log, "ListenSelf stopping itself in build, returning nil")
		h, err = o.s.ListenSelf(l.name, func(self *listener.Handle) listener.Func[int] {
			built = self
			self.Stop()
			return nil
		})
		wantErr = scope.ErrNilFunc
	}
	var orErr error // the docs do not rank ErrNilFunc and ErrClosed
	if o.closed {
		if wantErr != nil {
			orErr = scope.ErrClosed
		} else {
			wantErr = scope.ErrClosed
		}
	}
	if wantErr != nil {
		if !(errors.Is(err, wantErr) || orErr != nil && errors.Is(err, orErr)) || h != nil {
			return o.fail("got (%v, %v), want (nil, %v)", h, err, wantErr)
		}
		if built != nil {
			// "a Handle already passed to build is then Stopped"
			if st := built.State(); st != listener.Stopped {
				return o.fail("the Handle passed to a failed ListenSelf's build is %v, want Stopped", st)
			}
			o.orphans = append(o.orphans, &mListener{id: l.id, name: l.name + "(orphan)", h: built, state: listener.Stopped})
		}
		return nil
	}
	if err != nil || h == nil {
		return o.fail("got (%v, %v), want a Handle", h, err)
	}
	if built != nil && built != h {
		return o.fail("ListenSelf passed build another Handle than it returned")
	}
	if h.Name() != l.name {
		return o.fail("Handle name %q, want %q", h.Name(), l.name)
	}
	l.h = h
	if how == 5 {
		// "If build ... stops the Handle before ListenSelf publishes it,
		// the listener is never registered: ListenSelf returns the
		// Handle, already Stopped, and a nil error."
		if st := h.State(); st != listener.Stopped {
			return o.fail("ListenSelf returned a Handle stopped in build in state %v, want Stopped", st)
		}
		l.state = listener.Stopped
		o.orphans = append(o.orphans, l)
		return nil
	}
	l.state = listener.Active
	o.ls = append(o.ls, l)
	return nil
}

// closesSoon reports whether done closes within mustReturn.
func closesSoon(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	t := time.NewTimer(mustReturn)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func (o *opsRun) waitDone(l *mListener) error {
	if !closesSoon(l.h.Done()) {
		return o.fail("%s: Done not closed %v after Stop with no Dispatch running", l.name, mustReturn)
	}
	l.state = listener.Stopped
	return nil
}

// wait is waitDone through Handle.Wait: on an Active listener, with a
// context that has already ended, it must return that context's error.
func (o *opsRun) wait(l *mListener) error {
	if l.state == listener.Active {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := l.h.Wait(ctx); !errors.Is(err, context.Canceled) {
			return o.fail("Wait(ended context) of Active %s = %v, want context.Canceled", l.name, err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), mustReturn)
	defer cancel()
	if err := l.h.Wait(ctx); err != nil {
		return o.fail("Wait of stopped %s = %v with no Dispatch running", l.name, err)
	}
	if st := l.h.State(); st != listener.Stopped {
		return o.fail("%s is %v after Wait returned nil", l.name, st)
	}
	l.state = listener.Stopped
	return nil
}

func (o *opsRun) step(r *fuzzBytes) error {
	switch r.intn(13) {
	case 0, 1:
		return o.listen(r, 0)
	case 2:
		return o.listen(r, 1)
	case 3:
		return o.listen(r, 2+r.intn(5))
	case 4: // Stop
		l := o.pick(r)
		if l == nil {
			return nil
		}
		o.log = append(o.log, "Stop "+l.name)
		want := l.state == listener.Active
		if got := l.h.Stop(); got != want {
			return o.fail("Stop of %s returned %v, want %v", l.name, got, want)
		}
		if want {
			l.state = listener.Stopping
		}
	case 5: // Unlisten
		l := o.pick(r)
		if l == nil {
			return nil
		}
		o.log = append(o.log, "Unlisten "+l.name)
		ctx, cancel := context.WithTimeout(context.Background(), mustReturn)
		err := o.s.Unlisten(ctx, l.h)
		cancel()
		if err != nil {
			return o.fail("Unlisten(%s) = %v with no Dispatch running", l.name, err)
		}
		if st := l.h.State(); st != listener.Stopped {
			return o.fail("%s is %v after Unlisten returned nil", l.name, st)
		}
		l.state = listener.Stopped
	case 6: // Unlisten with a context that has already ended
		l := o.pick(r)
		if l == nil {
			return nil
		}
		o.log = append(o.log, "Unlisten(cancelled) "+l.name)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := o.s.Unlisten(ctx, l.h)
		switch {
		case err == nil:
			if st := l.h.State(); st != listener.Stopped {
				return o.fail("%s is %v after Unlisten returned nil", l.name, st)
			}
			l.state = listener.Stopped
		case errors.Is(err, context.Canceled):
			if st := l.h.State(); st == listener.Active {
				return o.fail("%s still Active after a cancelled Unlisten", l.name)
			}
			if l.state == listener.Active {
				l.state = listener.Stopping
			}
		default:
			return o.fail("cancelled Unlisten(%s) = %v", l.name, err)
		}
	case 7, 8, 9:
		o.log = append(o.log, "Dispatch")
		return o.dispatch()
	case 10: // Close
		cancelled := r.intn(4) == 0
		o.log = append(o.log, fmt.Sprintf("Close(cancelled=%v)", cancelled))
		ctx, cancel := context.WithTimeout(context.Background(), mustReturn)
		if cancelled {
			cancel()
		}
		err := o.s.Close(ctx)
		cancel()
		o.closed = true
		for _, l := range o.all() {
			if l.state == listener.Active {
				l.state = listener.Stopping
			}
		}
		switch {
		case err == nil:
			for _, l := range o.all() {
				if st := l.h.State(); st != listener.Stopped {
					return o.fail("%s is %v after Close returned nil", l.name, st)
				}
				l.state = listener.Stopped
			}
		case cancelled && errors.Is(err, context.Canceled):
		default:
			return o.fail("Close = %v", err)
		}
	case 11: // Unlisten a Handle this scope did not make
		var h *listener.Handle
		what := r.intn(3)
		switch what {
		case 0:
			h = o.foreign
		case 2:
			h = &listener.Handle{}
		}
		o.log = append(o.log, fmt.Sprintf("Unlisten foreign(%d)", what))
		if err := o.s.Unlisten(context.Background(), h); !errors.Is(err, scope.ErrUnknownHandle) {
			return o.fail("Unlisten of a foreign handle (%d) = %v, want ErrUnknownHandle", what, err)
		}
		if st := o.foreign.State(); st != listener.Active {
			return o.fail("the foreign handle is %v, want it untouched (Active)", st)
		}
	case 12: // wait for Done
		l := o.pick(r)
		if l == nil {
			return nil
		}
		o.log = append(o.log, "Done "+l.name)
		if o.v&vWait != 0 {
			return o.wait(l)
		}
		if l.state == listener.Active {
			select {
			case <-l.h.Done():
				return o.fail("Done of Active %s is closed", l.name)
			default:
			}
			return nil
		}
		return o.waitDone(l)
	}
	return nil
}

// maxOps bounds one input, so that every input runs in well under a
// millisecond of model time.
const maxOps = 64

// runOps is the body of FuzzScopeOps. It returns the first difference
// between the scope and the model.
func runOps(data []byte, mk func(...scope.Option) fuzzTarget) error {
	r := &fuzzBytes{b: data}
	o := &opsRun{}
	var opts []scope.Option
	cfg := int(r.next())
	o.v = cfg / 5
	if o.v&vIsolated != 0 {
		opts = append(opts, scope.WithIsolation())
	}
	switch mode := cfg % 5; mode {
	case 1, 2, 3:
		res := listener.Result(mode - 1)
		o.handler = &res
	case 4:
		res := listener.Result(9) // an invalid answer: the handler's panic reaches the caller
		o.handler = &res
	}
	if o.handler != nil {
		answer := *o.handler
		opts = append(opts, scope.WithPanicHandler(func(name string, v any) listener.Result {
			o.handlerCalls = append(o.handlerCalls, name+" "+panicString(v))
			return answer
		}))
	}
	o.s = mk(opts...)
	if sc, ok := o.s.(*scope.Scope[int]); ok && o.v&vDispatcher != 0 {
		o.s = dispatcherTarget{sc, sc.Dispatcher()}
	}
	other := scope.New[int]("other")
	defer func() { _ = other.Close(context.Background()) }()
	var err error
	o.foreign, err = other.Listen("foreign", func(context.Context, int) listener.Result { return listener.Allow })
	if err != nil {
		return err
	}

	for n := 0; r.more() && n < maxOps; n++ {
		if err := o.step(r); err != nil {
			return err
		}
		if err := o.check(); err != nil {
			return err
		}
	}

	// Teardown: Close drains everything, whatever the ops left behind.
	o.log = append(o.log, "final Close")
	ctx, cancel := context.WithTimeout(context.Background(), mustReturn)
	defer cancel()
	if err := o.s.Close(ctx); err != nil {
		return o.fail("final Close = %v", err)
	}
	o.closed = true
	for _, l := range o.all() {
		if st := l.h.State(); st != listener.Stopped {
			return o.fail("%s is %v after the final Close", l.name, st)
		}
		l.state = listener.Stopped
	}
	if n := o.s.Len(); n != 0 {
		return o.fail("Len() = %d after Close", n)
	}
	o.log = append(o.log, "Dispatch after Close")
	return o.dispatch()
}

// Builders for hand-made FuzzScopeOps inputs. An input is a config byte,
// then operations: an opcode (see step) and its argument bytes. The config
// byte is the panic handler (hNone, or the handler's answer) plus 5 times
// the variant bits below; the first seeds have none.
const (
	hNone byte = iota
	hDefer
	hAllow
	hDeny
	hInvalid
)

// Variant bits of FuzzScopeOps's config byte (its value ÷ 5).
const (
	vIsolated   = 1 << iota // the scope is made WithIsolation
	vDispatcher             // every Dispatch, nested ones too, goes through one Dispatcher
	vWait                   // the Done operation waits with Handle.Wait
	vNotify                 // listeners that answer Defer by returning are made with listener.Notify
)

func variant(handler byte, bits int) byte { return handler + 5*byte(bits) }

// dispatcherTarget dispatches through one Dispatcher of its Scope: it must
// behave exactly as the Scope's own Dispatch, shared or not.
type dispatcherTarget struct {
	*scope.Scope[int]
	d *scope.Dispatcher[int]
}

func (s dispatcherTarget) Dispatch(ctx context.Context, ev int) listener.Result {
	return s.d.Dispatch(ctx, ev)
}

func opsSeed(handler byte, ops ...[]byte) []byte {
	out := []byte{handler}
	for _, op := range ops {
		out = append(out, op...)
	}
	return out
}

func opListen(k behaviorKind, ret listener.Result, target byte) []byte {
	return []byte{0, byte(k), byte(ret), 0, target}
}

func opListenSelf(k behaviorKind, ret listener.Result, target byte) []byte {
	return []byte{2, byte(k), byte(ret), 0, target}
}

// opListenVariant: 0 Listen(nil), 1 ListenSelf(nil), 2 build returns nil,
// 3 build stops its Handle, 4 build stops its Handle and returns nil.
func opListenVariant(v byte) []byte { return []byte{3, v, 0, 1, 0, 0} }

func opStop(i byte) []byte            { return []byte{4, i} }
func opUnlisten(i byte) []byte        { return []byte{5, i} }
func opUnlistenEnded(i byte) []byte   { return []byte{6, i} }
func opDispatch() []byte              { return []byte{7} }
func opClose(cancelled bool) []byte   { return []byte{10, map[bool]byte{false: 1, true: 0}[cancelled]} }
func opUnlistenForeign(w byte) []byte { return []byte{11, w} }
func opDone(i byte) []byte            { return []byte{12, i} }

var opsSeeds = [][]byte{
	// Allow, Deny, Defer; Dispatch; Unlisten the Deny; Dispatch.
	opsSeed(hNone, opListen(bReturn, listener.Allow, 0), opListen(bReturn, listener.Deny, 0), opListen(bReturn, listener.Defer, 0),
		opDispatch(), opUnlisten(1), opDispatch(), opDone(1)),
	// Panics without a handler: invalid result, panic(nil), error.
	opsSeed(hNone, opListen(bReturn, listener.Allow, 0), opListen(bInvalid, 0, 0), opDispatch(), opUnlisten(1),
		opListen(bPanicNil, 0, 0), opDispatch(), opUnlisten(2), opListenSelf(bPanicErr, 0, 0), opDispatch()),
	// The same with handlers answering Deny, Defer, and an invalid handler.
	opsSeed(hDeny, opListen(bPanic, 0, 0), opListen(bInvalid, 0, 0), opListen(bReturn, listener.Allow, 0), opDispatch(), opDispatch()),
	opsSeed(hDefer, opListen(bPanic, 0, 0), opListen(bReturn, listener.Allow, 0), opDispatch()),
	opsSeed(hInvalid, opListen(bReturn, listener.Allow, 0), opListen(bPanic, 0, 0), opDispatch(), opDispatch()),
	// Listeners that stop themselves (Listen and ListenSelf) or another.
	opsSeed(hNone, opListen(bStopSelf, listener.Allow, 0), opListenSelf(bStopSelf, listener.Deny, 0), opListen(bReturn, listener.Allow, 0),
		opListen(bStopNth, listener.Defer, 2), opDispatch(), opDispatch(), opDone(0), opDone(1), opStop(3), opStop(3)),
	// Nested Dispatch, a callback that listens a child, and both with a panic.
	opsSeed(hAllow, opListen(bNested, 0, 0), opListen(bListen, listener.Allow, 0), opListen(bReturn, listener.Deny, 0),
		opDispatch(), opDispatch(), opListen(bPanic, 0, 0), opDispatch(), opUnlisten(3)),
	opsSeed(hNone, opListen(bListen, 0, 0), opListen(bNested, 0, 0), opListen(bPanic, 0, 0), opDispatch(), opUnlisten(2), opDispatch()),
	// Errors: nil funcs, foreign handles, an ended context.
	opsSeed(hNone, opListenVariant(0), opListenVariant(1), opListenVariant(2), opListen(bReturn, listener.Allow, 0),
		opUnlistenForeign(0), opUnlistenForeign(1), opUnlistenForeign(2), opUnlistenEnded(0), opUnlistenEnded(0), opDone(0)),
	// Close twice, once with an ended context; Listen and Dispatch after.
	opsSeed(hNone, opListen(bReturn, listener.Deny, 0), opClose(true), opClose(false), opListen(bReturn, listener.Allow, 0),
		opListenVariant(0), opListenVariant(2), opDispatch(), opUnlisten(0)),
	// Builds that stop their own Handle (fixed in 1dbb9c3: Len went to -1).
	opsSeed(hNone, opListenVariant(4), opListen(bReturn, listener.Allow, 0), opListenVariant(3), opDispatch(), opUnlisten(2),
		opStop(1), opDone(1), opClose(false)),
	// Listeners that unlisten themselves during their call (the
	// OpenTelemetry case), one from a nested Dispatch; then Wait and Done.
	opsSeed(hNone, opListen(bUnlistenSelf, listener.Allow, 0), opListenSelf(bUnlistenSelf, listener.Deny, 0),
		opListen(bReturn, listener.Defer, 0), opDispatch(), opDispatch(), opDone(0), opDone(1)),
	opsSeed(variant(hNone, vWait), opListen(bNested, 0, 0), opListen(bUnlistenSelf, listener.Deny, 0), opDone(1),
		opDispatch(), opDone(1), opDispatch(), opStop(0), opDone(0)),
	// The same through a Dispatcher, with isolated listeners, with Notify.
	opsSeed(variant(hDeny, vIsolated|vDispatcher), opListen(bNested, 0, 0), opListen(bUnlistenSelf, listener.Allow, 0),
		opListen(bPanic, 0, 0), opListen(bStopNth, listener.Defer, 0), opDispatch(), opDispatch(), opUnlisten(0)),
	opsSeed(variant(hNone, vDispatcher|vNotify|vWait), opListen(bReturn, listener.Defer, 0), opListen(bListen, listener.Allow, 0),
		opListen(bNested, 0, 0), opDispatch(), opDispatch(), opStop(0), opDone(0), opUnlisten(1), opDone(1)),
	opsSeed(variant(hAllow, vIsolated|vNotify), opListen(bReturn, listener.Defer, 0), opListen(bPanicErr, 0, 0),
		opListenSelf(bUnlistenSelf, listener.Allow, 0), opDispatch(), opClose(true), opDispatch(), opDone(2)),
}

// FuzzScopeOps turns bytes into a sequence of Listen, ListenSelf, Stop,
// Unlisten, Dispatch, Close and Done or Wait calls on one Scope from one
// goroutine, with listeners that answer, panic, return invalid Results,
// stop themselves or others, unlisten themselves (a self-wait), dispatch
// again and listen new listeners, with and without a panic handler, with
// and without isolation, through Scope.Dispatch or a Dispatcher. After every operation it compares the scope with a
// reference model: what Dispatch returns and which listeners it calls in
// which order, Len, every Handle's State and Done, and the errors.
func FuzzScopeOps(f *testing.F) {
	for _, s := range opsSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := runOps(data, newRealTarget); err != nil {
			t.Fatal(err)
		}
	})
}

// ---------------------------------------------------------------------
// FuzzScopeConcurrent: short concurrent schedules, checked against the
// guarantee and against the order of events.

// cObj is a listener's owner object: what the owner frees after Unlisten.
type cObj struct {
	// The 64-bit counters come first: go.uber.org/atomic does not align
	// them, and 386 needs 8-byte alignment for 64-bit atomics (the first
	// word of an allocated struct has it).
	calls atomic.Int64
	// Points of the run's sequence counter: Listen began and returned;
	// the listener's removal began (Stop, Unlisten or Close) and the first
	// such call returned; the owner saw it drained (Unlisten returned nil
	// or Done closed).
	listenStart, listenEnd, stopStart, stopEnd, gone atomic.Int64

	id          int
	ret         listener.Result
	panics      bool // panics on every other call
	oneShot     bool // stops itself on its first call
	h           atomic.Pointer[listener.Handle]
	acted       atomic.Int32 // one-shot: calls whose Stop returned true
	inside      atomic.Int32
	unlistening atomic.Bool
	freed       atomic.Bool
}

// dRec records one Dispatch: when it began and ended on the sequence
// counter, which listeners it called and the answer their calls add up to.
type dRec struct {
	start, end int64
	calls      []int
	combined   listener.Result
	res        listener.Result
	panicked   bool
}

type recKey struct{}

type concStats struct {
	dispatches, calls, overlapped, panics int64
}

type concRun struct {
	// 64-bit counters first, for 386 (see cObj).
	seq                                                  atomic.Int64 // orders events across goroutines
	closeStart, closeEnd                                 atomic.Int64
	useAfterFree, stillInside, overlapped, panics, calls atomic.Int64

	s       fuzzTarget
	handler *listener.Result

	mu   sync.Mutex
	objs []*cObj

	errMu sync.Mutex
	errs  []string // the first few violations seen by the goroutines
}

func (c *concRun) errorf(format string, args ...any) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if len(c.errs) < 8 {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

func storeMin(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if old != 0 && old <= x {
			return
		}
		if v.CompareAndSwap(old, x) {
			return
		}
	}
}

func (c *concRun) fn(o *cObj) listener.Func[int] {
	return func(ctx context.Context, _ int) listener.Result {
		rec := ctx.Value(recKey{}).(*dRec)
		o.inside.Inc()
		defer o.inside.Dec()
		if o.freed.Load() {
			c.useAfterFree.Inc()
		}
		rec.calls = append(rec.calls, o.id)
		n := o.calls.Inc()
		c.calls.Inc()
		runtime.Gosched() // widen the window between the pick-up and the use
		if o.unlistening.Load() {
			c.overlapped.Inc()
		}
		if o.freed.Load() {
			c.useAfterFree.Inc()
		}
		ret := o.ret
		if o.oneShot {
			storeMin(&o.stopStart, c.seq.Inc())
			if !o.h.Load().Stop() {
				ret = listener.Defer
			} else {
				o.acted.Inc()
			}
			storeMin(&o.stopEnd, c.seq.Inc())
		}
		if o.panics && n%2 == 1 {
			c.panics.Inc()
			if c.handler != nil {
				if *c.handler > rec.combined {
					rec.combined = *c.handler
				}
			}
			panic(fmt.Sprintf("listener %d panics", o.id))
		}
		if ret > rec.combined {
			rec.combined = ret
		}
		return ret
	}
}

// dispatch runs one Dispatch through dispatch (the scope's own, or a
// Dispatcher's) and records it.
func (c *concRun) dispatch(dispatch func(context.Context, int) listener.Result) *dRec {
	rec := &dRec{}
	ctx := context.WithValue(context.Background(), recKey{}, rec)
	rec.start = c.seq.Inc()
	func() {
		defer func() {
			if p := recover(); p != nil {
				if c.handler != nil {
					c.errorf("Dispatch panicked with a panic handler set: %v", p)
				}
				rec.panicked = true
			}
		}()
		rec.res = dispatch(ctx, 0)
	}()
	rec.end = c.seq.Inc()
	if !rec.panicked && rec.res != rec.combined {
		c.errorf("Dispatch returned %v, but the listeners it called answered %v in total", rec.res, rec.combined)
	}
	return rec
}

// release waits for o's listener to drain and frees o, checking that no
// call of it is still running.
func (c *concRun) release(o *cObj) {
	if o.inside.Load() != 0 {
		c.stillInside.Inc()
	}
	o.gone.Store(c.seq.Inc())
	o.freed.Store(true)
}

type concOwner struct {
	c    *concRun
	live []*cObj
}

func (w *concOwner) listen(b byte, nextID func() int) {
	c := w.c
	o := &cObj{id: nextID(), ret: listener.Result(b % 3), panics: b%7 == 6, oneShot: b%5 == 4}
	o.listenStart.Store(c.seq.Inc())
	var h *listener.Handle
	var err error
	if o.oneShot {
		h, err = c.s.ListenSelf(fmt.Sprint(o.id), func(self *listener.Handle) listener.Func[int] {
			o.h.Store(self)
			return c.fn(o)
		})
	} else {
		h, err = c.s.Listen(fmt.Sprint(o.id), c.fn(o))
	}
	end := c.seq.Inc()
	if err != nil {
		if !errors.Is(err, scope.ErrClosed) {
			c.errorf("Listen = %v", err)
		} else if c.closeStart.Load() == 0 {
			c.errorf("Listen returned ErrClosed before any Close began")
		}
		return
	}
	o.h.Store(h)
	o.listenEnd.Store(end)
	c.mu.Lock()
	c.objs = append(c.objs, o)
	c.mu.Unlock()
	w.live = append(w.live, o)
}

func (w *concOwner) take(b byte) *cObj {
	if len(w.live) == 0 {
		return nil
	}
	i := int(b) % len(w.live)
	o := w.live[i]
	w.live = append(w.live[:i], w.live[i+1:]...)
	return o
}

func (w *concOwner) unlisten(o *cObj, deadline time.Duration) {
	c := w.c
	o.unlistening.Store(true)
	storeMin(&o.stopStart, c.seq.Inc())
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	err := c.s.Unlisten(ctx, o.h.Load())
	cancel()
	storeMin(&o.stopEnd, c.seq.Inc()) // removed, whatever the error
	if err != nil {
		if deadline == mustReturn || !errors.Is(err, context.DeadlineExceeded) {
			c.errorf("Unlisten(%d) = %v", o.id, err)
		}
		w.waitDone(o)
		return
	}
	if st := o.h.Load().State(); st != listener.Stopped {
		c.errorf("listener %d is %v after Unlisten returned nil", o.id, st)
	}
	c.release(o)
}

func (w *concOwner) waitDone(o *cObj) {
	if !closesSoon(o.h.Load().Done()) {
		w.c.errorf("listener %d: Done not closed %v after Stop", o.id, mustReturn)
		return
	}
	w.c.release(o)
}

func (w *concOwner) close() {
	c := w.c
	if !c.closeStart.CompareAndSwap(0, c.seq.Inc()) {
		return // one Close per schedule races the others; the final one comes later
	}
	ctx, cancel := context.WithTimeout(context.Background(), mustReturn)
	err := c.s.Close(ctx)
	cancel()
	c.closeEnd.Store(c.seq.Inc())
	if err != nil {
		c.errorf("Close = %v", err)
		return
	}
	// Every Handle whose Listen returned before now is Stopped: none is
	// left Active, or even Stopping, once Close has returned nil. (A Stop
	// or Unlisten racing Close broke this before the fix tested by
	// TestFault_CloseRacingStopWaitsForTheCallback.)
	c.mu.Lock()
	objs := append([]*cObj(nil), c.objs...)
	c.mu.Unlock()
	for _, o := range objs {
		if st := o.h.Load().State(); st != listener.Stopped {
			c.errorf("listener %d is %v after Close returned nil", o.id, st)
		}
	}
}

// runConcurrent is the body of FuzzScopeConcurrent.
func runConcurrent(data []byte, mk func(...scope.Option) fuzzTarget) (concStats, error) {
	leaks := goleak.IgnoreCurrent()
	r := &fuzzBytes{b: data}
	c := &concRun{}
	cfg := r.next()
	nDispatchers := 1 + int(cfg%3)
	nOwners := 1 + int(cfg/3%3)
	var opts []scope.Option
	if h := cfg / 9 % 3; h > 0 {
		res := listener.Allow + listener.Result(h-1) // Allow or Deny
		c.handler = &res
		opts = append(opts, scope.WithPanicHandler(func(string, any) listener.Result { return res }))
	}
	v := int(cfg / 27)
	if v&vIsolated != 0 {
		opts = append(opts, scope.WithIsolation())
	}
	c.s = mk(opts...)
	// newDispatch gives each dispatching goroutine its way to dispatch:
	// with vDispatcher, a Dispatcher of its own, as the docs advise.
	newDispatch := func() func(context.Context, int) listener.Result { return c.s.Dispatch }
	if sc, ok := c.s.(*scope.Scope[int]); ok && v&vDispatcher != 0 {
		newDispatch = func() func(context.Context, int) listener.Result { return sc.Dispatcher().Dispatch }
	}

	// Deal the remaining bytes to the owners as (opcode, argument) pairs.
	const maxOwnerOps = 48
	scripts := make([][][2]byte, nOwners)
	for n := 0; r.more() && n < maxOwnerOps; n++ {
		scripts[n%nOwners] = append(scripts[n%nOwners], [2]byte{r.next(), r.next()})
	}

	var ids atomic.Int64
	nextID := func() int { return int(ids.Inc()) }
	stop := make(chan struct{})
	const maxDispatches = 2000
	recs := make([][]*dRec, nDispatchers+nOwners)
	var dispatching sync.WaitGroup
	for d := 0; d < nDispatchers; d++ {
		dispatching.Add(1)
		go func() {
			defer dispatching.Done()
			dispatch := newDispatch()
			for i := 0; i < maxDispatches; i++ {
				select {
				case <-stop:
					return
				default:
				}
				recs[d] = append(recs[d], c.dispatch(dispatch))
				if i%4 == 3 {
					runtime.Gosched()
				}
			}
		}()
	}
	var owners sync.WaitGroup
	for i := range scripts {
		owners.Add(1)
		go func() {
			defer owners.Done()
			w := &concOwner{c: c}
			for _, op := range scripts[i] {
				switch op[0] % 8 {
				case 0, 1:
					w.listen(op[1], nextID)
				case 2:
					if o := w.take(op[1]); o != nil {
						w.unlisten(o, mustReturn)
					}
				case 3: // a deadline that may end while callbacks run
					if o := w.take(op[1]); o != nil {
						w.unlisten(o, time.Duration(op[1]%4)*50*time.Microsecond)
					}
				case 4: // Stop, then wait for Done
					if o := w.take(op[1]); o != nil {
						o.unlistening.Store(true)
						storeMin(&o.stopStart, c.seq.Inc())
						o.h.Load().Stop()
						storeMin(&o.stopEnd, c.seq.Inc())
						w.waitDone(o)
					}
				case 5:
					if op[1]%4 == 0 {
						w.close()
					}
				case 6:
					for j := 0; j < int(op[1]%4)+1; j++ {
						runtime.Gosched()
					}
				case 7:
					recs[nDispatchers+i] = append(recs[nDispatchers+i], c.dispatch(c.s.Dispatch))
				}
			}
			for len(w.live) > 0 {
				w.unlisten(w.take(0), mustReturn)
			}
		}()
	}
	owners.Wait()
	close(stop)
	dispatching.Wait()

	var stats concStats
	ctx, cancel := context.WithTimeout(context.Background(), mustReturn)
	defer cancel()
	if err := c.s.Close(ctx); err != nil {
		return stats, fmt.Errorf("final Close = %v", err)
	}
	stats.calls, stats.overlapped, stats.panics = c.calls.Load(), c.overlapped.Load(), c.panics.Load()
	if n := c.useAfterFree.Load(); n != 0 {
		c.errorf("%d callbacks saw their object freed after Unlisten returned or Done closed", n)
	}
	if n := c.stillInside.Load(); n != 0 {
		c.errorf("%d times a listener was still running when Unlisten returned nil or Done closed", n)
	}
	if len(c.errs) != 0 {
		return stats, errors.New(strings.Join(c.errs, "; "))
	}

	// The order checks: every listener Active for the whole of a Dispatch
	// is called by it; none is called by a Dispatch that began after its
	// removal returned or its owner saw it drained, or that ended before
	// it was listened; and a Dispatch that began after Close returned
	// calls nothing.
	for _, o := range c.objs {
		if st := o.h.Load().State(); st != listener.Stopped {
			return stats, fmt.Errorf("listener %d is %v after the final Close", o.id, st)
		}
		if o.oneShot && o.acted.Load() > 1 {
			return stats, fmt.Errorf("one-shot listener %d acted %d times", o.id, o.acted.Load())
		}
	}
	closeStart, closeEnd := c.closeStart.Load(), c.closeEnd.Load()
	for _, list := range recs {
		for _, rec := range list {
			stats.dispatches++
			if closeEnd != 0 && rec.start > closeEnd && (len(rec.calls) != 0 || rec.res != listener.Defer) {
				return stats, fmt.Errorf("a Dispatch that began after Close returned called %v and returned %v", rec.calls, rec.res)
			}
			called := map[int]bool{}
			for _, id := range rec.calls {
				called[id] = true
			}
			for _, o := range c.objs {
				removed := o.stopStart.Load()
				if closeStart != 0 && (removed == 0 || closeStart < removed) {
					removed = closeStart
				}
				stopped := o.stopEnd.Load()
				if closeEnd != 0 && (stopped == 0 || closeEnd < stopped) {
					stopped = closeEnd
				}
				if called[o.id] {
					if g := o.gone.Load(); g != 0 && rec.start > g {
						return stats, fmt.Errorf("listener %d called by a Dispatch that began (%d) after its owner saw it drained (%d)", o.id, rec.start, g)
					}
					if stopped != 0 && rec.start > stopped {
						return stats, fmt.Errorf("listener %d called by a Dispatch that began (%d) after its Stop, Unlisten or Close returned (%d)", o.id, rec.start, stopped)
					}
					if rec.end < o.listenStart.Load() {
						return stats, fmt.Errorf("listener %d called by a Dispatch that ended before Listen began", o.id)
					}
				} else if !rec.panicked && rec.start > o.listenEnd.Load() && (removed == 0 || rec.end < removed) {
					return stats, fmt.Errorf("listener %d was Active during a whole Dispatch (%d..%d, listened %d, removed %d) that did not call it",
						o.id, rec.start, rec.end, o.listenEnd.Load(), removed)
				}
			}
		}
	}
	if err := goleak.Find(leaks); err != nil {
		return stats, err
	}
	return stats, nil
}

// Builders for hand-made FuzzScopeConcurrent inputs: a config byte, then
// (opcode, argument) pairs dealt round-robin to the owners.
func concConfig(nDispatchers, nOwners int, handler byte) byte {
	return byte(nDispatchers-1) + 3*byte(nOwners-1) + 9*handler // handler: 0 none, 1 Allow, 2 Deny
}

// concVariant adds FuzzScopeOps's variant bits vIsolated and vDispatcher
// (each dispatching goroutine dispatches through a Dispatcher of its own)
// to a config byte.
func concVariant(cfg byte, bits int) byte { return cfg + 27*byte(bits) }

func concSeed(cfg byte, ops ...[2]byte) []byte {
	out := []byte{cfg}
	for _, op := range ops {
		out = append(out, op[0], op[1])
	}
	return out
}

// Listen arguments: the answer is arg%3; arg%7 == 6 panics every other
// call; arg%5 == 4 is a one-shot listener.
var (
	cListenAllow   = [2]byte{0, 1}
	cListenDeny    = [2]byte{0, 2}
	cListenPanic   = [2]byte{0, 6}
	cListenOneShot = [2]byte{0, 4}
	cUnlisten      = [2]byte{2, 0}
	cUnlistenShort = [2]byte{3, 1} // 50 µs deadline
	cStop          = [2]byte{4, 0}
	cClose         = [2]byte{5, 0}
	cYield         = [2]byte{6, 3}
	cDispatch      = [2]byte{7, 0}
)

var concSeeds = [][]byte{
	// 2 dispatchers, 1 owner: listen, let them pick it up, unlisten.
	concSeed(concConfig(2, 1, 0), cListenAllow, cYield, cUnlisten, cListenDeny, cYield, cUnlisten, cListenAllow, cListenDeny,
		cYield, cStop, cYield, cUnlisten),
	// 3 dispatchers, 2 owners, deadlines that may end while callbacks run.
	concSeed(concConfig(3, 2, 0), cListenAllow, cListenDeny, cYield, cYield, cUnlistenShort, cUnlistenShort, cListenAllow,
		cListenAllow, cYield, cDispatch, cStop, cUnlisten),
	// Panicking listeners without a handler, then with a Deny handler.
	concSeed(concConfig(2, 2, 0), cListenPanic, cListenAllow, cYield, cDispatch, cUnlisten, cYield, cUnlisten),
	concSeed(concConfig(2, 2, 2), cListenPanic, cListenAllow, cYield, cDispatch, cDispatch, cYield, cUnlisten, cUnlisten),
	// One-shot listeners racing three dispatchers.
	concSeed(concConfig(3, 1, 0), cListenOneShot, cListenOneShot, cYield, cYield, cStop, cListenOneShot, cYield, cUnlisten),
	// Close racing Listen and Unlisten from three owners.
	concSeed(concConfig(2, 3, 0), cListenAllow, cListenDeny, cListenAllow, cYield, cClose, cYield, cListenAllow, cUnlisten,
		cListenDeny, cUnlisten, cListenAllow, cUnlisten),
	// The first, the second and the one-shots with isolated listeners,
	// through Dispatchers, and both.
	concSeed(concVariant(concConfig(2, 1, 0), vIsolated), cListenAllow, cYield, cUnlisten, cListenDeny, cYield, cUnlisten,
		cListenAllow, cListenDeny, cYield, cStop, cYield, cUnlisten),
	concSeed(concVariant(concConfig(3, 2, 0), vDispatcher), cListenAllow, cListenDeny, cYield, cYield, cUnlistenShort,
		cUnlistenShort, cListenAllow, cListenAllow, cYield, cDispatch, cStop, cUnlisten),
	concSeed(concVariant(concConfig(3, 1, 1), vIsolated|vDispatcher), cListenOneShot, cListenPanic, cYield, cYield, cStop,
		cListenOneShot, cYield, cUnlisten, cListenAllow, cYield, cUnlisten),
}

// FuzzScopeConcurrent runs short concurrent schedules derived from the
// bytes, on a scope with or without isolation: dispatcher goroutines
// dispatch nonstop (each through a Dispatcher of its own, or through
// Scope.Dispatch) while owner goroutines
// listen, unlisten (with and without deadlines), stop, close and dispatch.
// It checks the guarantee (no callback sees its owner's object freed, none
// runs when Unlisten returns nil or Done closes), that every Dispatch
// returns exactly what the listeners it called answered, the order of
// events against a sequence counter (see runConcurrent), that every Handle
// is Stopped once Close returns, and that no goroutine is left behind.
func FuzzScopeConcurrent(f *testing.F) {
	for _, s := range concSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		stats, err := runConcurrent(data, newRealTarget)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", stats)
	})
}

// ---------------------------------------------------------------------
// The harness checks itself: against deliberately broken scopes, the same
// bodies must report a failure.

// noWaitUnlisten is the kauth bug: Unlisten removes the listener and
// returns at once, without waiting for callers already inside it.
type noWaitUnlisten struct{ *scope.Scope[int] }

func (s noWaitUnlisten) Unlisten(_ context.Context, h *listener.Handle) error {
	h.Stop()
	return nil
}

// allowOverDeny combines answers wrongly: Allow beats Deny.
type allowOverDeny struct{ *scope.Scope[int] }

func (s allowOverDeny) Dispatch(ctx context.Context, ev int) listener.Result {
	if r := s.Scope.Dispatch(ctx, ev); r != listener.Deny {
		return r
	}
	return listener.Allow
}

func TestFuzzHarness_OpsCatchesBrokenScopes(t *testing.T) {
	// Listen Allow, Listen Deny, Dispatch, Unlisten L0, Dispatch.
	in := []byte{0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 7, 5, 0, 7}
	if err := runOps(in, newRealTarget); err != nil {
		t.Fatalf("the real scope fails the seed: %v", err)
	}
	brokenDispatch := func(opts ...scope.Option) fuzzTarget { return allowOverDeny{scope.New[int]("broken", opts...)} }
	if err := runOps(in, brokenDispatch); err == nil {
		t.Error("the model did not notice Allow winning over Deny")
	} else {
		t.Logf("caught: %v", err)
	}

	// A listener that unlistens itself during its call: the one
	// Unlisten of a single goroutine that has a call to wait for (with
	// no reader inside, a Stop finishes the listener at once, and the
	// wrong Unlisten is then indistinguishable from the right one). The
	// right Unlisten fails, with ErrSelfWait or its ended context; the
	// wrong one returns nil while the call is running.
	in = opsSeed(hNone, opListen(bUnlistenSelf, listener.Allow, 0), opDispatch())
	if err := runOps(in, newRealTarget); err != nil {
		t.Fatalf("the real scope fails the seed: %v", err)
	}
	brokenUnlisten := func(opts ...scope.Option) fuzzTarget { return noWaitUnlisten{scope.New[int]("broken", opts...)} }
	if err := runOps(in, brokenUnlisten); err == nil {
		t.Error("the model did not notice an Unlisten that returned before the drain")
	} else {
		t.Logf("caught: %v", err)
	}
}

// The concurrent checks must see the kauth bug itself, not only its
// symptom in State: a callback touching a freed object.
func TestFuzzHarness_ConcurrentCatchesNoWaitUnlisten(t *testing.T) {
	broken := func(opts ...scope.Option) fuzzTarget { return noWaitUnlisten{scope.New[int]("broken", opts...)} }
	var caught error
	for round := 0; round < 500 && caught == nil; round++ {
		_, err := runConcurrent(concSeeds[round%2], broken)
		if err != nil && strings.Contains(err.Error(), "freed") {
			caught = err
		}
	}
	if caught == nil {
		t.Fatal("500 schedules against an Unlisten that does not wait saw no use after free")
	}
	t.Logf("caught: %v", caught)
}

// TestFuzzScopeConcurrent_SeedsExerciseTheRace: FuzzScopeConcurrent
// passing is worth something only if its schedules really make callbacks
// overlap an Unlisten. Run the seeds until they have, a bounded number of
// times.
func TestFuzzScopeConcurrent_SeedsExerciseTheRace(t *testing.T) {
	// Counted apart for the plain scope and for the variant seeds (an
	// isolated scope, Dispatchers): each must overlap on its own.
	var plain, variants concStats
	for round := 0; round < 50 && (plain.overlapped == 0 || variants.overlapped == 0 || plain.panics == 0); round++ {
		for _, s := range concSeeds {
			st, err := runConcurrent(s, newRealTarget)
			if err != nil {
				t.Fatal(err)
			}
			total := &plain
			if s[0] >= 27 {
				total = &variants
			}
			total.dispatches += st.dispatches
			total.calls += st.calls
			total.overlapped += st.overlapped
			total.panics += st.panics
		}
	}
	t.Logf("plain scope: %+v; isolated and through Dispatchers: %+v", plain, variants)
	if plain.overlapped == 0 {
		t.Error("no callback overlapped an Unlisten: the schedules exercise nothing")
	}
	if variants.overlapped == 0 {
		t.Error("no callback of the variant seeds overlapped an Unlisten")
	}
	if plain.panics == 0 {
		t.Error("no listener panicked under concurrency")
	}
}
