package scope_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// request is what a file server's workers authorize.
type request struct {
	user string
	path string
}

// A file server authorizes requests on a pool of workers. Each worker
// makes one Dispatcher when it starts and dispatches every request it
// takes with it, so that the workers count on shards of their own; the
// answers are those Scope.Dispatch would give. The listener is called on
// several workers at once, so what it touches is safe for concurrent use.
func ExampleScope_Dispatcher() {
	s := scope.New[request]("files")
	var checked atomic.Int64
	_, _ = s.Listen("homes", func(_ context.Context, r request) listener.Result {
		checked.Add(1)
		if strings.HasPrefix(r.path, "/home/"+r.user+"/") {
			return listener.Allow
		}
		if strings.HasPrefix(r.path, "/home/") {
			return listener.Deny
		}
		return listener.Defer
	})

	reqs := []request{
		{"ann", "/home/ann/notes"},
		{"bob", "/home/ann/notes"},
		{"bob", "/home/bob/todo"},
		{"ann", "/tmp/scratch"},
		{"bob", "/home/ann/.ssh/id_ed25519"},
		{"ann", "/home/ann/todo"},
	}
	answers := make([]listener.Result, len(reqs)) // each worker writes its own entries
	next := make(chan int)
	var workers sync.WaitGroup
	for w := 0; w < 3; w++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			d := s.Dispatcher() // one per worker, kept while it works
			for i := range next {
				answers[i] = d.Dispatch(context.Background(), reqs[i])
			}
		}()
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	workers.Wait()

	for i, r := range reqs {
		fmt.Printf("%-3s %-26s %v\n", r.user, r.path, answers[i])
	}
	fmt.Println(checked.Load(), "requests checked")
	// Output:
	// ann /home/ann/notes            Allow
	// bob /home/ann/notes            Deny
	// bob /home/bob/todo             Allow
	// ann /tmp/scratch               Defer
	// bob /home/ann/.ssh/id_ed25519  Deny
	// ann /home/ann/todo             Allow
	// 6 requests checked
}
