package lifecycle_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quiesce/quiesce/lifecycle"
)

type config struct{ limit int }

// Readers load a shared pointer inside a critical section; the writer
// replaces it and retires the old value only after Synchronize, when no
// reader can still hold it.
func ExampleEpoch() {
	e := lifecycle.NewEpoch()
	var current atomic.Pointer[config]
	current.Store(&config{limit: 10})

	read := func() int {
		r := e.Enter()
		defer r.Exit()
		return current.Load().limit
	}

	fmt.Println("limit:", read())
	old := current.Swap(&config{limit: 20})
	if err := e.Synchronize(context.Background()); err == nil {
		old.limit = -1 // safe: no reader still uses old
	}
	fmt.Println("limit:", read())
	// Output:
	// limit: 10
	// limit: 20
}

// Sections nest: a lookup that calls a helper which enters too is inside
// twice. Each Enter returns its own Ref, to be exited once.
func ExampleEpoch_Enter() {
	e := lifecycle.NewEpoch()
	helper := func() int {
		r := e.Enter() // the caller is inside already
		defer r.Exit()
		return e.Inside()
	}

	r := e.Enter()
	fmt.Println("inside the helper:", helper())
	fmt.Println("back in the lookup:", e.Inside())
	r.Exit()
	fmt.Println("after the lookup:", e.Inside())
	// Output:
	// inside the helper: 2
	// back in the lookup: 1
	// after the lookup: 0
}

// A handler that starts asynchronous work hands its Ref to the goroutine
// doing it, which exits it when the work is done: the section outlives
// the handler, and Synchronize waits for the work.
func ExampleRef_Exit() {
	e := lifecycle.NewEpoch()
	handled, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // the handler
		r := e.Enter()
		go func() { // the asynchronous work, which ends the section
			defer close(done)
			<-release
			fmt.Println("work done")
			r.Exit()
		}()
		close(handled)
	}()
	<-handled

	soon, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println("handler done, work pending:", e.Synchronize(soon))
	close(release)
	fmt.Println("work finished:", e.Synchronize(context.Background()))
	<-done
	// Output:
	// handler done, work pending: context deadline exceeded
	// work done
	// work finished: <nil>
}

// Synchronize gives up when its context ends, leaving the epoch usable.
func ExampleEpoch_Synchronize_timeout() {
	e := lifecycle.NewEpoch()
	entered, leave, left := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // a reader that does not leave in time
		r := e.Enter()
		close(entered)
		<-leave
		r.Exit()
		close(left)
	}()
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println("with a reader inside:", e.Synchronize(ctx))

	close(leave)
	<-left
	fmt.Println("after it left:", e.Synchronize(context.Background()))
	// Output:
	// with a reader inside: context deadline exceeded
	// after it left: <nil>
}

// A Guard protects an object that callbacks use: once Close returns, no
// callback is using it and none will start.
func ExampleGuard() {
	g := lifecycle.NewGuard()
	state := map[string]int{}

	callback := func(key string) bool {
		r, ok := g.TryEnter()
		if !ok {
			return false // the owner is tearing down
		}
		defer r.Exit()
		state[key]++
		return true
	}

	fmt.Println("before Close:", callback("open"))
	if err := g.Close(context.Background()); err == nil {
		state = nil // safe: nothing is inside, nothing can enter
	}
	fmt.Println("after Close:", callback("open"), g.Closed())
	// Output:
	// before Close: true
	// after Close: false true
}

// Callbacks fire again and again on several goroutines while their owner
// tears down. TryEnter lets each in, or turns it away once Close has
// begun, and never blocks; Close waits for those it let in. Once Close
// has returned nil, the owner may release the state the callbacks read:
// none is inside, and none gets in.
func ExampleGuard_TryEnter() {
	g := lifecycle.NewGuard()
	cfg := &config{limit: 10} // the owner's state, which the callbacks read
	callback := func() bool {
		r, ok := g.TryEnter()
		if !ok {
			return false // the owner is tearing down: do nothing
		}
		defer r.Exit()
		return cfg.limit > 0 // cfg is never nil in here
	}

	var firing, stopped sync.WaitGroup
	for i := 0; i < 4; i++ {
		firing.Add(1)
		stopped.Add(1)
		go func() { // a timer that fires until its callback is turned away
			defer stopped.Done()
			callback()
			firing.Done()
			for callback() {
			}
		}()
	}
	firing.Wait()
	if err := g.Close(context.Background()); err == nil {
		cfg = nil // safe: no callback can read it any more
		fmt.Println("state released")
	}
	stopped.Wait()
	fmt.Println("a callback now:", callback())
	// Output:
	// state released
	// a callback now: false
}

// Close with a deadline while a caller is still inside gives up when the
// context ends, but the guard stays closed, refusing new callers; a later
// Close waits for the caller inside and returns nil once it has left.
func ExampleGuard_Close() {
	g := lifecycle.NewGuard()
	entered, leave, left := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // a caller that takes its time
		defer close(left)
		if r, ok := g.TryEnter(); ok {
			close(entered)
			<-leave
			r.Exit()
		}
	}()
	<-entered

	soon, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println("with a caller inside:", g.Close(soon))
	fmt.Println("closed:", g.Closed())

	close(leave)
	fmt.Println("after it left:", g.Close(context.Background()))
	<-left
	// Output:
	// with a caller inside: context deadline exceeded
	// closed: true
	// after it left: <nil>
}
