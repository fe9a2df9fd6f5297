// Package rcu is the read-side counting and the grace period behind
// lifecycle.Epoch, lifecycle.Guard and scope.Scope: Linux's sleepable RCU
// (SRCU) with counters that come into being only where readers collide.
//
// It is internal so that scope.Dispatch can write the read-side fast path
// out in its own body (Enter does not fit the inliner's budget, and a call
// costs a third of a Dispatch) while the lifecycle package exports only
// the checked API. Everything here assumes a caller that exits every
// section it entered exactly once; lifecycle.Ref adds the checks.
package rcu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// CacheLine is the padding unit that keeps independently written data
// apart: 128 bytes covers the 64-byte line of x86 together with its
// adjacent-line prefetcher, and the 128-byte lines of some arm64 and
// ppc64 cores. Objects padded to a multiple of it and allocated on their
// own land in a size class whose slots are aligned to it, so they share
// no line with a neighbour.
const CacheLine = 128

// Counts is one index's pair of read-side counters. Enter counts the
// sections that began on it, Exit the ones that ended; both only grow.
//
// Rejected alternative: a single up/down counter per index. It is cheaper
// to sum, but a writer summing counter by counter can then see a
// transient zero while a reader is inside (a reader that exits on another
// counter than it entered on makes one go negative and another positive).
// With monotonic pairs, summing every Exit before any Enter makes each
// counted exit's enter counted too, so equal sums mean "everyone counted
// has left" (docs/design.md, Lemma 1).
//
// The sync/atomic types are used rather than go.uber.org/atomic's for
// their alignment guarantee: 64-bit atomics must be 8-byte aligned on
// 32-bit platforms, and sync/atomic.Uint64 is, wherever it is embedded.
type Counts struct {
	Enter atomic.Uint64
	Exit  atomic.Uint64
	// bit is 1<<i for the index i this pair counts, for Wake: set when
	// a shard is made, and for the base pairs (zero values) by the first
	// runner that sleeps, before it announces itself.
	bit uint32
	_   uint32
}

// A Domain is one read-side protection domain: readers bracket sections
// with Enter and Exit, and Synchronize waits for every section that began
// before it. The zero Domain is ready to use and costs only its own
// struct: no shard, no channel, no allocation until two processors
// collide on it (shards) or a grace period has to sleep (channels).
//
// Layout: everything readers touch comes first, so that a Domain at the
// start of a line-aligned object puts it on that object's first line. The
// writer state follows on the same line or the next: a grace period
// writes it a few times, which costs each reader one miss per grace
// period, while a separate line per Domain would double the memory of
// every idle Guard and Scope (the rejected alternative).
type Domain struct {
	// idx holds the current index in bit 0, the hurry flag in bit 1 and
	// the nudge in bit 2 (see Hurry and Nudge). The grace-period runner
	// changes the index and the hurry flag; writers raise the nudge, and
	// the reader that answers it lowers it. Every change is a
	// compare-and-swap that keeps the other bits.
	idx atomic.Uint32
	// handed is the turn of NextShard, under mu: a writer's field, here
	// because this word would otherwise be padding.
	handed uint32
	// sleep is non-nil while the runner sleeps until an index drains: the
	// index and the channel to wake it on. Made by the runner for each
	// sleep and dropped after it, so that no channel outlives the wait
	// that made it: a channel made inside a testing/synctest bubble
	// belongs to the bubble, and touching it from outside is a fatal
	// error.
	sleep atomic.Pointer[sleep]
	// base counts every section while the Domain is uncontended. Enter
	// claims it with a compare-and-swap; a failed one means two
	// processors collided, and readers move to shards from then on. It
	// stays in every sum: sections counted on it before still exit on it.
	base [2]Counts
	// table maps processors to their shards; nil until readers collide.
	table atomic.Pointer[Table]
	// shards is the head of the list of every shard ever made, which is
	// what a grace period sums. A shard is pushed on it before any
	// reader can count on it, and the list only grows.
	shards atomic.Pointer[Shard]

	mu        sync.Mutex
	running   bool          // a goroutine is running grace periods
	hurrying  bool          // the runner set the hurry flag; only it reads this
	waiters   int32         // callers blocked in Synchronize, not running
	completed uint64        // grace periods completed
	done      chan struct{} // closed and dropped when completed grows or the runner leaves; made by a waiter, nil while none waits
}

// The flags of the index word. A reader that finds either set takes
// EnterSlow, which yields the processor once before it enters.
const (
	// Hurry is set by a runner while a grace period that its spin did
	// not end waits for readers (see hurry, in grace.go).
	Hurry = 2
	// Nudge asks the next reader to yield once (see Nudge, the method).
	Nudge = 4
	// Yield is both: what a reader's fast path tests.
	Yield = Hurry | Nudge
)

// Idx loads the index word: the index to count on is Idx()&1, and
// Idx()&Yield asks new readers to yield first (EnterSlow).
func (d *Domain) Idx() uint32 { return d.idx.Load() }

