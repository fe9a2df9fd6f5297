package rcu

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// A Shard holds one processor's counter pairs, alone on its line: in the
// common case one core writes it and nobody else does.
type Shard struct {
	c    [2]Counts
	next *Shard // the list of shards; set before the shard is published
	// padding to prevent false sharing with whatever is allocated next.
	_ [CacheLine - unsafe.Sizeof([2]Counts{}) - unsafe.Sizeof(uintptr(0))]byte
}

// Counts returns the shard's pair for index i.
func (s *Shard) Counts(i uint32) *Counts { return &s.c[i&1] }

func newShard() *Shard {
	s := new(Shard)
	s.c[0].bit = 1 << 0
	s.c[1].bit = 1 << 1
	return s
}

// A Table maps a processor's id (its P) to its shard. It is sized by
// GOMAXPROCS when made; a processor whose id is past its end (GOMAXPROCS
// grew) makes a larger copy. Slots fill in as processors first enter.
//
// Rejected alternatives: allocating every processor's shard at the first
// collision, as the Epoch did up front before it became lazy, costs 32 KiB
// per object at GOMAXPROCS 256 when two readers collide; a shard per
// collision found by hashing, as Java's LongAdder does with its probe,
// needs a per-goroutine probe, which Go does not offer.
type Table struct {
	slots []atomic.Pointer[Shard]
}

// Table returns the Domain's processor table, nil while it is
// uncontended.
func (d *Domain) Table() *Table { return d.table.Load() }

// Shard returns the shard of processor p, or nil if it has none yet (the
// caller then takes Domain.EnterSlow).
func (t *Table) Shard(p int) *Shard {
	if uint(p) >= uint(len(t.slots)) {
		return nil
	}
	return t.slots[p].Load()
}

// grow installs a table at least large enough for processor p, replacing
// old (nil for the first one), and returns the current table. Losing the
// race to install is fine: the winner's table is as good.
//
// A slot filled in old after the copy below is missing from the new
// table; its shard stays on the list, so its counts are still summed, and
// its processor makes another shard. Correct, and rare enough (only while
// GOMAXPROCS grows) not to be worth a lock on the readers' slow path.
func (d *Domain) grow(old *Table, p int) *Table {
	n := runtime.GOMAXPROCS(0)
	if n <= p {
		n = p + 1
	}
	if old != nil && n <= len(old.slots) {
		return d.table.Load()
	}
	t := &Table{slots: make([]atomic.Pointer[Shard], n)}
	if old != nil {
		for i := range old.slots {
			t.slots[i].Store(old.slots[i].Load())
		}
	}
	if d.table.CompareAndSwap(old, t) {
		return t
	}
	return d.table.Load()
}

// shardFor returns processor p's shard, making and publishing it if
// needed. The shard goes on the list that grace periods sum before it
// goes in its slot, where other readers find it: a reader that found a
// shard through its slot before it was on the list could count on it,
// and return from Enter, unseen by a grace period
// (MUTANT_SLOT_BEFORE_LIST of lifecycle/model/domain.pml; counting on
// the new shard before pushing it, as long as the push comes before Enter
// returns, is safe: VARIANT_COUNT_BEFORE_PUBLISH). If two goroutines race
// for the same slot (possible only when one was preempted in between),
// the loser's shard stays on the list with zero counts: harmless, and
// bounded by the number of such races.
func (d *Domain) shardFor(p int) *Shard {
	for {
		t := d.table.Load()
		if t == nil || p >= len(t.slots) {
			d.grow(t, p)
			continue
		}
		if s := t.slots[p].Load(); s != nil {
			return s
		}
		s := newShard()
		d.publish(s)
		if t.slots[p].CompareAndSwap(nil, s) {
			return s
		}
	}
}

// publish pushes s on the list of shards.
func (d *Domain) publish(s *Shard) {
	for {
		head := d.shards.Load()
		s.next = head // s is not reachable until the swap below succeeds
		if d.shards.CompareAndSwap(head, s) {
			return
		}
	}
}

// ShardFor returns a shard for a caller that will count on it from now
// on without asking for its processor (scope.Dispatcher): the shard of
// processor k modulo GOMAXPROCS, made if needed. Callers pass a fresh k
// each time (a counter), so that the shards handed out one after the
// other are distinct up to GOMAXPROCS of them.
func (d *Domain) ShardFor(k int) *Shard {
	t := d.table.Load()
	if t == nil {
		t = d.grow(nil, 0)
	}
	return d.shardFor(k % len(t.slots))
}

// ShardCount returns how many shards the Domain has made, for tests and
// memory figures.
func (d *Domain) ShardCount() int {
	n := 0
	for s := d.shards.Load(); s != nil; s = s.next {
		n++
	}
	return n
}
