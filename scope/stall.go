package scope

import (
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quiesce/quiesce/internal/handle"
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
	// Inside is the number of calls holding the wait up: Dispatch calls
	// inside the scope, or, WithIsolation, calls of the listeners waited
	// for.
	Inside int
	// Running names the listeners whose calls were running and holding
	// the wait up, by the names they were registered with (see
	// WithStallWarning for how they are found).
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
// quickly. The causes of a stall are a listener that blocks and a wait
// from inside a listener of the same scope, which waits for itself (in a
// race-enabled build that one fails at once instead: see ErrSelfWait).
//
// The report names the listeners holding the wait up (Stall.Running), and
// so does the error of a wait whose context ends. WithIsolation, each
// listener counts its own calls, and the names are exact. Otherwise the
// scope counts only calls of all its listeners together, and the names
// come from a goroutine profile (runtime.GoroutineProfile): a goroutine
// inside a Dispatch (or a Decide) is running the listener whose function
// it called. Listeners that share a function (made by one closure, or
// with the same method) are told apart only by the calls, so all of them
// are named when one runs; a function that is a listener of two scopes
// is named in the reports of both; a call more than about 30 frames
// deeper than its Dispatch is not seen.
//
// The profile does not stop the world while it reads the stacks (only
// for two short pauses), but it reads every goroutine's stack: it costs
// about a microsecond of CPU per goroutine of the program. One profile
// serves every wait that began before it and reports or fails while it
// is taken, so that a storm of timed-out waits on a program with many
// goroutines takes one profile at a time, not one per wait. Dispatch pays
// nothing for any of it.
//
// WithStallWarning panics if after is not positive or report is nil.
func WithStallWarning(after time.Duration, report func(Stall)) Option {
	if after <= 0 || report == nil {
		panic("scope: WithStallWarning needs a positive duration and a non-nil report func")
	}
	return optionFunc(func(o *options) {
		o.stallAfter = after
		o.stallReport = report
	})
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
		for _, e := range s.candidates(c) {
			st.Inside += e.Iso.Inside()
		}
	} else {
		st.Inside = s.ep.Inside()
	}
	return st
}

// candidates are the listeners that may be holding a wait for c up: c
// itself if it is isolated, else every listener of s that is not Stopped
// (all of them are in the current table, or in the table Close left;
// see table).
func (s *Scope[E]) candidates(c *handle.Core) []*handle.Core {
	if c != nil && c.Iso != nil {
		return []*handle.Core{c}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tab.Load()
	entries := t.entries
	if !t.closed {
		entries = entries[:t.n.Load()]
	}
	var out []*handle.Core
	for _, e := range entries {
		if e.State.Load() != handle.Stopped {
			out = append(out, e)
		}
	}
	return out
}

// culprits names the listeners whose calls hold up a wait for c (nil for
// Close) that began when since profiles had begun. Isolated listeners
// count their own calls. A shared epoch counts only the Scope's calls
// together, so a goroutine profile taken after the wait began says which
// listeners are running: the function a Dispatch frame called is the
// listener's.
func (s *Scope[E]) culprits(c *handle.Core, since uint64) []string {
	cands := s.candidates(c)
	var names []string
	if s.tab.Load().iso {
		for _, e := range cands {
			if e.Iso.Inside() > 0 {
				names = append(names, e.Name)
			}
		}
		return names
	}
	if s.ep.Inside() == 0 || len(cands) == 0 {
		return nil
	}
	running := runningListenerFuncs(since)
	for _, e := range cands {
		if running[funcName[E](e)] {
			names = append(names, e.Name)
		}
	}
	return names
}

// funcName returns the name of c's function as a stack shows it: for a
// listener.Notify adapter, the name of the function it wraps, which it
// tells when asked with a handle.Probe. Method values are named by their
// method ("-fm" trimmed), as a stack shows the method under the wrapper.
func funcName[E any](c *handle.Core) string {
	fn := fnOf[E](c)
	name := codeName(reflect.ValueOf(fn).Pointer())
	if strings.HasPrefix(name, listenerPkg+"Notify[") {
		var p handle.Probe
		var zero E
		fn(&p, zero)
		if p.Fn != nil {
			name = codeName(reflect.ValueOf(p.Fn).Pointer())
		}
	}
	return strings.TrimSuffix(name, "-fm")
}

func codeName(pc uintptr) string {
	if f := runtime.FuncForPC(pc); f != nil {
		return f.Name()
	}
	return ""
}

const (
	scopePkg    = "github.com/quiesce/quiesce/scope."
	listenerPkg = "github.com/quiesce/quiesce/listener."
)

// profiles is the goroutine profile that names culprits, shared by the
// whole program: taking one reads every goroutine's stack, so one at a
// time is taken, and a wait uses the last one if it began after the wait
// did (it then shows the listeners running during the wait), else it
// takes a new one. The mutex, rather than a channel, is what concurrent
// waits queue on: a channel made inside a testing/synctest bubble could
// not be used by a wait outside it.
var profiles struct {
	begun atomic.Uint64 // profiles begun so far
	mu    sync.Mutex
	seq   uint64          // the number of the last profile (under mu)
	funcs map[string]bool // its result (under mu)
}

// snapshotsBegun returns the number of profiles begun so far: a wait that
// records it when it begins may use any profile numbered above it.
func snapshotsBegun() uint64 { return profiles.begun.Load() }

// runningListenerFuncs returns the names of the functions that Dispatch
// frames are calling, on every goroutine, from a profile begun after
// since profiles had begun.
func runningListenerFuncs(since uint64) map[string]bool {
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
// Dispatch frame in it, the function that frame called, past Dispatch's
// own helpers and the Notify adapter. Called under profiles.mu.
func dispatchCallees() map[string]bool {
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
	running := make(map[string]bool)
	var names []string
	for i := range recs {
		names = names[:0]
		frames := runtime.CallersFrames(recs[i].Stack())
		for {
			f, more := frames.Next()
			names = append(names, f.Function)
			if !more {
				break
			}
		}
		// names run from the innermost call out; walk them outward-in,
		// so that each Dispatch frame is followed by what it called.
		for k := len(names) - 1; k > 0; k-- {
			if !isDispatch(names[k]) {
				continue
			}
			for j := k - 1; j >= 0; j-- {
				f := names[j]
				if strings.HasPrefix(f, scopePkg) || strings.HasPrefix(f, listenerPkg) {
					continue // Dispatch's helpers, listener.Notify's adapter
				}
				running[strings.TrimSuffix(f, "-fm")] = true
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
