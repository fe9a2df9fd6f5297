// Command driver shows the teardown order of a driver with three entry
// points: a listener on a fileop scope, a listener on a process scope, and
// a timer. Each can be running on some thread at the moment the driver
// decides to unload, so each must be shut and drained before the driver
// is freed, and in the right order: see driver.stop.
//
// The output is the same on every run.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quiesce/quiesce/lifecycle"
	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// fileOp is an event of the fileop scope.
type fileOp struct {
	pid  int
	act  string // "read", "write"
	path string
}

// procEvent is an event of the process scope: an exec, or an exit if exec
// is empty.
type procEvent struct {
	pid  int
	exec string
}

// kernel is what outlives every driver: the two scopes and the system log.
type kernel struct {
	fileops *scope.Scope[fileOp]
	procs   *scope.Scope[procEvent]

	mu     sync.Mutex
	syslog []string

	useAfterFree atomic.Int64 // touches of a freed driver: must stay 0
}

func newKernel() *kernel {
	return &kernel{fileops: scope.New[fileOp]("fileop"), procs: scope.New[procEvent]("proc")}
}

func (k *kernel) log(line string) {
	k.mu.Lock()
	k.syslog = append(k.syslog, line)
	k.mu.Unlock()
}

// waitLog waits until the system log holds n lines and returns them.
func (k *kernel) waitLog(n int) []string {
	for {
		k.mu.Lock()
		lines := k.syslog
		k.mu.Unlock()
		if len(lines) >= n {
			return lines[:n]
		}
		time.Sleep(time.Millisecond)
	}
}

const (
	flushEvery = 2 * time.Millisecond // the timer writes pending audit records this often
	kickAt     = 8                    // this many pending records make a callback ask for an early flush
)

// driver is an IOService-like object: an audit driver that denies writes
// to /etc by watched programs and logs each denial. The scope callbacks
// and the timer call it concurrently; mu guards its state (the driver's own
// data, not its lifecycle, which is the scopes' and the guard's business).
type driver struct {
	k            *kernel
	watch        string // the program whose writes to /etc are denied
	guard        *lifecycle.Guard
	fileH, procH *listener.Handle

	mu      sync.Mutex
	flush   *time.Timer
	watched map[int]bool // pids running the watched program
	pending []string     // audit records not yet written to the system log
	freed   bool
}

func newDriver(k *kernel, watch string) *driver {
	return &driver{k: k, watch: watch, guard: lifecycle.NewGuard(), watched: map[int]bool{}}
}

// start arms the timer and listens on both scopes, the state each needs
// being ready first. From here on, three kinds of threads may be inside
// the driver at any moment.
func (d *driver) start() error {
	d.mu.Lock()
	d.flush = time.AfterFunc(flushEvery, d.tick) // under mu: tick reads d.flush
	d.mu.Unlock()
	var err error
	// proc first: fileop decisions read the watch list it maintains.
	if d.procH, err = d.k.procs.Listen("audit.proc", d.onProc); err != nil {
		return err
	}
	if d.fileH, err = d.k.fileops.Listen("audit.fileop", d.onFileOp); err != nil {
		// Undo what start did, in stop's order, so that d can be freed.
		ctx := context.Background()
		_ = d.guard.Close(ctx)
		_ = d.k.procs.Unlisten(ctx, d.procH)
		d.mu.Lock()
		d.flush.Stop()
		d.mu.Unlock()
		return err
	}
	return nil
}

// stop shuts every entry point and waits until none is running. The order
// matters:
//
//  1. Close the guard. The timer cannot be unlistened: time.Timer.Stop
//     does not wait for a tick that has already fired, and the tick
//     re-arms itself. The guard is its unlisten: from now on a tick does
//     nothing, and Close waits for a tick already inside.
//  2. Unlisten fileop, then proc: the reverse of start, so that no fileop
//     decision is made on a watch list nobody maintains any more. Unlisten
//     waits for the callbacks already running. They can arm the timer
//     (an early flush), so they must be done before step 3.
//  3. Stop the timer. Nothing can re-arm it now: a Stop before step 1 or
//     2 could be undone by a Reset a moment later, and that tick would
//     fire after the free. (Here the guard would refuse it; in a kernel
//     the timer callout would read freed memory just to find the guard.)
//  4. Write the last records: stop is now the only thread in the driver.
//
// Steps 1 and 2 may come in either order; both must be complete before 3
// and everything before free. Each wait is bounded by ctx; on an error the
// driver must not be freed.
func (d *driver) stop(ctx context.Context) error {
	if err := d.guard.Close(ctx); err != nil {
		return err
	}
	if err := d.k.fileops.Unlisten(ctx, d.fileH); err != nil {
		return err
	}
	if err := d.k.procs.Unlisten(ctx, d.procH); err != nil {
		return err
	}
	d.mu.Lock()
	d.flush.Stop()
	d.mu.Unlock()
	d.writeAudit()
	return nil
}

