package scope_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// op is the event of these examples: a file operation to authorize.
type op struct {
	action string
	path   string
}

// driver is the object a listener's callback uses, like the kext driver
// passed to kauth_listen_scope as its cookie.
type driver struct {
	denied map[string]bool
	seen   int
}

func (d *driver) authorize(_ context.Context, o op) listener.Result {
	d.seen++
	if d.denied[o.path] {
		return listener.Deny
	}
	return listener.Defer
}

// Listen, Dispatch, Unlisten: once Unlisten returns nil, the driver's
// callback is not running and never runs again, so the driver may be freed.
func ExampleScope() {
	s := scope.New[op]("fileop")
	drv := &driver{denied: map[string]bool{"/etc/shadow": true}}
	h, err := s.Listen("driver", drv.authorize)
	if err != nil {
		panic(err)
	}

	fmt.Println(s.Dispatch(context.Background(), op{"read", "/tmp/a"}))
	fmt.Println(s.Dispatch(context.Background(), op{"read", "/etc/shadow"}))

	if err := s.Unlisten(context.Background(), h); err != nil {
		panic(err)
	}
	fmt.Println(h.State(), "after", drv.seen, "calls")
	drv = nil // free the driver: nothing can call it any more
	fmt.Println(s.Dispatch(context.Background(), op{"read", "/etc/shadow"}))
	// Output:
	// Defer
	// Deny
	// Stopped after 2 calls
	// Defer
}

// New with options: a scope for plugins from different owners gives
// each its own epoch, fails closed when one panics, and logs any wait
// that lasts a second.
func ExampleNew() {
	s := scope.New[op]("plugins",
		scope.WithIsolation(),
		scope.WithPanicHandler(func(name string, v any) listener.Result {
			fmt.Printf("plugin %q panicked: %v\n", name, v)
			return listener.Deny
		}),
		scope.WithStallWarning(time.Second, func(st scope.Stall) {
			slog.Warn("plugin scope stalled", "stall", st)
		}),
	)
	fmt.Println(s.Name(), s.Len())

	_, _ = s.Listen("virus-scan", func(context.Context, op) listener.Result { panic("no signatures") })
	fmt.Println(s.Dispatch(context.Background(), op{"open", "/tmp/setup.exe"}))
	// Output:
	// plugins 0
	// plugin "virus-scan" panicked: no signatures
	// Deny
}

// Listen registers a driver's method: the driver is the state its
// callback uses, as a kauth cookie is. A plugin with no hook for this
// scope hands Listen a nil Func, which registers nothing.
func ExampleScope_Listen() {
	s := scope.New[op]("fileop")
	drv := &driver{denied: map[string]bool{"/etc/shadow": true}}
	h, err := s.Listen("driver", drv.authorize)
	fmt.Println(h, err)

	var hook listener.Func[op] // this plugin has none for file operations
	_, err = s.Listen("plugin", hook)
	fmt.Println(errors.Is(err, scope.ErrNilFunc), s.Len())

	fmt.Println(s.Dispatch(context.Background(), op{"read", "/etc/shadow"}), drv.seen)
	// Output:
	// listener "driver" (Active) <nil>
	// true 1
	// Deny 1
}

// Dispatch calls every listener, in the order they were registered, and
// keeps the strongest answer: Deny over Allow over Defer. A denial does
// not cut the round short. An event that no listener has an opinion on
// comes back Defer, and the caller applies its own default.
func ExampleScope_Dispatch() {
	s := scope.New[op]("fileop")
	_, _ = s.Listen("quarantine", func(_ context.Context, o op) listener.Result {
		fmt.Print("quarantine ")
		if strings.HasSuffix(o.path, ".exe") {
			return listener.Deny
		}
		return listener.Defer
	})
	_, _ = s.Listen("owner", func(_ context.Context, o op) listener.Result {
		fmt.Print("owner ")
		if strings.HasPrefix(o.path, "/home/ann/") {
			return listener.Allow
		}
		return listener.Defer
	})

	for _, path := range []string{"/home/ann/notes", "/home/ann/setup.exe", "/srv/log"} {
		fmt.Print(path, ": ")
		fmt.Println("->", s.Dispatch(context.Background(), op{"open", path}))
	}
	// Output:
	// /home/ann/notes: quarantine owner -> Allow
	// /home/ann/setup.exe: quarantine owner -> Deny
	// /srv/log: quarantine owner -> Defer
}

