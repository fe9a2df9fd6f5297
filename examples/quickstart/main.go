// Command quickstart is the program the README shows: a listener
// registered, called on the hot path, and unregistered before the state it
// reads is released.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

type Op struct{ Path string }

// driver is the state the callback reads, released at teardown.
type driver struct{ denied map[string]bool }

func (d *driver) authorize(ctx context.Context, op Op) listener.Result {
	if d.denied[op.Path] {
		return listener.Deny
	}
	return listener.Defer
}

func main() {
	s := scope.New[Op]("fileop")
	d := &driver{denied: map[string]bool{"/etc/shadow": true}}
	h, err := s.Listen("driver", d.authorize)
	if err != nil {
		panic(err)
	}

	// The hot path, from any number of goroutines: no lock, no allocation.
	fmt.Println(s.Dispatch(context.Background(), Op{Path: "/etc/shadow"}))

	// Teardown: Unlisten returns nil once no call of d.authorize is running.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Unlisten(ctx, h); err != nil {
		fmt.Println("still running:", err) // the error names the listener
		return
	}
	d.denied = nil // safe: d.authorize is not running and never runs again
	fmt.Println(s.Dispatch(context.Background(), Op{Path: "/etc/shadow"}))
}