// free releases the driver's state. Only after a nil stop.
func (d *driver) free() {
	d.mu.Lock()
	d.freed, d.watched, d.pending, d.flush = true, nil, nil, nil
	d.mu.Unlock()
}

// lock locks d for a touch of its state. It reports false, and counts a
// use-after-free, if d has been freed: the Go stand-in for a kernel panic.
func (d *driver) lock() bool {
	d.mu.Lock()
	if d.freed {
		d.mu.Unlock()
		d.k.useAfterFree.Add(1)
		return false
	}
	return true
}

// onProc is the process-scope callback: it maintains the watch list.
func (d *driver) onProc(_ context.Context, ev procEvent) listener.Result {
	if !d.lock() {
		return listener.Defer
	}
	defer d.mu.Unlock()
	if ev.exec == "" {
		delete(d.watched, ev.pid)
	} else if ev.exec == d.watch {
		d.watched[ev.pid] = true
	}
	return listener.Defer
}

// onFileOp is the fileop-scope callback: it denies writes to /etc by
// watched processes and queues an audit record for each.
func (d *driver) onFileOp(_ context.Context, op fileOp) listener.Result {
	if op.act != "write" || len(op.path) < 5 || op.path[:5] != "/etc/" {
		return listener.Defer // not ours: no touch of the driver
	}
	if !d.lock() {
		return listener.Defer
	}
	defer d.mu.Unlock()
	if !d.watched[op.pid] {
		return listener.Defer
	}
	d.pending = append(d.pending, fmt.Sprintf("audit: denied %s %s to pid %d (%s)", op.act, op.path, op.pid, d.watch))
	if len(d.pending) == kickAt {
		d.flush.Reset(0) // flush soon: this is why callbacks must be drained before the timer is stopped
	}
	return listener.Deny
}

// tick is the timer callback: it writes the pending records and re-arms.
func (d *driver) tick() {
	r, ok := d.guard.TryEnter()
	if !ok {
		return // stopping: the driver may be freed at any moment
	}
	defer r.Exit()
	d.writeAudit()
	if d.lock() {
		d.flush.Reset(flushEvery)
		d.mu.Unlock()
	}
}

func (d *driver) writeAudit() {
	if !d.lock() {
		return
	}
	records := d.pending
	d.pending = nil
	d.mu.Unlock()
	for _, r := range records {
		d.k.log(r)
	}
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	ctx := context.Background()
	k := newKernel()
	d := newDriver(k, "/usr/bin/curl")
	if err := d.start(); err != nil {
		return err
	}
	fmt.Fprintln(w, "start: timer armed, listening on proc and fileop")

	// A few events, one at a time.
	k.procs.Dispatch(ctx, procEvent{pid: 100, exec: "/usr/bin/curl"})
	for _, op := range []fileOp{
		{100, "write", "/etc/hosts"},
		{200, "write", "/etc/hosts"},
		{100, "read", "/etc/hosts"},
	} {
		fmt.Fprintf(w, "pid %d %s %s: %v\n", op.pid, op.act, op.path, k.fileops.Dispatch(ctx, op))
	}
	k.procs.Dispatch(ctx, procEvent{pid: 100}) // exit
	fmt.Fprintf(w, "pid 100 exited; pid 100 write /etc/hosts: %v\n", k.fileops.Dispatch(ctx, fileOp{100, "write", "/etc/hosts"}))
	fmt.Fprintln(w, "syslog:", k.waitLog(1)[0]) // written by the timer

	// Now unload while threads hammer both scopes and the timer runs.
	const threads = 4
	var stop atomic.Bool
	var served atomic.Int64
	var wg sync.WaitGroup
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				pid := 1000 + t*100 + i%8
				k.procs.Dispatch(ctx, procEvent{pid: pid, exec: "/usr/bin/curl"})
				if k.fileops.Dispatch(ctx, fileOp{pid, "write", "/etc/passwd"}) == listener.Deny {
					served.Add(1)
				}
				k.procs.Dispatch(ctx, procEvent{pid: pid})
			}
		}()
	}
	for served.Load() < 100 { // until the driver is busy
		time.Sleep(time.Millisecond)
	}
	if err := d.stop(ctx); err != nil {
		return err
	}
	d.free()
	fmt.Fprintf(w, "stop with %d threads dispatching: guard closed, fileop and proc unlistened, timer stopped\n", threads)
	time.Sleep(3 * flushEvery) // let the traffic, and any late tick, meet the freed driver
	stop.Store(true)
	wg.Wait()
	fmt.Fprintf(w, "free: touches of the freed driver: %d\n", k.useAfterFree.Load())
	fmt.Fprintf(w, "after free: pid 100 write /etc/hosts: %v\n", k.fileops.Dispatch(ctx, fileOp{100, "write", "/etc/hosts"}))
	return nil
}
