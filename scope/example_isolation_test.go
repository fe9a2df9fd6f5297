package scope_test

import (
	"context"
	"fmt"
	"time"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// Plugins from different owners share a scope made WithIsolation: one
// plugin blocked in its call does not hold up the Unlisten of another,
// which returns nil at once. Only a wait for the blocked plugin itself
// (or a Close) waits for it, and its error names it.
func ExampleWithIsolation() {
	s := scope.New[string]("plugins", scope.WithIsolation())
	inside, release := make(chan struct{}), make(chan struct{})
	stuck, _ := s.Listen("stuck", func(context.Context, string) listener.Result {
		close(inside)
		<-release // blocked on something its owner has not released yet
		return listener.Allow
	})
	spell, _ := s.Listen("spellcheck", func(context.Context, string) listener.Result { return listener.Deny })
	dispatched := make(chan listener.Result)
	go func() { dispatched <- s.Dispatch(context.Background(), "save") }()
	<-inside

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println(s.Unlisten(ctx, spell), spell.State()) // at once: spellcheck is not running

	soon, cancelSoon := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelSoon()
	fmt.Println(s.Unlisten(soon, stuck))

	close(release)
	fmt.Println(<-dispatched) // spellcheck, removed meanwhile, was not called
	<-stuck.Done()
	fmt.Println(stuck.State(), s.Len())
	// Output:
	// <nil> Stopped
	// scope: unlisten "stuck" from "plugins": held up by listener "stuck": context deadline exceeded
	// Allow
	// Stopped 0
}
