package scope_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// A Stall is a slog.LogValuer: a report can hand it to a logger as one
// attribute, and it logs as a group. Here the report also tells the
// owner of the stuck callback, which releases it, and the Unlisten then
// returns nil. The logger leaves out the time and rounds the wait down
// to the stall delay: the two parts of the line that change from run to
// run.
func ExampleWithStallWarning_slog() {
	const delay = 50 * time.Millisecond
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch {
			case len(groups) == 0 && a.Key == slog.TimeKey:
				return slog.Attr{}
			case a.Key == "waited":
				a.Value = slog.DurationValue(a.Value.Duration().Truncate(delay))
			}
			return a
		},
	}))
	release := make(chan struct{})
	s := scope.New[op]("fileop", scope.WithStallWarning(delay, func(st scope.Stall) {
		logger.Warn("unlisten stalled", "stall", st)
		close(release) // the owner of the stuck callback, told, releases it
	}))
	inside := make(chan struct{})
	_, _ = s.Listen("audit", func(context.Context, op) listener.Result {
		close(inside)
		<-release // stuck
		return listener.Allow
	})
	quick, _ := s.Listen("quick", func(context.Context, op) listener.Result { return listener.Defer })
	go s.Dispatch(context.Background(), op{"open", "/x"})
	<-inside

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println(s.Unlisten(ctx, quick)) // a shared epoch: waits for audit's call too
	// Output:
	// level=WARN msg="unlisten stalled" stall.scope=fileop stall.listener=quick stall.waited=50ms stall.inside=1 stall.running=[audit]
	// <nil>
}