// Nudge makes the next reader that enters d yield its processor once
// first, and lower the nudge. Writers nudge whenever goroutines of theirs
// want a processor: when they return, and when they wake or start a
// goroutine.
//
// It is for processor shortage, the common case of containers, where
// GOMAXPROCS follows a CPU limit of one or two: a reader that never
// blocks keeps its processor for a whole scheduler time slice (10 ms)
// before the scheduler takes it back, while writers (Unlistens, the
// waiters a drain has woken) sit behind it on the run queue. Yielding
// puts the reader behind every goroutine already runnable, so they run
// first. One yield per nudge is enough because every writer nudges again
// when it returns: when the scheduler hands the reader its processor back
// before every runnable writer has run (it takes a goroutine from the
// global queue every 61 turns, and a yielding goroutine goes there), a
// writer that ran since left a nudge for it. A writer that blocks costs
// readers nothing more.
//
// Rejected alternatives: keeping readers yielding for as long as a
// writer is in progress, which taxes every Dispatch while an Unlisten
// waits for a blocked listener; and parking readers, as an RWMutex's
// pending writer does, which makes Dispatch wait for Unlisten.
func (d *Domain) Nudge() {
	for {
		x := d.idx.Load()
		if x&Nudge != 0 || d.idx.CompareAndSwap(x, x|Nudge) {
			return
		}
	}
}

// BaseCounts returns the uncontended counter pair for index i&1, which
// readers count on while Table is nil.
func (d *Domain) BaseCounts(i uint32) *Counts { return &d.base[i&1] }

// TryEnterBase counts a section on c, a pair returned by BaseCounts, and
// reports whether it did. It fails when another reader counted on c at
// the same moment: a collision, after which the caller takes EnterSlow,
// which moves the Domain to shards.
func TryEnterBase(c *Counts) bool {
	n := c.Enter.Load()
	return c.Enter.CompareAndSwap(n, n+1)
}

// Enter begins a section and returns the pair it counted on: the base
// pair while the Domain is uncontended, else the shard of the processor
// the caller runs on. Exit must be called exactly once with the result.
// scope.Dispatch writes this function out in its own body (see there).
func (d *Domain) Enter() *Counts {
	x := d.idx.Load()
	if x&Yield == 0 {
		if t := d.table.Load(); t == nil {
			if c := &d.base[x&1]; TryEnterBase(c) {
				return c
			}
		} else if s := t.Shard(pin()); s != nil {
			c := &s.c[x&1]
			c.Enter.Add(1)
			return c
		}
	}
	return d.EnterSlow()
}

// EnterSlow is Enter's path for everything but the common case: the hurry
// flag or the nudge is up, the base pair collided, or the caller's
// processor has no shard yet. It never waits for a grace period or a
// reader; making a processor's shard takes the Domain's mutex for a few
// stores.
//
// With the hurry flag up, a grace period is waiting for readers still
// inside. On an oversubscribed machine those are typically readers
// preempted in their section and sitting on a run queue while new readers
// keep the processors busy; each new reader yields once, so the preempted
// ones (and the runner) get a processor sooner. Rejected alternative:
// parking new readers until the grace period ends, as an RWMutex does for
// a waiting writer. It frees processors just as well, but makes Dispatch
// wait for Unlisten, which a hot path must never do.
//
//go:noinline
func (d *Domain) EnterSlow() *Counts {
	x := d.idx.Load()
	if x&Yield != 0 {
		d.Answer()
		x = d.idx.Load()
	}
	i := x & 1
	t := d.table.Load()
	if t == nil {
		if c := &d.base[i]; TryEnterBase(c) {
			return c
		}
		t = d.collide()
	}
	p := pin()
	s := t.Shard(p)
	if s == nil {
		s = d.shardFor(p)
	}
	c := &s.c[i]
	c.Enter.Add(1)
	return c
}

// Answer is what a reader that finds the hurry flag or the nudge up does
// before it enters: it lowers the nudge, if it is up, and yields once.
// Lowering it first leaves a nudge raised while this reader is off its
// processor for the next reader. EnterSlow calls it; so does a caller
// that reads the index word of d without entering d (scope's isolated
// Dispatch, which enters its listeners' domains instead).
func (d *Domain) Answer() {
	if x := d.idx.Load(); x&Nudge != 0 {
		d.idx.CompareAndSwap(x, x&^Nudge) // lost to another change: the next reader lowers it
	}
	runtime.Gosched()
}

// Exit ends the section counted on c. It is the unchecked half of
// lifecycle.Ref.Exit, for callers that exit exactly once by construction.
func (d *Domain) Exit(c *Counts) {
	c.Exit.Add(1)
	d.Wake(c)
}

