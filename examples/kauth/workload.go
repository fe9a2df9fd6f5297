package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// config is one workload, run once per strategy.
type config struct {
	duration   time.Duration // how long each strategy runs in all
	rounds     int           // the strategies take turns, in this many rounds
	goroutines int           // simulated threads doing file operations
	uptime     time.Duration // how long each driver stays loaded
	opts       opts
	// progress, if not nil, is where the run reports while it goes: a
	// status line rewritten in place if live (a terminal), else a line
	// per turn, so that a piped run is not silent until the table.
	progress io.Writer
	live     bool
}

// yieldEvery is how many file operations a thread does between yields.
// Real threads block on I/O between system calls; yielding also keeps the
// Go scheduler from time-slicing a thread out in the middle of a callback
// 10 ms at a time. Threads never yield inside a callback: the window there
// is the callback's own work (see windowRounds), the same for every
// strategy.
const yieldEvery = 32

// runAll runs every kind under cfg and returns one result per kind, in
// order. The kinds take turns, cfg.rounds times, each for its share of
// cfg.duration: on a machine shared with other work, a burst of load then
// falls on every strategy alike instead of on whichever ran at the time.
func runAll(cfg config, ks []kind) []result {
	rounds := max(cfg.rounds, 1)
	turn := cfg
	turn.duration = cfg.duration / time.Duration(rounds)
	rs := make([]result, len(ks))
	for round := range rounds {
		for i, k := range ks {
			label := k.name
			if rounds > 1 {
				label = fmt.Sprintf("%s %d/%d", k.name, round+1, rounds)
			}
			r := run(turn, label, k.make(cfg.opts))
			if cfg.progress != nil && !cfg.live {
				printTurn(cfg.progress, label, r)
			}
			rs[i].add(r)
			rs[i].name = k.name
		}
	}
	if cfg.progress != nil && !cfg.live {
		fmt.Fprintln(cfg.progress) // sets the turns off from what follows
	}
	return rs
}

// printTurn writes the line that reports one turn when progress is not a
// terminal: the turn's own counts, not the totals so far.
func printTurn(w io.Writer, label string, r result) {
	fmt.Fprintf(w, "%s: %d use-after-free, %s dispatch/s, unload p99 %s\n",
		label, r.useAfterFree, rate(r.throughput()), round(r.latency(0.99)))
}

// run drives strategy s: cfg.goroutines threads authorize file operations
// nonstop while one goroutine loads a driver, leaves it loaded for
// cfg.uptime, unloads it and frees it the moment unlisten returns, over and
// over for cfg.duration (and at least once). Every touch of a freed driver
// is counted; nothing is injected.
func run(cfg config, name string, s strategy) result {
	ctx := context.Background()
	mem := new(heap)
	files := vnodes(512)
	var (
		stop    atomic.Bool
		loaded  atomic.Bool // a driver listens: count dispatches
		unloads atomic.Int64
		wg      sync.WaitGroup
		done    = make(chan struct{}) // closed with stop, for the progress line
	)
	counts := make([]int64, cfg.goroutines)
	for t := range cfg.goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			i := t * 7919 // threads start at different files
			for !stop.Load() {
				for range yieldEvery {
					i++
					live := loaded.Load()
					s.dispatch(ctx, fileOp{act: action(i % int(numActions)), vn: &files[i%len(files)], thread: t})
					if live {
						n++
					}
				}
				runtime.Gosched()
			}
			counts[t] = n
		}()
	}
	if cfg.progress != nil && cfg.live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			showProgress(cfg, name, done, &unloads, mem)
		}()
	}

	res := result{name: name}
	for start, first := time.Now(), true; first || time.Since(start) < cfg.duration; first = false {
		d := newDriver(mem, files, cfg.goroutines)
		s.listen(d.authorize)
		up := time.Now()
		loaded.Store(true)
		time.Sleep(cfg.uptime)
		loaded.Store(false)
		t0 := time.Now()
		res.loaded += t0.Sub(up)
		if err := s.unlisten(ctx); err != nil {
			panic(err) // no deadline: only misuse fails
		}
		res.unloads = append(res.unloads, time.Since(t0))
		res.served += d.free()
		unloads.Add(1)
	}
	stop.Store(true)
	close(done)
	wg.Wait()

	for _, n := range counts {
		res.dispatches += n
	}
	res.useAfterFree = mem.useAfterFree.Load()
	return res
}

// showProgress rewrites one status line on cfg.progress, a terminal, until
// done is closed, then erases it.
func showProgress(cfg config, name string, done <-chan struct{}, unloads *atomic.Int64, mem *heap) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		fmt.Fprintf(cfg.progress, "\r%-12s %4.1fs of %.1fs  unloads %5d  use-after-free %6d ",
			name, min(time.Since(start), cfg.duration).Seconds(), cfg.duration.Seconds(),
			unloads.Load(), mem.useAfterFree.Load())
		select {
		case <-tick.C:
		case <-done:
			fmt.Fprint(cfg.progress, "\r\033[K") // erase the line
			return
		}
	}
}

// result is what one strategy did under the workload.
type result struct {
	name         string
	useAfterFree int64
	dispatches   int64         // file operations authorized while a driver was loaded
	loaded       time.Duration // total time a driver was loaded (listen to unlisten)
	served       uint64        // callbacks that a live driver answered
	unloads      []time.Duration
}

// throughput is the dispatch rate while a driver listens. Dispatches with
// no driver are not counted: they cost next to nothing, and a strategy
// whose unload takes long would look faster for it.
func (r result) throughput() float64 {
	if r.loaded <= 0 {
		return 0
	}
	return float64(r.dispatches) / r.loaded.Seconds()
}

// latency returns the q-quantile of the unload latencies: from the start
// of unlisten to its return, when the driver is freed.
func (r result) latency(q float64) time.Duration {
	if len(r.unloads) == 0 {
		return 0
	}
	s := slices.Clone(r.unloads)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// add merges the result of another turn into r.
func (r *result) add(o result) {
	r.useAfterFree += o.useAfterFree
	r.dispatches += o.dispatches
	r.loaded += o.loaded
	r.served += o.served
	r.unloads = append(r.unloads, o.unloads...)
}
