package scope

import (
	"bytes"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"github.com/quiesce/quiesce/internal/handle"
)

// stall describes the wait for c (nil for Close) that has lasted waited.
func (s *Scope[E]) stall(c *handle.Core, waited time.Duration) Stall {
	st := Stall{Scope: s.name, Waited: waited}
	if c != nil {
		st.Listener = c.Name
	}
	st.Running = s.culprits(c)
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
// Close). Isolated listeners count their own calls. A shared epoch counts
// only the Scope's calls together, so the goroutines' stacks say which
// listeners are running: the function a Dispatch frame called is the
// listener's (see WithStallWarning for the limits of this).
func (s *Scope[E]) culprits(c *handle.Core) []string {
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
	running := runningListenerFuncs()
	for _, e := range cands {
		if running[listenerFuncName(e.Fn)] {
			names = append(names, e.Name)
		}
	}
	return names
}

const (
	scopePkg    = "github.com/quiesce/quiesce/scope."
	listenerPkg = "github.com/quiesce/quiesce/listener."
)

// runningListenerFuncs returns the names of the functions that Dispatch
// frames are calling, on every goroutine: the listeners running now. It
// reads every stack (runtime.Stack with all set, which stops the world)
// and so is only for stalls.
func runningListenerFuncs() map[string]bool {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 64<<20 {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	running := make(map[string]bool)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		frames := frameFuncs(g)
		// frames run from the innermost call out; walk them outward-in,
		// so that each Dispatch frame is followed by what it called.
		for i := len(frames) - 1; i > 0; i-- {
			if !isDispatch(frames[i]) {
				continue
			}
			for j := i - 1; j >= 0; j-- {
				f := frames[j]
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

// isDispatch reports whether f is Scope.Dispatch or Dispatcher.Dispatch.
func isDispatch(f string) bool {
	return strings.HasPrefix(f, scopePkg) && strings.HasSuffix(f, ").Dispatch") &&
		(strings.HasPrefix(f, scopePkg+"(*Scope[") || strings.HasPrefix(f, scopePkg+"(*Dispatcher["))
}

// frameFuncs returns the function names of one goroutine's trace, as
// runtime.Stack prints it: a header line, then per frame a line
// "pkg.func(args)" and a line "\tfile:line +0x..".
func frameFuncs(g []byte) []string {
	var names []string
	for _, line := range strings.Split(string(g), "\n") {
		if line == "" || line[0] == '\t' || strings.HasPrefix(line, "goroutine ") || strings.HasPrefix(line, "created by ") {
			continue
		}
		if i := strings.LastIndexByte(line, '('); i > 0 {
			line = line[:i]
		}
		names = append(names, line)
	}
	return names
}

// listenerFuncName returns the name of the function of the func value
// whose single word is fn, as a stack trace shows it: a func value points
// at its closure, whose first word is the code. For a listener.Notify
// adapter it is the name of the function Notify wraps, the closure's
// captured func (its next word), which is what a trace shows under the
// adapter.
func listenerFuncName(fn unsafe.Pointer) string {
	name := codeName(fn)
	if strings.HasPrefix(name, listenerPkg+"Notify[") {
		if inner := *(*unsafe.Pointer)(unsafe.Add(fn, unsafe.Sizeof(uintptr(0)))); inner != nil {
			if n := codeName(inner); n != "" {
				name = n
			}
		}
	}
	return strings.TrimSuffix(name, "-fm")
}

func codeName(fn unsafe.Pointer) string {
	f := runtime.FuncForPC(*(*uintptr)(fn))
	if f == nil {
		return ""
	}
	return f.Name()
}
