//go:build race

package selfwait

import (
	"runtime"
	"sync"
	"unsafe"
)

// Enabled reports whether self-waits are detected in this build.
const Enabled = true

// A Tracker records which goroutines are inside sections of one domain,
// and for what key (a listener; nil for the whole domain). The zero
// Tracker is ready to use.
type Tracker struct {
	mu sync.Mutex
	m  map[int64][]unsafe.Pointer
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
	id := goid()
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[int64][]unsafe.Pointer)
	}
	t.m[id] = append(t.m[id], key)
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
		if keys[i] == g.key {
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
	id := goid()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range t.m[id] {
		if key == nil || k == nil || k == key {
			return true
		}
	}
	return false
}

// goid returns the calling goroutine's id, from the first line of its
// stack trace: "goroutine 123 [running]:".
func goid() int64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	var id int64
	for _, ch := range buf[len("goroutine "):n] {
		if ch < '0' || ch > '9' {
			break
		}
		id = id*10 + int64(ch-'0')
	}
	return id
}