// Wake wakes a sleeping runner if it waits for the index c counts on;
// call it right after counting an exit on c. The runner announces its
// sleep before its last check of the counters and the reader counts its
// exit before loading the announcement; both are sequentially consistent,
// so either the runner sees the exit or the reader sees the sleep
// (docs/design.md, the wake handshake). While no grace period sleeps,
// this is one load of a word nobody writes.
//
// Exits on the other index do not wake the runner: while a grace period
// sleeps on one index, new readers run on the other, and waking the
// runner for each of them would cost every such Exit a channel
// operation. Wake is small enough to inline, so that lifecycle.Ref.Exit,
// which calls it, inlines too (with nothing to spare: the sleep is one
// pointer, index and channel together, because a second load here, of a
// separate index word, puts Ref.Exit over the inliner's budget).
func (d *Domain) Wake(c *Counts) {
	// sleep first: the base pairs' bits are written before a runner
	// announces itself, so reading c.bit is ordered only after a non-nil
	// load. A reader that loaded a sleep that has since ended sends on
	// that sleep's channel, which no one reads again: every sleep makes a
	// channel of its own, so a stale send wakes no later sleep.
	if sl := d.sleep.Load(); sl != nil && sl.bit == c.bit {
		select {
		case sl.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// A sleep is a runner's announcement that it sleeps until the index whose
// Counts.bit is bit drains, and the channel (capacity 1) that an Exit on
// that index wakes it with.
type sleep struct {
	wake chan struct{}
	bit  uint32
}

// Inside returns the number of sections that have entered and not yet
// exited, as a sum over the counters: a snapshot for diagnostics, possibly
// stale by the time it returns.
func (d *Domain) Inside() int {
	exits, enters := d.sumAll()
	return int(enters - exits)
}

// Quiescent reports whether no section of d is in progress, in one pass
// over the counters of both indexes: when it returns true, every section
// that began before the call has ended, and its Exit synchronizes before
// the return, exactly as for a grace period (it is one, for the caller:
// Synchronize and the Scope's drains take it first). A reader whose
// enter it does not count counted after it loaded that counter, so that
// reader's later loads see every store made before the call (the proof
// is that of drained: docs/design.md).
//
// It cannot replace the grace period: while readers keep arriving, one
// of them may always be inside, and only the flip between two indexes
// bounds the wait. It is the common case made cheap: no reader inside
// at the moment a writer asks.
func (d *Domain) Quiescent() bool {
	exits, enters := d.sumAll()
	return exits == enters
}

// sumAll sums the counters of both indexes, every exit before any enter
// (see drained), walking the list of shards from its head twice. A shard
// pushed between the two walks is summed for its enters only, which can
// only make the sums differ: a false "not quiescent", never a false
// "quiescent". (Copying the list into an array, as a grace period does
// for its many checks, costs more than it saves for one pass.)
func (d *Domain) sumAll() (exits, enters uint64) {
	head := d.shards.Load()
	exits = d.base[0].Exit.Load() + d.base[1].Exit.Load()
	for s := head; s != nil; s = s.next {
		exits += s.c[0].Exit.Load() + s.c[1].Exit.Load()
	}
	if testHookBetweenSums != nil {
		testHookBetweenSums(bothIndexes)
	}
	enters = d.base[0].Enter.Load() + d.base[1].Enter.Load()
	for s := d.shards.Load(); s != nil; s = s.next {
		enters += s.c[0].Enter.Load() + s.c[1].Enter.Load()
	}
	return exits, enters
}

// IndexSums are the sums of one index's counters: a reader inside it is
// one entered and not exited.
type IndexSums struct{ Exits, Enters uint64 }

// IndexSums returns the sums of the counters of each index, the exits of
// each read before its enters (see drained): two results equal on an index
// mean that no reader entered or left it in between, the counters only
// growing.
func (d *Domain) IndexSums() (sums [2]IndexSums) {
	var buf [64]*Shard
	list := d.list(buf[:0])
	for i := range sums {
		sums[i].Exits, sums[i].Enters = d.sums(list, 1<<i)
	}
	return sums
}

// list appends every shard of d to buf, from the head of the list: a
// shard pushed later is not in it.
func (d *Domain) list(buf []*Shard) []*Shard {
	for s := d.shards.Load(); s != nil; s = s.next {
		buf = append(buf, s)
	}
	return buf
}

// The index masks of sums.
const (
	bothIndexes = 3
)

// sums returns the sums of the exit and the enter counters of the
// indexes in mask (bit i for index i), on the base pair and on the
// shards of list: every exit is read before any enter (see drained).
func (d *Domain) sums(list []*Shard, mask uint32) (exits, enters uint64) {
	for i := 0; i < 2; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		exits += d.base[i].Exit.Load()
		for _, s := range list {
			exits += s.c[i].Exit.Load()
		}
	}
	if testHookBetweenSums != nil {
		testHookBetweenSums(mask)
	}
	for i := 0; i < 2; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		enters += d.base[i].Enter.Load()
		for _, s := range list {
			enters += s.c[i].Enter.Load()
		}
	}
	return exits, enters
}

// pin is Pin and Unpin in one, for the paths where a third call does not
// matter.
func pin() int {
	p := Pin()
	Unpin()
	return p
}
