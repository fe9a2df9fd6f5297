package lifecycle_test

import (
	"context"
	"fmt"
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
