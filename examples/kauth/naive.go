package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quiesce/quiesce/listener"
)

// The folk strategies, each as simple as the kext code it models.

// entry is a registered listener: the callback and, in kauth, its cookie
// (here captured in fn).
type entry struct {
	fn listener.Func[fileOp]
}

// rawScope is kauth itself: kauth_authorize_action picks the listener up
// and calls it; kauth_unlisten_scope unhooks it and returns at once. A
// caller that picked the listener up just before the unhook is still on
// its way into the callback when the owner frees the cookie.
type rawScope struct {
	cur atomic.Pointer[entry]
}

func (s *rawScope) listen(fn listener.Func[fileOp]) { s.cur.Store(&entry{fn: fn}) }

func (s *rawScope) dispatch(ctx context.Context, op fileOp) listener.Result {
	if e := s.cur.Load(); e != nil {
		return e.fn(ctx, op)
	}
	return listener.Defer
}

func (s *rawScope) unlisten(context.Context) error {
	s.cur.Store(nil)
	return nil
}

// sleepScope is kauth plus a sleep after unlisten, hoping every caller has
// left by the time it ends. It usually has, and nothing says it must.
type sleepScope struct {
	rawScope
	wait time.Duration
}

func (s *sleepScope) unlisten(ctx context.Context) error {
	s.rawScope.unlisten(ctx)
	time.Sleep(s.wait)
	return nil
}

// flagScope is kauth plus a global "enabled" flag that the callback checks
// on entry and teardown clears before unhooking. Checking the flag and
// using the driver are two steps; the free can fall between them.
type flagScope struct {
	rawScope
	enabled atomic.Bool
}

func (s *flagScope) listen(fn listener.Func[fileOp]) {
	s.rawScope.listen(func(ctx context.Context, op fileOp) listener.Result {
		if !s.enabled.Load() {
			return listener.Defer
		}
		return fn(ctx, op)
	})
	s.enabled.Store(true)
}

func (s *flagScope) unlisten(ctx context.Context) error {
	s.enabled.Store(false)
	return s.rawScope.unlisten(ctx)
}

// mutexScope takes one lock around every callback, and unlisten takes it
// too: safe, and every file operation of the system waits in line.
type mutexScope struct {
	mu sync.Mutex
	fn listener.Func[fileOp]
}

func (s *mutexScope) listen(fn listener.Func[fileOp]) {
	s.mu.Lock()
	s.fn = fn
	s.mu.Unlock()
}

func (s *mutexScope) dispatch(ctx context.Context, op fileOp) listener.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fn == nil {
		return listener.Defer
	}
	return s.fn(ctx, op)
}

func (s *mutexScope) unlisten(context.Context) error {
	s.mu.Lock()
	s.fn = nil
	s.mu.Unlock()
	return nil
}

// rwmutexScope read-locks around every callback: callbacks run in
// parallel, but every RLock and RUnlock writes the lock's reader count,
// one cache line that every core takes in turn.
type rwmutexScope struct {
	mu sync.RWMutex
	fn listener.Func[fileOp]
}

func (s *rwmutexScope) listen(fn listener.Func[fileOp]) {
	s.mu.Lock()
	s.fn = fn
	s.mu.Unlock()
}

func (s *rwmutexScope) dispatch(ctx context.Context, op fileOp) listener.Result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fn == nil {
		return listener.Defer
	}
	return s.fn(ctx, op)
}

func (s *rwmutexScope) unlisten(context.Context) error {
	s.mu.Lock()
	s.fn = nil
	s.mu.Unlock()
	return nil
}