// Close stops every listener and waits for all of them; the scope answers
// Defer and refuses new listeners afterwards.
func ExampleScope_Close() {
	s := scope.New[op]("fileop")
	a, _ := s.Listen("audit", func(context.Context, op) listener.Result { return listener.Allow })
	b, _ := s.Listen("policy", func(context.Context, op) listener.Result { return listener.Deny })
	fmt.Println(s.Len(), s.Dispatch(context.Background(), op{"write", "/x"}))

	if err := s.Close(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(s.Len(), s.Dispatch(context.Background(), op{"write", "/x"}), a.State(), b.State())
	_, err := s.Listen("late", func(context.Context, op) listener.Result { return listener.Allow })
	fmt.Println(err)
	// Output:
	// 2 Deny
	// 0 Defer Stopped Stopped
	// scope: closed
}

// A one-shot listener stops itself from inside its own callback. ListenSelf
// hands the callback its Handle before the first call can happen, and
// Stop's result makes sure it acts only once even when several events reach
// it at the same time.
func ExampleScope_ListenSelf() {
	s := scope.New[op]("fileop")
	h, err := s.ListenSelf("first-exec", func(self *listener.Handle) listener.Func[op] {
		return func(_ context.Context, o op) listener.Result {
			if !self.Stop() {
				return listener.Defer // another call got there first
			}
			fmt.Println("first exec:", o.path)
			return listener.Allow
		}
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Dispatch(context.Background(), op{"exec", "/bin/sh"}))
	fmt.Println(s.Dispatch(context.Background(), op{"exec", "/bin/ls"}))
	<-h.Done()
	fmt.Println(h.State(), s.Len())
	// Output:
	// first exec: /bin/sh
	// Allow
	// Defer
	// Stopped 0
}

// Unlisten with a deadline: while a callback is still running, Unlisten
// gives up when the context ends. The listener stays removed, and Done
// closes once the running call has returned.
func ExampleScope_Unlisten_timeout() {
	s := scope.New[op]("fileop")
	inside, release := make(chan struct{}), make(chan struct{})
	h, _ := s.Listen("slow", func(context.Context, op) listener.Result {
		close(inside)
		<-release // a callback stuck on something
		return listener.Allow
	})
	go s.Dispatch(context.Background(), op{"read", "/slow"})
	<-inside

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(s.Unlisten(ctx, h))
	fmt.Println(h.State(), s.Dispatch(context.Background(), op{"read", "/other"}))

	close(release)
	<-h.Done()
	fmt.Println(h.State())
	// Output:
	// scope: unlisten "slow" from "fileop": held up by listener "slow": context deadline exceeded
	// Stopping Defer
	// Stopped
}

// The goroutine that serves one connection makes a Dispatcher when the
// connection opens and dispatches every request of the connection with
// it; the Dispatcher goes with the connection.
func ExampleDispatcher_Dispatch() {
	s := scope.New[op]("fileop")
	_, _ = s.Listen("readonly", func(_ context.Context, o op) listener.Result {
		if o.action == "read" {
			return listener.Allow
		}
		return listener.Deny
	})

	conn := make(chan op) // the requests of one connection
	served := make(chan struct{})
	go func() {
		defer close(served)
		d := s.Dispatcher()
		for o := range conn {
			fmt.Println(o.action, o.path, d.Dispatch(context.Background(), o))
		}
	}()
	conn <- op{"read", "/srv/index.html"}
	conn <- op{"write", "/srv/index.html"}
	close(conn)
	<-served
	// Output:
	// read /srv/index.html Allow
	// write /srv/index.html Deny
}

// A batch job that checks many operations on one goroutine makes one
// Dispatcher for the batch. Decide names who denied each refused
// operation: when two listeners deny, the first registered.
func ExampleDispatcher_Decide() {
	s := scope.New[op]("fileop")
	_, _ = s.Listen("readonly", func(_ context.Context, o op) listener.Result {
		if o.action != "read" {
			return listener.Deny
		}
		return listener.Defer
	})
	_, _ = s.Listen("secrets", func(_ context.Context, o op) listener.Result {
		if o.path == "/etc/shadow" {
			return listener.Deny
		}
		return listener.Defer
	})

	d := s.Dispatcher()
	batch := []op{{"read", "/etc/hosts"}, {"read", "/etc/shadow"}, {"write", "/etc/shadow"}, {"write", "/tmp/x"}}
	for _, o := range batch {
		if dec := d.Decide(context.Background(), o); dec.Result == listener.Deny {
			fmt.Printf("%s %s: denied by %s\n", o.action, o.path, dec.By)
		}
	}
	// Output:
	// read /etc/shadow: denied by secrets
	// write /etc/shadow: denied by readonly
	// write /tmp/x: denied by readonly
}

// With a panic handler, a panicking listener is recovered, the handler's
// answer stands for it and the other listeners are still called.
func ExampleWithPanicHandler() {
	s := scope.New[op]("fileop", scope.WithPanicHandler(func(name string, v any) listener.Result {
		fmt.Printf("listener %s panicked: %v\n", name, v)
		return listener.Deny // fail closed
	}))
	_, _ = s.Listen("buggy", func(context.Context, op) listener.Result { panic("nil cookie") })
	_, _ = s.Listen("audit", func(context.Context, op) listener.Result {
		fmt.Println("audit still called")
		return listener.Allow
	})
	fmt.Println(s.Dispatch(context.Background(), op{"open", "/x"}))
	// Output:
	// listener buggy panicked: nil cookie
	// audit still called
	// Deny
}

// The stall warning names the listener that holds an Unlisten up: here a
// callback stuck on something its owner has not released yet.
func ExampleWithStallWarning() {
	// The owner gives up once told of the stall: the report cancels the
	// Unlisten's context (a deadline would do too, later).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := scope.New[op]("fileop", scope.WithStallWarning(10*time.Millisecond, func(st scope.Stall) {
		fmt.Printf("stall: unlisten %q waits for %v, %d call(s) inside\n", st.Listener, st.Running, st.Inside)
		cancel()
	}))
	inside, release := make(chan struct{}), make(chan struct{})
	_, _ = s.Listen("audit", func(context.Context, op) listener.Result {
		close(inside)
		<-release // stuck
		return listener.Allow
	})
	quick, _ := s.Listen("quick", func(context.Context, op) listener.Result { return listener.Defer })
	go s.Dispatch(context.Background(), op{"open", "/x"})
	<-inside

	fmt.Println(s.Unlisten(ctx, quick)) // a shared epoch: waits for audit's call too
	close(release)
	<-quick.Done()
	// Output:
	// stall: unlisten "quick" waits for [audit], 1 call(s) inside
	// scope: unlisten "quick" from "fileop": held up by listener "audit": context canceled
}
