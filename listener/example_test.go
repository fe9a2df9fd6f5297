package listener_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// An audit log observes every event without taking part in the decision:
// Notify makes its function a listener that answers Defer, so the policy
// registered next to it decides alone, and Decide names the policy.
func ExampleNotify() {
	audit := log.New(os.Stdout, "audit: ", 0)
	s := scope.New[string]("exec")
	_, _ = s.Listen("audit", listener.Notify(func(_ context.Context, path string) {
		audit.Println("exec", path)
	}))
	_, _ = s.Listen("policy", func(_ context.Context, path string) listener.Result {
		if path == "/bin/sh" {
			return listener.Deny
		}
		return listener.Allow
	})

	for _, path := range []string{"/bin/ls", "/bin/sh"} {
		d := s.Decide(context.Background(), path)
		fmt.Println(d.Result, "by", d.By)
	}
	// Output:
	// audit: exec /bin/ls
	// Allow by policy
	// audit: exec /bin/sh
	// Deny by policy
}

// A one-shot listener stops itself from inside its call. Stop returns
// true to exactly one caller, so the listener acts once even when events
// reach it on several goroutines at the same time; every later Stop,
// such as its owner's, returns false.
func ExampleHandle_Stop() {
	s := scope.New[string]("exec")
	h, _ := s.ListenSelf("first-exec", func(self *listener.Handle) listener.Func[string] {
		return func(context.Context, string) listener.Result {
			if !self.Stop() {
				return listener.Defer // another call got there first
			}
			return listener.Allow
		}
	})

	paths := []string{"/bin/sh", "/bin/ls", "/bin/cat", "/bin/cp"}
	answers := make([]listener.Result, len(paths))
	var wg sync.WaitGroup
	for i, path := range paths {
		wg.Add(1)
		go func(i int, path string) {
			defer wg.Done()
			answers[i] = s.Dispatch(context.Background(), path)
		}(i, path)
	}
	wg.Wait()
	allowed := 0
	for _, a := range answers {
		if a == listener.Allow {
			allowed++
		}
	}
	fmt.Println("allowed", allowed, "of", len(paths))
	fmt.Println("owner's Stop:", h.Stop())
	// Output:
	// allowed 1 of 4
	// owner's Stop: false
}

// An owner stops a listener without blocking, then waits, with a
// deadline, for the call that is still running. While the call is blocked
// the wait gives up and names it; once the call has returned, Wait
// returns nil and the owner may release what the listener uses.
func ExampleHandle_Wait() {
	s := scope.New[string]("events")
	inside, release := make(chan struct{}), make(chan struct{})
	h, _ := s.Listen("slow", func(context.Context, string) listener.Result {
		close(inside)
		<-release // blocked on something its owner has not released yet
		return listener.Allow
	})
	go s.Dispatch(context.Background(), "event")
	<-inside

	fmt.Println("Stop:", h.Stop()) // returns at once
	soon, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(h.Wait(soon))

	close(release)
	later, cancelLater := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelLater()
	fmt.Println(h.Wait(later), h.State())
	// Output:
	// Stop: true
	// scope: wait for "slow" of "events": held up by listener "slow": context deadline exceeded
	// <nil> Stopped
}

// State follows a listener through its life: Active while Dispatch calls
// it, Stopping once stopped while a call is still running, and Stopped,
// for good, once that call has returned.
func ExampleHandle_State() {
	s := scope.New[string]("events")
	inside, release := make(chan struct{}), make(chan struct{})
	h, _ := s.Listen("slow", func(context.Context, string) listener.Result {
		close(inside)
		<-release
		return listener.Defer
	})
	fmt.Println(h.State())
	go s.Dispatch(context.Background(), "event")
	<-inside

	h.Stop()
	fmt.Println(h.State())
	close(release)
	<-h.Done()
	fmt.Println(h.State())
	// Output:
	// Active
	// Stopping
	// Stopped
}
