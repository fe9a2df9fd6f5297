package rcu_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/internal/rcu"
)

// The lifecycle and scope packages test the guarantee through their APIs;
// these tests reach the states those cannot force: a collision on the
// base pair, a table smaller than GOMAXPROCS, the hurry flag.

const (
	short = 20 * time.Millisecond
	long  = 20 * time.Second
)

// hold enters d on a goroutine of its own and stays inside until the
// returned func is called, which returns once it has exited.
func hold(t *testing.T, d *rcu.Domain) (leave func()) {
	t.Helper()
	entered, exit, exited := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		c := d.Enter()
		close(entered)
		<-exit
		d.Exit(c)
		close(exited)
	}()
	<-entered
	var once sync.Once
	leave = func() {
		once.Do(func() { close(exit) })
		<-exited
	}
	t.Cleanup(leave)
	return leave
}

func mustTimeOut(t *testing.T, d *rcu.Domain, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), short)
	defer cancel()
	require.ErrorIs(t, d.Synchronize(ctx), context.DeadlineExceeded, why)
}

func TestDomain_ZeroValueCountsOnBase(t *testing.T) {
	var d rcu.Domain
	for i := 0; i < 100; i++ {
		d.Exit(d.Enter())
	}
	assert.Zero(t, d.ShardCount())
	assert.Zero(t, rcu.TableLen(&d))
	leave := hold(t, &d)
	assert.Equal(t, 1, d.Inside())
	mustTimeOut(t, &d, "a reader on the base pair is waited for")
	leave()
	require.NoError(t, d.Synchronize(context.Background()))
	assert.Zero(t, d.ShardCount(), "one reader at a time never collides")
}

// After a collision, readers count on shards, and a grace period waits
// for readers on both: the base pair stays in every sum.
func TestDomain_CollisionMovesReadersToShards(t *testing.T) {
	var d rcu.Domain
	onBase := hold(t, &d)
	rcu.Collide(&d)
	assert.Equal(t, runtime.GOMAXPROCS(0), rcu.TableLen(&d), "sized by GOMAXPROCS")
	onShard := hold(t, &d)
	assert.Equal(t, 1, d.ShardCount(), "the second reader made its processor's shard")
	assert.Equal(t, 2, d.Inside())

	onBase()
	mustTimeOut(t, &d, "the reader on a shard is waited for")
	onShard()
	require.NoError(t, d.Synchronize(context.Background()))

	leave := hold(t, &d)
	mustTimeOut(t, &d, "after the collision too")
	leave()
	require.NoError(t, d.Synchronize(context.Background()))
	assert.LessOrEqual(t, d.ShardCount(), runtime.GOMAXPROCS(0))
}

// NextShard hands out distinct shards, made on demand, up to GOMAXPROCS,
// then wraps around; handing shards out of another Domain in between
// does not skip any; the turn wraps around past 2^32 calls without
// leaving the table.
func TestDomain_NextShardIsDistinctUpToGOMAXPROCS(t *testing.T) {
	var d, other rcu.Domain
	n := runtime.GOMAXPROCS(0)
	seen := map[*rcu.Shard]bool{}
	for k := 0; k < n; k++ {
		s := d.NextShard()
		other.NextShard()
		assert.False(t, seen[s], "shard %d handed out twice", k)
		seen[s] = true
	}
	assert.True(t, seen[d.NextShard()], "then they wrap around")
	assert.Equal(t, n, d.ShardCount())

	// A section counted on a handed-out shard is waited for like any.
	c := d.NextShard().Counts(d.Idx())
	c.Enter.Add(1)
	mustTimeOut(t, &d, "a reader on a handed-out shard is waited for")
	d.Exit(c)
	require.NoError(t, d.Synchronize(context.Background()))

	var w rcu.Domain
	rcu.SetHanded(&w, 1<<32-2)
	for k := 0; k < 4; k++ {
		assert.NotNil(t, w.NextShard(), "call %d around the wrap", k)
	}
}

