//go:build race

package scope_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// A listener that Unlistens itself from inside its call waits for its own
// call to return: a wait that can never end. A race-enabled build detects
// it, and Unlisten returns ErrSelfWait at once (other builds wait until
// the context ends). The listener is stopped all the same: Stopping while
// its call runs, Stopped once the Dispatch has returned. Handle.Stop is
// the way for a listener to stop itself: it never waits.
func ExampleErrSelfWait() {
	s := scope.New[string]("events")
	h, _ := s.ListenSelf("selfish", func(self *listener.Handle) listener.Func[string] {
		return func(ctx context.Context, ev string) listener.Result {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			err := s.Unlisten(ctx, self) // waits for this very call
			fmt.Println(errors.Is(err, scope.ErrSelfWait))
			fmt.Println(err)
			fmt.Println("inside its call:", self.State())
			return listener.Defer
		}
	})
	s.Dispatch(context.Background(), "first")
	<-h.Done() // the drain ends once the Dispatch has returned
	fmt.Println("after the Dispatch:", h.State())
	fmt.Println(s.Dispatch(context.Background(), "second"), s.Len())
	// Output:
	// true
	// scope: unlisten "selfish" from "events": lifecycle: wait from inside a section it waits for
	// inside its call: Stopping
	// after the Dispatch: Stopped
	// Defer 0
}
