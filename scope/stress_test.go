package scope_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/atomic"
	"golang.org/x/sync/errgroup"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// driverObj is what a listener's owner frees after Unlisten: the Go
// stand-in for the kext's driver object passed as the kauth cookie.
type driverObj struct {
	unlistening atomic.Bool  // the owner has begun Unlisten
	freed       atomic.Bool  // the owner has released the object
	inside      atomic.Int32 // callbacks running now
}

type stressCounts struct {
	calls        atomic.Int64 // callbacks that ran
	overlapped   atomic.Int64 // callbacks still running when their Unlisten began
	useAfterFree atomic.Int64 // callbacks that saw their object freed
	stillInside  atomic.Int64 // Unlisten returned while a callback was inside
}

func (c *stressCounts) callback(d *driverObj) listener.Func[int] {
	return func(context.Context, int) listener.Result {
		d.inside.Inc()
		if d.freed.Load() {
			c.useAfterFree.Inc()
		}
		runtime.Gosched() // widen the window between the pick-up and the use
		if d.unlistening.Load() {
			c.overlapped.Inc()
		}
		if d.freed.Load() {
			c.useAfterFree.Inc()
		}
		d.inside.Dec()
		c.calls.Inc()
		return listener.Allow
	}
}

// TestScope_StressUnlistenGuarantee is the kauth race under load: several
// goroutines dispatch nonstop while owners listen and unlisten in a loop
// and free their object the moment Unlisten returns. No callback may see
// its object freed or still be running when Unlisten returns; and the
// test fails if callbacks never overlapped an Unlisten, since then it
// proved nothing.
func TestScope_StressUnlistenGuarantee(t *testing.T) {
	cycles := 400
	if testing.Short() {
		cycles = 100
	}
	s := scope.New[int]("stress")
	var c stressCounts
	// Four dispatchers, more than cores, yielding now and then
	// (startLoad, fault_test.go).
	l := startLoad(t, 4, func() { s.Dispatch(context.Background(), 0) })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var owners errgroup.Group
	for o := 0; o < 4; o++ {
		owners.Go(func() error {
			for i := 0; i < cycles; i++ {
				d := &driverObj{}
				h, err := s.Listen("driver", c.callback(d))
				if err != nil {
					return err
				}
				for j := 0; j < 3; j++ {
					runtime.Gosched() // let dispatchers pick it up
				}
				d.unlistening.Store(true)
				if err := s.Unlisten(ctx, h); err != nil {
					return err
				}
				if d.inside.Load() != 0 {
					c.stillInside.Inc()
				}
				d.freed.Store(true)
			}
			return nil
		})
	}
	require.NoError(t, owners.Wait())
	l.finish()
	require.NoError(t, s.Close(context.Background()))

	t.Logf("dispatches=%d calls=%d overlapped=%d unlistens=%d",
		l.dispatches.Load(), c.calls.Load(), c.overlapped.Load(), 4*cycles)
	assert.Zero(t, l.panics.Load(), "a Dispatch panicked")
	assert.Zero(t, c.useAfterFree.Load(), "a callback touched its object after Unlisten returned")
	assert.Zero(t, c.stillInside.Load(), "Unlisten returned while a callback was running")
	assert.Positive(t, c.calls.Load(), "no callback ran")
	assert.Positive(t, c.overlapped.Load(), "no callback overlapped an Unlisten: the race was not exercised")
}
