package scope

import (
	"context"

	"github.com/quiesce/quiesce/internal/handle"
)

// The drain: a listener leaves Active (Stop, Unlisten or Close), then
// becomes Stopped, its Done closed, once every Dispatch that could have
// seen it Active has returned. Who makes sure of that, and when, is
// decided here.
//
// No reader inside (the common case): the Stop that moved the listener
// out of Active finds the epoch quiescent in one pass over its counters
// and finishes the listener at once, under mu, with every other listener
// still pending (rcu.Domain.Quiescent: a Dispatch that loaded the
// listener's state Active counted itself before, and has left if the
// counters balance).
//
// Shared epoch (the default), readers inside: one grace period serves
// every listener stopped before it began, so stopped listeners wait in
// pending and a single drainer at a time takes them in batches: 64
// listeners stopping at once cost about one grace period, not 64. (A
// grace period per Stop convoys on mu and costs 64.) The drainer is
// whoever claimed the role: a goroutine started by Stop, which runs with
// a background context until nothing is pending, or an Unlisten or
// Close, which drains on its own goroutine (no goroutine to start and
// none to wake it) with its own ctx. An Unlisten stops once its own
// listener is Stopped and hands any later work to a new goroutine, so
// its latency does not grow with other callers' stops; a drainer whose
// ctx ends, or whose grace period panics, puts its batch back and hands
// the role over the same way. drains is 1 while the role is held.
//
// Isolated listeners (WithIsolation): each drains on its own, with a
// grace period of its own domain, on the goroutine of its Unlisten or on
// one started by its Stop, so that no listener's drain waits for another
// one's calls. drains counts them.
//
// Every change that can end a wait (a listener finished, the last drain
// done) ends under mu with settleLocked, which wakes the waiters it
// satisfies (wait.go).

// handleStop is Handle.Stop for the listeners of s, possibly called from
// inside a listener. It never waits for readers: it finishes the listener
// at once if none is inside, and otherwise queues it for a drain, which
// it starts on a goroutine of its own if nobody is draining.
func (s *Scope[E]) handleStop(c *handle.Core) bool {
	won, drain := s.stop(c)
	if drain {
		s.goDrain(c)
	}
	return won
}

// stop moves c out of Active and either finishes it or queues it for a
// drain, in one step under mu, so that Close (which looks at both under
// mu) always finds a listener either Active, queued or Stopped. It
// reports whether this call moved c, and whether the caller must now run
// a drain: it has claimed the drainer role, or c is isolated and drains
// on its own.
//
// A listener stopped before ListenSelf published it is finished here and
// now: nothing can have seen it, so there is nothing to wait for, and an
// Unlisten of it from inside build returns at once.
func (s *Scope[E]) stop(c *handle.Core) (won, drain bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.State.CompareAndSwap(handle.Active, handle.Stopping) {
		return false, false
	}
	if !c.Registered {
		c.Abandon()
		s.settleLocked()
		return true, false
	}
	s.active.Add(-1)
	return true, s.queueLocked(c)
}

// queueLocked queues c, just moved to Stopping, for a drain, and reports
// whether the caller must run one. With no reader inside, there is none
// to run: c (with every listener pending) is finished here.
func (s *Scope[E]) queueLocked(c *handle.Core) bool {
	if c.Iso != nil {
		if c.Iso.Quiescent() {
			s.finishLocked(c)
			s.settleLocked()
			return false
		}
		s.drains++
		return true
	}
	if s.ep.Quiescent() {
		s.finishLocked(c)
		s.finishPendingLocked()
		return false
	}
	s.pending = append(s.pending, c)
	return s.claimDrainLocked()
}

// finishPendingIfQuiescentLocked finishes every pending listener if no
// Dispatch is inside the shared epoch: all of them left Active before
// the check, so none of those Dispatches can be calling them. (The
// batch a drainer has taken out of pending is its own to finish.)
func (s *Scope[E]) finishPendingIfQuiescentLocked() {
	if len(s.pending) > 0 && s.ep.Quiescent() {
		s.finishPendingLocked()
	}
}

// finishPendingLocked finishes every pending listener, after a check that
// found the shared epoch quiescent, and settles.
func (s *Scope[E]) finishPendingLocked() {
	if len(s.pending) > 0 {
		s.finishLocked(s.pending...)
		clear(s.pending)
		s.pending = s.pending[:0]
	}
	s.settleLocked()
}

// claimDrainLocked makes the caller the shared drainer if there is work
// and no drainer yet.
func (s *Scope[E]) claimDrainLocked() bool {
	if s.drains > 0 || len(s.pending) == 0 {
		return false
	}
	s.drains = 1
	return true
}

