package scope

import (
	"context"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quiesce/quiesce/internal/handle"
	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/listener"
)

// A Stall describes an Unlisten, Close or Handle.Wait that has waited for
// longer than the duration given to WithStallWarning. It is a
// slog.LogValuer, so that a report can hand it to a logger whole:
//
//	scope.WithStallWarning(time.Second, func(st scope.Stall) {
//		logger.Warn("stall", "stall", st)
//	})
type Stall struct {
	Scope    string        // the scope's name
	Listener string        // the listener waited for; "" for Close
	Waited   time.Duration // how long the call had waited when it reported
	// Inside is the number of calls inside when the report was made:
	// Dispatch and Decide calls of the scope, or, WithIsolation, calls of
	// the listener waited for (for Close, of every listener not yet
	// Stopped).
	Inside int
	// Running names the listeners found running and holding the wait
	// up, by the names they were registered with (see WithStallWarning
	// for how they are found).
	Running []string
}

var _ slog.LogValuer = Stall{}

// LogValue returns st as a log/slog group with the keys scope, listener,
// waited, inside and running, in that order, so that
// logger.Warn("stall", "stall", st) prints, with a slog.TextHandler,
//
//	level=WARN msg=stall stall.scope=fileop stall.listener=quick stall.waited=1.5s stall.inside=1 stall.running=[audit]
//
// waited is a duration: the text handler writes it as
// time.Duration.String does, the JSON handler as an integer of
// nanoseconds. running is a list of names, never null: [audit] in text,
// as fmt prints it (and quoted when it holds a space: "[audit quota]"),
// an array in JSON, and empty, [], when no listener was found.
func (st Stall) LogValue() slog.Value {
	// A list rather than the names joined with commas, which would read
	// a little better in text but give JSON a string to split, wrongly
	// if a name has a comma; never nil, so that JSON shows an empty list
	// as [], not null.
	running := st.Running
	if running == nil {
		running = []string{}
	}
	return slog.GroupValue(
		slog.String("scope", st.Scope),
		slog.String("listener", st.Listener),
		slog.Duration("waited", st.Waited),
		slog.Int("inside", st.Inside),
		slog.Any("running", running),
	)
}

// WithStallWarning makes every Unlisten, Close and Handle.Wait that is
// still waiting after the given duration call report once, on the waiting
// goroutine, and then go on waiting. Several waits may report at the same
// time, so report must be safe for concurrent use, and it should return
// quickly. If report panics, the panic reaches the caller of the wait and
// leaves the Scope usable: the listeners still drain. The causes of a
// stall are a listener that blocks and a wait from inside a listener of
// the same scope, which waits for itself (in a race-enabled build that one
// fails at once instead: see ErrSelfWait).
//
// The report names the listeners holding the wait up (Stall.Running), and
// so does the error of a wait whose context ends. WithIsolation, each
// listener counts its own calls, and the names are exact. Otherwise the
// names come from a goroutine profile (runtime.GoroutineProfile): a
// goroutine inside a Dispatch (or a Decide) is running the listener whose
// function it called. Listeners that share a function (made by one
// closure, or with the same method) are told apart only by the calls, so
// all of them are named when one runs; a function that is a listener of
// two scopes is named in the reports of both; a listener blocked more than
// about 30 frames deeper than its Dispatch is not seen.
//
// The profile does not stop the world while it reads the stacks, but it
// reads the stack of every goroutine of the program, so it costs CPU time
// in proportion to their number. One profile is shared by every wait that
// began before it: a wait uses the latest profile begun since the wait
// began, and takes one only if there is none. And a Scope reuses the
// culprits it named last, without a profile, while the same calls hold its
// waits up. So a storm of waits timing out behind one stuck listener, on a
// program with many goroutines, takes one profile, not one per wait.
// Dispatch pays nothing for any of it.
//
// WithStallWarning panics if after is not positive or report is nil.
func WithStallWarning(after time.Duration, report func(Stall)) Option {
	if after <= 0 || report == nil {
		panic("scope: WithStallWarning needs a positive duration and a non-nil report func")
	}
	w := &stallWarning{after: after, report: report}
	return optionFunc(func(o *options) { o.warn = w })
}

// stallWarning is WithStallWarning's configuration, apart from the Scope,
// whose second line it would not fit in.
type stallWarning struct {
	after  time.Duration
	report func(Stall)
}