// GOMAXPROCS raised after the table was made: readers on the new
// processors grow it; every one of them is still waited for.
func TestDomain_TableGrowsWithGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var d rcu.Domain
	rcu.Collide(&d)
	require.Equal(t, 1, rcu.TableLen(&d))
	runtime.GOMAXPROCS(8)

	var wg sync.WaitGroup
	var quit atomic.Bool
	var sections atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !quit.Load() {
				c := d.Enter()
				sections.Add(1)
				runtime.Gosched() // inside, let others run on other processors
				d.Exit(c)
			}
		}()
	}
	deadline := time.Now().Add(long)
	grace := 0
	for (rcu.TableLen(&d) < 8 || d.ShardCount() < 2 || grace < 20) && time.Now().Before(deadline) {
		require.NoError(t, d.Synchronize(context.Background()))
		grace++
	}
	quit.Store(true)
	wg.Wait()
	assert.GreaterOrEqual(t, rcu.TableLen(&d), 8, "readers on processors past the table grew it")
	assert.GreaterOrEqual(t, grace, 20, "grace periods ran while the readers did")
	assert.Greater(t, d.ShardCount(), 1)
	assert.Zero(t, d.Inside())
	require.NoError(t, d.Synchronize(context.Background()))
	t.Logf("%d sections, %d grace periods, %d shards, table of %d", sections.Load(), grace, d.ShardCount(), rcu.TableLen(&d))
}

// A grace period that the spin did not end raises the hurry flag, and a
// reader that enters while it is up still enters (after one yield); the
// flag comes down after HurryFor even while the reader it waits for stays
// inside, and the grace period still waits for that reader. The flag is
// watched through a hook on the runner: it is up for at most HurryFor,
// which polling from another goroutine can miss on a loaded machine.
func TestDomain_HurryFlag(t *testing.T) {
	var d rcu.Domain
	type event struct {
		up, seen, entered bool
	}
	events := make(chan event, 4)
	rcu.SetHookHurry(func(up bool) {
		e := event{up: up, seen: d.Idx()&rcu.Hurry != 0}
		if up {
			c := d.Enter() // yields once, then enters
			d.Exit(c)
			e.entered = true
		}
		events <- e
	})
	defer rcu.SetHookHurry(nil)
	leave := hold(t, &d)
	done := make(chan error, 1)
	go func() { done <- d.Synchronize(context.Background()) }()
	up := within(t, events, "the flag raised")
	require.True(t, up.up, "raised first")
	assert.True(t, up.seen, "readers see it in the index word")
	assert.True(t, up.entered, "a reader enters while it is up")
	down := within(t, events, "the flag lowered after HurryFor")
	require.False(t, down.up)
	assert.False(t, down.seen)
	select {
	case err := <-done:
		t.Fatalf("Synchronize returned %v with a reader inside", err)
	default:
	}
	leave()
	require.NoError(t, within(t, done, "Synchronize after the reader left"))
	assert.Zero(t, d.Idx()&rcu.Hurry)
}

// within receives from c, failing the test if nothing comes for long.
func within[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(long):
		t.Fatalf("nothing after %v: %s", long, what)
		panic("unreachable")
	}
}

// A context that has ended before the call: nil if nothing is inside, at
// once otherwise (Close uses this to drain idle isolated listeners
// without a goroutine).
func TestDomain_EndedContext(t *testing.T) {
	var d rcu.Domain
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, d.Synchronize(ctx))
	leave := hold(t, &d)
	start := time.Now()
	require.ErrorIs(t, d.Synchronize(ctx), context.Canceled)
	assert.Less(t, time.Since(start), short, "no spinning with an ended context")
	leave()
	require.NoError(t, d.Synchronize(ctx))
}

// The order of drained's sums, which no test through the public API can
// force (Spin's MUTANT_ENTERS_FIRST): a reader R1 is inside; while a grace
// period checks R1's index, a late reader R2 (one that loaded the index
// before the flip) enters and exits on it between the two sums. Summing
// exits first, R2's enter is counted and its exit is not: not drained.
// Summing enters first would count R1's enter and R2's exit: equal sums,
// and Synchronize would return with R1 inside.
func TestDomain_ExitsSummedBeforeEnters(t *testing.T) {
	var d rcu.Domain
	leave := hold(t, &d) // R1, on the base pair of index 0
	var late atomic.Int32
	rcu.SetHookBetweenSums(func(mask uint32) {
		if mask == 1<<0 && late.Add(1) == 1 {
			c := d.BaseCounts(0) // R2: loaded index 0 before the flip
			c.Enter.Add(1)
			d.Exit(c)
		}
	})
	defer rcu.SetHookBetweenSums(nil)
	mustTimeOut(t, &d, "R1 is inside; R2's exit must not stand in for R1's")
	require.Positive(t, late.Load(), "R2 came and went during a check")
	leave()
	require.NoError(t, d.Synchronize(context.Background()))
}