// goDrain runs a drain on a goroutine of its own, with a background
// context: the drain of isolated listener c, or the shared drain (c nil or
// shared). The goroutine wants a processor from the moment it is started,
// and the readers are nudged for it, then and when it ends
// (rcu.Domain.Nudge).
func (s *Scope[E]) goDrain(c *handle.Core) {
	s.ep.Nudge()
	go func() {
		defer s.ep.Nudge()
		if c != nil && c.Iso != nil {
			s.drainIsolated(context.Background(), c)
		} else {
			s.drainShared(context.Background(), nil)
		}
	}()
}

// drainHere runs the drain that stop asked for, for c, on the caller's
// goroutine, bounded by ctx.
func (s *Scope[E]) drainHere(ctx context.Context, c *handle.Core) error {
	if c.Iso != nil {
		return s.drainIsolated(ctx, c)
	}
	return s.drainShared(ctx, c)
}

// drainShared is the shared drainer's loop (see above); mine is the
// listener of the Unlisten running it, nil for a background drainer.
func (s *Scope[E]) drainShared(ctx context.Context, mine *handle.Core) error {
	for {
		s.mu.Lock()
		if mine != nil && mine.State.Load() == handle.Stopped && len(s.pending) > 0 {
			s.goDrain(nil) // the role passes on
			s.mu.Unlock()
			return nil
		}
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 {
			s.drains = 0
			s.settleLocked()
			s.mu.Unlock()
			return nil
		}
		s.dbg.Advance() // Dispatches inside from before now are waited for (selfWait)
		s.mu.Unlock()
		// Every listener in the batch left Active before this grace period
		// began, so a Dispatch that saw one of them Active entered the epoch
		// before it and is waited for. Dispatches after that see them
		// stopped.
		if err := s.synchronizeBatch(ctx, batch); err != nil {
			return err
		}
		s.mu.Lock()
		s.finishLocked(batch...)
		s.settleLocked()
		s.mu.Unlock()
	}
}

// synchronizeBatch waits for a grace period of the shared epoch on behalf
// of batch. If ctx ends first, or the wait panics (ctx's methods are the
// caller's code), the batch goes back to the front of pending and a
// background goroutine takes the drainer role over, so that every
// listener of the batch is still finished.
func (s *Scope[E]) synchronizeBatch(ctx context.Context, batch []*handle.Core) error {
	ok := false
	defer func() {
		if !ok {
			s.mu.Lock()
			s.pending = append(batch, s.pending...)
			s.goDrain(nil) // the role passes on
			s.mu.Unlock()
		}
	}()
	err := s.ep.Synchronize(ctx)
	ok = err == nil
	return err
}

// drainIsolated waits for the calls of isolated listener c and finishes
// it. If ctx ends first, or the wait panics, a background goroutine takes
// over, so that Done still closes.
func (s *Scope[E]) drainIsolated(ctx context.Context, c *handle.Core) error {
	ok := false
	defer func() {
		if !ok {
			s.goDrain(c)
		}
	}()
	if err := c.Iso.Synchronize(ctx); err != nil {
		return err
	}
	ok = true
	s.mu.Lock()
	s.finishLocked(c)
	s.drains--
	s.settleLocked()
	s.mu.Unlock()
	return nil
}

// finishLocked moves drained listeners to Stopped, closing their Done,
// and makes a new table once half of the current one's entries, and at
// least minDead, are dead: a copy of n/2 entries per n/2 drained
// listeners keeps Unlisten amortized O(1). Dispatch then walks at most
// twice the live entries plus minDead, and the table holds at most four
// times as many slots plus 2*minDead (a copy leaves room for as many
// again): the usual hysteresis of a dynamic array, without which a
// shrinking table would be copied on every Unlisten.
//
// minDead keeps a Scope whose few listeners come and go from copying, and
// so allocating, on every other Unlisten: its appends then copy the table
// when it is full, and its Unlistens allocate nothing. An occasional
// allocation (a fresh page, a span to sweep) is slow enough to make up
// Unlisten's 99th percentile on one processor when every other Unlisten
// allocates.
func (s *Scope[E]) finishLocked(cs ...*handle.Core) {
	for _, c := range cs {
		c.Finish()
	}
	t := s.tab.Load()
	if t.closed {
		return
	}
	t.dead += int32(len(cs))
	if n := t.n.Load(); 2*t.dead >= n && t.dead >= minDead {
		s.tab.Store(t.copyLive(nil))
	}
}

// minDead is the least number of dead entries that finishLocked copies
// the table for.
const minDead = 4

// settleLocked is called under mu after every change that can end a wait:
// it wakes the waiters whose wait is over (wait.go), and lets a closed
// Scope that has no drain left forget the listeners it kept for stall
// reports.
func (s *Scope[E]) settleLocked() {
	if s.drains == 0 && len(s.pending) == 0 {
		if t := s.tab.Load(); t.closed && len(t.entries) > 0 {
			s.tab.Store(&table{iso: t.iso, closed: true})
		}
	}
	s.wakeLocked()
}
