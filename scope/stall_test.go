package scope_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// parked starts n goroutines that block until the returned func is
// called: the goroutines of a big program, each with a stack a profile
// must read.
func parked(t *testing.T, n int) (release func()) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-stop
		}()
	}
	var once sync.Once
	release = func() {
		once.Do(func() { close(stop) })
		wg.Wait()
	}
	t.Cleanup(release)
	return release
}

// stuckIn is the listener function that the tests find by name in a
// goroutine profile: it says when it is inside, then blocks until
// release is closed.
func stuckIn(inside chan<- struct{}, release <-chan struct{}) listener.Func[int] {
	return func(context.Context, int) listener.Result {
		inside <- struct{}{}
		<-release
		return listener.Allow
	}
}

// In a program of 10,000 goroutines, a storm of Unlistens that time out
// behind one stuck listener all name it, and share goroutine profiles: a
// profile serves every wait that began before it, so the storm takes a
// few, not one per wait (each reads 10,000 stacks).
func TestStall_StormNamesTheCulpritFromFewProfiles(t *testing.T) {
	const goroutines, storm = 10_000, 20
	release := parked(t, goroutines)
	defer release()
	stalls := make(chan scope.Stall, storm)
	s := scope.New[int]("storm", scope.WithStallWarning(time.Millisecond, func(st scope.Stall) { stalls <- st }))
	inside, unstick := make(chan struct{}, 1), make(chan struct{})
	_, err := s.Listen("stuck", stuckIn(inside, unstick))
	require.NoError(t, err)
	dispatched := make(chan listener.Result, 1)
	go func() { dispatched <- s.Dispatch(bg, 0) }()
	within(t, inside, "the Dispatch inside the listener")

	hs := make([]*listener.Handle, storm)
	for i := range hs {
		hs[i], err = s.Listen(fmt.Sprintf("victim-%d", i), answer(listener.Defer))
		require.NoError(t, err)
	}
	before := scope.ProfilesTaken()
	errs := make(chan error, storm)
	var start sync.WaitGroup
	start.Add(1)
	for _, h := range hs {
		go func() {
			start.Wait()
			ctx, cancel := context.WithTimeout(bg, 5*time.Millisecond)
			defer cancel()
			errs <- s.Unlisten(ctx, h)
		}()
	}
	start.Done()
	for range hs {
		err := <-errs
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), `held up by listener "stuck"`)
	}
	// A wait whose deadline passes while its stall report is due may
	// take either (a select between two ready cases): count the reports
	// that came, each naming the listener.
	reports := 0
	for len(stalls) > 0 {
		st := <-stalls
		assert.Equal(t, []string{"stuck"}, st.Running)
		reports++
	}
	assert.Positive(t, reports)
	taken := scope.ProfilesTaken() - before
	t.Logf("%d timed-out Unlistens and %d stall reports took %d goroutine profiles of %d goroutines", storm, reports, taken, goroutines)
	assert.LessOrEqual(t, taken, uint64(storm/2), "the storm shared profiles")
	assert.Positive(t, taken)

	close(unstick)
	assert.Equal(t, listener.Allow, <-dispatched)
	for _, h := range hs {
		require.NoError(t, h.Wait(bg))
	}
	require.NoError(t, s.Close(bg))
}