// stall describes the wait for c (nil for Close) that has lasted waited
// and began when since profiles had begun (culprits).
func (s *Scope[E]) stall(c *handle.Core, waited time.Duration, since uint64) Stall {
	st := Stall{Scope: s.name, Waited: waited}
	if c != nil {
		st.Listener = c.Name
	}
	st.Running = s.culprits(c, since)
	if s.tab.Load().iso {
		s.eachCandidate(c, func(e *handle.Core) { st.Inside += e.Iso.Inside() })
	} else {
		st.Inside = s.ep.Inside()
	}
	return st
}

// eachCandidate calls f, under mu, for each listener that may be holding
// a wait for c up: c itself if it is isolated, else every listener of s
// that is not Stopped (all of them are in the current table, or in the
// table Close left; see table). f must not call back into s.
func (s *Scope[E]) eachCandidate(c *handle.Core, f func(*handle.Core)) {
	if c != nil && c.Iso != nil {
		f(c)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tab.Load()
	entries := t.entries
	if !t.closed {
		entries = entries[:t.n.Load()]
	}
	for _, e := range entries {
		if e.State.Load() != handle.Stopped {
			f(e)
		}
	}
}

// culprits names the listeners whose calls hold up a wait for c (nil for
// Close) that began when since profiles had begun. Isolated listeners
// count their own calls. A shared epoch counts only the Scope's calls
// together, so a goroutine profile says which listeners are running: the
// function a Dispatch frame called is the listener's. The profile is one
// begun after the wait began, or the one the Scope used last if the
// calls holding the wait up are exactly those of then (attribution).
// Beyond a profile, if one is needed, it costs a look at every listener
// not yet Stopped.
func (s *Scope[E]) culprits(c *handle.Core, since uint64) []string {
	var names []string
	if s.tab.Load().iso {
		s.eachCandidate(c, func(e *handle.Core) {
			if e.Iso.Inside() > 0 {
				names = append(names, e.Name)
			}
		})
		return names
	}
	if s.ep.Inside() == 0 {
		return nil
	}
	sums := s.ep.IndexSums() // before the profile: see attribution
	s.mu.Lock()
	if a := s.attr; a != nil && a.sameCalls(sums) {
		for _, e := range a.culprits {
			if e.State.Load() != handle.Stopped {
				names = append(names, e.Name)
			}
		}
		s.mu.Unlock()
		return names
	}
	s.mu.Unlock()
	running := runningListenerFuncs(since)
	var found []*handle.Core
	if len(running) > 0 {
		notify := notifyCode[E]()
		s.eachCandidate(c, func(e *handle.Core) {
			if running[listenerCode[E](e, notify)] {
				found = append(found, e)
				names = append(names, e.Name)
			}
		})
	}
	s.mu.Lock()
	s.attr = &attribution{sums: sums, culprits: found}
	s.mu.Unlock()
	return names
}

// An attribution is what a Scope last named culprits from: the listeners
// a goroutine profile found running, with the epoch's counters read just
// before the profile began. A later wait uses it again, without a
// profile, if on some index the counters are the same and a call is
// inside: the counters only grow, so no call has entered or left that
// index since, and the calls inside it are those that were inside
// during the profile. That is the case of a stuck listener and the waits
// that time out behind it, one after the other: while a grace period
// waits for an index, new calls count on the other one. The culprits are
// kept, not the profile: a listener registered since cannot be running
// in a Dispatch that was inside then (a Dispatch calls only listeners
// registered before it began), so reusing costs a look at the culprits
// alone, however many listeners have stopped behind them.
type attribution struct {
	sums     [2]rcu.IndexSums
	culprits []*handle.Core
}

func (a *attribution) sameCalls(now [2]rcu.IndexSums) bool {
	for i := range now {
		if now[i] == a.sums[i] && now[i].Enters > now[i].Exits {
			return true
		}
	}
	return false
}

// listenerCode returns the entry of the function that a stack shows as
// c's, when Dispatch calls c: the code of c's func value, as reflect tells
// it, except for a listener.Notify adapter (notify is their code), which a
// stack shows calling the function it wraps: the adapter tells which
// when asked with a handle.Probe. A method value's code is its wrapper
// ("-fm"), which the stack shows between Dispatch and the method.
//
// It reads no memory of the closure itself: the identity of a listener is
// what it was registered with, its func value.
func listenerCode[E any](c *handle.Core, notify uintptr) uintptr {
	fn := fnOf[E](c)
	pc := reflect.ValueOf(fn).Pointer()
	if pc == notify {
		var p handle.Probe
		var zero E
		fn(&p, zero)
		if p.Fn != nil {
			pc = reflect.ValueOf(p.Fn).Pointer()
		}
	}
	return pc
}

// notifyCode returns the code of listener.Notify's adapters for E.
func notifyCode[E any]() uintptr {
	return reflect.ValueOf(listener.Notify(func(context.Context, E) {})).Pointer()
}

const (
	scopePkg    = "github.com/quiesce/quiesce/scope."
	listenerPkg = "github.com/quiesce/quiesce/listener."
)

// profiles is the goroutine profile that names culprits, shared by the
// whole program: taking one reads every goroutine's stack, so one at a
// time is taken, and a wait uses the last one if it began after the wait
// did (it then shows the listeners running during the wait). The mutex,
// rather than a channel, is what concurrent waits queue on: a channel
// made inside a testing/synctest bubble could not be used by a wait
// outside it.
//
// Rejected alternative: rationing profiles by time (one per so many
// times the last one's duration). A wait refused a profile would name
// nobody, in an order of waits no caller controls; and the time of a
// testing/synctest bubble is not the time outside it. The reuse of
// attributions (see attribution) covers the storm that rationing was
// for: waits timing out one after another behind the same stuck calls.
var profiles struct {
	begun atomic.Uint64 // profiles begun so far
	mu    sync.Mutex
	seq   uint64           // the number of the last profile (under mu)
	funcs map[uintptr]bool // its result (under mu)
}

// snapshotsBegun returns the number of profiles begun so far: a wait that
// records it when it begins may use any profile numbered above it.
func snapshotsBegun() uint64 { return profiles.begun.Load() }

// runningListenerFuncs returns the entries of the functions that Dispatch
// frames are calling, on every goroutine, from a profile begun after
// since profiles had begun.
func runningListenerFuncs(since uint64) map[uintptr]bool {
	profiles.mu.Lock()
	defer profiles.mu.Unlock()
	if profiles.seq > since {
		return profiles.funcs
	}
	profiles.seq = profiles.begun.Add(1)
	profiles.funcs = dispatchCallees()
	return profiles.funcs
}

// dispatchCallees takes a goroutine profile and returns, for every
// Dispatch frame in it, the entry of the function that frame called, past
// Dispatch's own helpers and the Notify adapter. Called under
// profiles.mu.
//
// Only the stacks with a Dispatch frame are symbolized, and a return
// address is looked up once per profile, however many goroutines share
// it: in a program of many goroutines, most are parked at the same few
// places, and none is in a Dispatch.
func dispatchCallees() map[uintptr]bool {
	var recs []runtime.StackRecord
	for {
		n, ok := runtime.GoroutineProfile(recs)
		if ok {
			recs = recs[:n]
			break
		}
		// Room for the goroutines started since the count, so that the
		// next try, which stops the world again, is the last.
		recs = make([]runtime.StackRecord, n+n/4+16)
	}
	inDispatch := make(map[uintptr]bool) // by return address
	running := make(map[uintptr]bool)
	var frames []runtime.Frame
	for i := range recs {
		stack := recs[i].Stack()
		found := false
		for _, pc := range stack {
			d, ok := inDispatch[pc]
			if !ok {
				f := runtime.FuncForPC(pc - 1)
				d = f != nil && isDispatch(f.Name())
				inDispatch[pc] = d
			}
			if d {
				found = true
				break
			}
		}
		if !found {
			continue
		}
		frames = frames[:0]
		it := runtime.CallersFrames(stack)
		for {
			f, more := it.Next()
			frames = append(frames, f)
			if !more {
				break
			}
		}
		// frames run from the innermost call out; walk them outward-in,
		// so that each Dispatch frame is followed by what it called.
		for k := len(frames) - 1; k > 0; k-- {
			if !isDispatch(frames[k].Function) {
				continue
			}
			for j := k - 1; j >= 0; j-- {
				f := frames[j].Function
				if strings.HasPrefix(f, scopePkg) || strings.HasPrefix(f, listenerPkg) {
					continue // Dispatch's helpers, listener.Notify's adapter
				}
				running[frames[j].Entry] = true
				break
			}
		}
	}
	return running
}

// isDispatch reports whether f is Dispatch or Decide of a Scope or a
// Dispatcher: the frames whose callees are listeners.
func isDispatch(f string) bool {
	return strings.HasPrefix(f, scopePkg) && (strings.HasSuffix(f, ").Dispatch") || strings.HasSuffix(f, ").Decide")) &&
		(strings.HasPrefix(f, scopePkg+"(*Scope[") || strings.HasPrefix(f, scopePkg+"(*Dispatcher["))
}
