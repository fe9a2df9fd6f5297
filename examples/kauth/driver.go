package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/quiesce/quiesce/listener"
)

// An action is what a process wants to do to a vnode, as in
// KAUTH_VNODE_READ_DATA, KAUTH_VNODE_WRITE_DATA and so on.
type action uint8

const (
	actRead action = iota
	actWrite
	actExecute
	actDelete
	numActions
)

func (a action) String() string {
	return [...]string{"read", "write", "execute", "delete"}[a]
}

// A vnode is the file an operation is about. The table of vnodes is built
// once and only read afterwards.
type vnode struct {
	id   uint64
	path string
}

// A fileOp is the event of the fileop scope: which thread wants to do what
// to which vnode. thread stands for the calling kernel thread; the driver
// keeps its statistics per thread so that counting does not contend.
type fileOp struct {
	act    action
	vn     *vnode
	thread int
}

// poison is what the allocator writes over a freed driver, like the
// 0xdeadbeef patterns of a kernel's zone allocator. Live values never have
// 0xdead in their top 16 bits, so a word read from a driver tells on its
// own whether the driver had been freed by then.
const poison = 0xdeadbeef_deadbeef

func poisoned(v uint64) bool { return v>>48 == poison>>48 }

const (
	aliveMagic = 0x4b415554_48 // "KAUTH"
	ruleSlots  = 512           // a power of two, at least the number of vnodes
)

// heap stands for the allocator the driver was allocated from. It is not
// part of any driver and is never freed: it counts the touches of freed
// drivers, the use-after-free that panics a kernel.
type heap struct {
	useAfterFree atomic.Int64
}

// A driver is the kext's driver object, the cookie kauth passes back to the
// callback. Every field the callback touches is an atomic word so that the
// model has no Go data race: a touch of a freed driver reads a poisoned
// word instead of crashing, and is counted.
//
// The callback only reads the rule table and writes only its own thread's
// counter, so the driver itself adds no contention between threads: what
// differs between strategies is the dispatch path alone.
type driver struct {
	magic atomic.Uint64            // aliveMagic; the first word the callback checks
	rules [ruleSlots]atomic.Uint64 // per vnode: path hash<<8 | denied actions, 0 = no rule
	hits  []paddedCounter          // decisions made, per thread
	mem   *heap                    // the allocator: not part of the object
}

// paddedCounter is a per-thread counter on a cache line of its own.
type paddedCounter struct {
	n atomic.Uint64
	_ [120]byte // padding to prevent false sharing between threads
}

// newDriver allocates and initializes a driver, as the kext's start
// routine would before calling listen: it denies writes and deletes of
// every eighth file.
func newDriver(mem *heap, files []vnode, threads int) *driver {
	d := &driver{hits: make([]paddedCounter, threads), mem: mem}
	for i := range files {
		vn := &files[i]
		if vn.id%8 == 0 {
			d.rules[vn.id&(ruleSlots-1)].Store(pathHash(vn)<<8 | 1<<actWrite | 1<<actDelete)
		}
	}
	d.magic.Store(aliveMagic)
	return d
}

// free releases the driver: it poisons every word the callback may touch,
// header first, and returns how many decisions the driver made while it
// lived. The runner calls it the moment the strategy's unlisten returns,
// so a callback still running, or starting later, reads poison.
func (d *driver) free() (served uint64) {
	d.magic.Store(poison)
	for i := range d.rules {
		d.rules[i].Store(poison)
	}
	for i := range d.hits {
		served += d.hits[i].n.Swap(poison)
	}
	return served
}

// windowRounds sets how much work authorize does before it first touches
// the driver: hashing the path, a stand-in for vnode_getpath and matching
// it, a few hundred nanoseconds. Every strategy pays it the same. It is the
// window between picking the listener up and using its cookie, where an
// unload that frees the driver without waiting for callers gets caught.
const windowRounds = 8

// pathHash hashes vn's path (FNV-1a, windowRounds times over) to 44 bits,
// so that a rule can never look like poison.
func pathHash(vn *vnode) uint64 {
	h := uint64(14695981039346656037)
	for r := 0; r < windowRounds; r++ {
		for i := 0; i < len(vn.path); i++ {
			h ^= uint64(vn.path[i])
			h *= 1099511628211
		}
		h ^= uint64(r)
		h *= 1099511628211
	}
	return h >> 20
}

// authorize is the driver's kauth callback: it runs on the calling thread,
// concurrently with every other file operation of the system. It touches
// the driver three times (header, rule, statistics); at the first touch
// that finds the driver freed it reports the use-after-free and gives up,
// where the kernel would panic.
func (d *driver) authorize(_ context.Context, op fileOp) listener.Result {
	h := pathHash(op.vn) // the window: work before the first touch

	if d.magic.Load() != aliveMagic {
		return d.usedAfterFree()
	}
	rule := d.rules[op.vn.id&(ruleSlots-1)].Load()
	if poisoned(rule) {
		return d.usedAfterFree()
	}
	res := listener.Defer
	if rule != 0 && rule>>8 == h && rule&(1<<op.act) != 0 {
		res = listener.Deny
	}
	if poisoned(d.hits[op.thread].n.Add(1)) {
		return d.usedAfterFree()
	}
	return res
}

// usedAfterFree records a touch of a freed driver. The callback then
// returns Defer; in the kernel it would not return at all.
func (d *driver) usedAfterFree() listener.Result {
	d.mem.useAfterFree.Add(1)
	return listener.Defer
}

// vnodes builds the file table the simulated processes work on.
func vnodes(n int) []vnode {
	dirs := []string{"/Users/ana/Documents", "/private/var/log", "/Applications/Mail.app/Contents", "/System/Library/Extensions", "/tmp"}
	vs := make([]vnode, n)
	for i := range vs {
		vs[i] = vnode{id: uint64(i + 1), path: fmt.Sprintf("%s/file-%04d.dat", dirs[i%len(dirs)], i)}
	}
	return vs
}
