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
// collision costs 32 KiB per object at GOMAXPROCS 256 when two readers
// collide; a shard per
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

// collide gives d its processor table, if it has none yet: readers
// collided on the base pair.
func (d *Domain) collide() *Table {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.growLocked(0)
}

// growLocked returns the table, after installing one large enough for
// GOMAXPROCS processors and for processor p (a copy of the old one's
// slots) if the current one is not. Called with mu held, which every
// change of the table and of the list holds.
func (d *Domain) growLocked(p int) *Table {
	old := d.table.Load()
	n := runtime.GOMAXPROCS(0)
	if n <= p {
		n = p + 1
	}
	if old != nil && n <= len(old.slots) {
		return old
	}
	t := &Table{slots: make([]atomic.Pointer[Shard], n)}
	if old != nil {
		for i := range old.slots {
			t.slots[i].Store(old.slots[i].Load())
		}
	}
	d.table.Store(t)
	return t
}

// shardFor returns processor p's shard, making and publishing it if
// needed. The shard goes on the list that grace periods sum before it
// goes in its slot, where other readers find it: a reader that found a
// shard through its slot before it was on the list could count on it,
// and return from Enter, unseen by a grace period
// (MUTANT_SLOT_BEFORE_LIST of lifecycle/model/domain.pml; counting on
// the new shard before pushing it, as long as the push comes before Enter
// returns, is safe: VARIANT_COUNT_BEFORE_PUBLISH).
//
// It holds mu, as the grace-period bookkeeping does, for a few stores:
// a reader takes it once per processor, the first time it enters after
// readers collided. Rejected alternative: publishing with a compare-and-
// swap and no lock. Two goroutines racing for one slot (one preempted in
// between, which a GOMAXPROCS far above the core count makes common) then
// each leave a shard on the list, more shards than processors, and every
// grace period scans every one of them.
func (d *Domain) shardFor(p int) *Shard {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shardLocked(d.growLocked(p), p)
}

// shardLocked is shardFor with mu held and t the current table, which
// has a slot for p.
func (d *Domain) shardLocked(t *Table, p int) *Shard {
	if s := t.slots[p].Load(); s != nil {
		return s
	}
	s := newShard()
	s.next = d.shards.Load()
	d.shards.Store(s)   // on the list first,
	t.slots[p].Store(s) // then where readers find it
	return s
}

// NextShard returns a shard for a caller that will count on it from now
// on without asking for its processor (scope.Dispatcher): the shards of
// the processors in turn, made if needed, so that the shards handed out
// by one Domain one after the other are distinct up to GOMAXPROCS of
// them, whatever other Domains hand out in between. The turn is kept
// per Domain, under mu, in an unsigned counter: it wraps around after
// 2^32 calls and never yields a negative slot.
func (d *Domain) NextShard() *Shard {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.growLocked(0)
	p := int(d.handed % uint32(len(t.slots)))
	d.handed++
	return d.shardLocked(t, p)
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
