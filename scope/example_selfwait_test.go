package scope_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// A listener that Unlistens itself from inside its call waits for that
// very call to return, which can never happen: a race-enabled build fails
// at once with an error wrapping ErrSelfWait, others wait until the
// deadline. Either way the listener is stopped: Stopping while its call
// runs, Stopped once the Dispatch has returned. Handle.Stop is the way for
// a listener to stop itself: it never waits.
func ExampleErrSelfWait() {
	s := scope.New[string]("events")
	wrong, _ := s.ListenSelf("unlistens-itself", func(self *listener.Handle) listener.Func[string] {
		return func(ctx context.Context, _ string) listener.Result {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			defer cancel()
			err := s.Unlisten(ctx, self) // waits for this very call
			failed := errors.Is(err, scope.ErrSelfWait) || errors.Is(err, context.DeadlineExceeded)
			fmt.Println("Unlisten from inside its own call failed:", failed)
			fmt.Println("inside its call:", self.State())
			return listener.Defer
		}
	})
	right, _ := s.ListenSelf("stops-itself", func(self *listener.Handle) listener.Func[string] {
		return func(context.Context, string) listener.Result {
			fmt.Println("Stop from inside its own call:", self.Stop())
			return listener.Defer
		}
	})
	s.Dispatch(context.Background(), "first")
	<-wrong.Done() // both drains end once the Dispatch has returned
	<-right.Done()
	fmt.Println("after the Dispatch:", wrong.State(), right.State())
	fmt.Println(s.Dispatch(context.Background(), "second"), s.Len())
	// Output:
	// Unlisten from inside its own call failed: true
	// inside its call: Stopping
	// Stop from inside its own call: true
	// after the Dispatch: Stopped Stopped
	// Defer 0
}
