// Package listener is a stub of github.com/quiesce/quiesce/listener for
// the analyzer's tests: the same exported names and signatures (the
// package's TestStubsMirrorTheLibrary checks them), no behavior.
package listener

import "context"

type Result int8

const (
	Defer Result = iota
	Allow
	Deny
)

func (r Result) Valid() bool                 { return r >= Defer && r <= Deny }
func (r Result) Combine(other Result) Result { return max(r, other) }
func (r Result) String() string              { return "" }

type Func[E any] func(ctx context.Context, ev E) Result

func Notify[E any](fn func(ctx context.Context, ev E)) Func[E] {
	return func(ctx context.Context, ev E) Result { fn(ctx, ev); return Defer }
}

type State int32

const (
	Active State = iota
	Stopping
	Stopped
)

func (s State) String() string { return "" }

type Handle struct{ _ int }

func (h *Handle) Name() string                   { return "" }
func (h *Handle) State() State                   { return Active }
func (h *Handle) Done() <-chan struct{}          { return nil }
func (h *Handle) Wait(ctx context.Context) error { return nil }
func (h *Handle) Stop() bool                     { return false }
func (h *Handle) String() string                 { return "" }
