//go:build race

package selfwait

import (
	"sync"
	"unsafe"
)

// Enabled reports whether self-waits are detected in this build.
const Enabled = true

// A Tracker records which goroutines are inside sections of one domain,
// and for what key (a listener; nil for the whole domain). The zero
// Tracker is ready to use.
type Tracker struct {
	mu  sync.Mutex
	m   map[int64][]entry
	seq int64 // advanced by Advance; every entry records it
}

// entry is one section: its key and the sequence number when it began.
type entry struct {
	key unsafe.Pointer
	seq int64
}

// A G is the receipt of Enter: the goroutine that entered, for the Exit
// that may run on another.
type G struct {
	t   *Tracker
	id  int64
	key unsafe.Pointer
}

// Enter records that the calling goroutine is inside a section for key.
func (t *Tracker) Enter(key unsafe.Pointer) G {
	id := Goid()
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[int64][]entry)
	}
	t.m[id] = append(t.m[id], entry{key: key, seq: t.seq})
	t.mu.Unlock()
	return G{t: t, id: id, key: key}
}

// Exit removes the record Enter made, on whatever goroutine the section
// ends.
func (g G) Exit() {
	t := g.t
	if t == nil {
		return
	}
	t.mu.Lock()
	keys := t.m[g.id]
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].key == g.key {
			keys = append(keys[:i], keys[i+1:]...)
			break
		}
	}
	if len(keys) == 0 {
		delete(t.m, g.id)
	} else {
		t.m[g.id] = keys
	}
	t.mu.Unlock()
}

// Inside reports whether the calling goroutine is inside a section of t
// for key: one entered for key itself, or for the whole domain (nil). A
// nil key asks about any section of t.
func (t *Tracker) Inside(key unsafe.Pointer) bool {
	return t.InsideBefore(key, 1<<62)
}

// InsideBefore is Inside, counting only sections that began before
// Advance returned seq.
func (t *Tracker) InsideBefore(key unsafe.Pointer, seq int64) bool {
	id := Goid()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.m[id] {
		if (key == nil || e.key == nil || e.key == key) && e.seq < seq {
			return true
		}
	}
	return false
}

// Advance starts a new sequence number and returns it: sections that
// begin from now on record it, those that began before have a smaller
// one. A drain calls it before its grace period begins.
func (t *Tracker) Advance() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	return t.seq
}

// Last returns the number the last Advance returned.
func (t *Tracker) Last() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seq
}
