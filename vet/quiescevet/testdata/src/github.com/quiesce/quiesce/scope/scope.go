// Package scope is a stub of github.com/quiesce/quiesce/scope for the
// analyzer's tests: the same exported names and signatures (the package's
// TestStubsMirrorTheLibrary checks them), no behavior.
package scope

import (
	"context"
	"errors"

	"github.com/quiesce/quiesce/listener"
)

var (
	ErrClosed        = errors.New("scope: closed")
	ErrNilFunc       = errors.New("scope: nil listener func")
	ErrUnknownHandle = errors.New("scope: unknown handle")
	ErrSelfWait      = errors.New("scope: wait from inside a call of the same scope")
)

type Option interface {
	apply(*options)
}

type options struct{}

func WithIsolation() Option { return nil }

type Scope[E any] struct{ _ int }

func New[E any](name string, opts ...Option) *Scope[E] { return new(Scope[E]) }

func (s *Scope[E]) Name() string { return "" }
func (s *Scope[E]) Len() int     { return 0 }

func (s *Scope[E]) Listen(name string, fn listener.Func[E]) (*listener.Handle, error) {
	return new(listener.Handle), nil
}

func (s *Scope[E]) ListenSelf(name string, build func(self *listener.Handle) listener.Func[E]) (*listener.Handle, error) {
	return new(listener.Handle), nil
}

func (s *Scope[E]) Unlisten(ctx context.Context, h *listener.Handle) error { return nil }
func (s *Scope[E]) Close(ctx context.Context) error                        { return nil }

func (s *Scope[E]) Dispatch(ctx context.Context, ev E) listener.Result { return listener.Defer }

type Dispatcher[E any] struct{ _ int }

func (s *Scope[E]) Dispatcher() *Dispatcher[E] { return new(Dispatcher[E]) }

func (d *Dispatcher[E]) Dispatch(ctx context.Context, ev E) listener.Result { return listener.Defer }
