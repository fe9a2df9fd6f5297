// Package lifecycle is a stub of github.com/quiesce/quiesce/lifecycle for
// the analyzer's tests: the same exported names and signatures (the
// package's TestStubsMirrorTheLibrary checks them), no behavior.
package lifecycle

import (
	"context"
	"errors"
)

var ErrSelfWait = errors.New("lifecycle: wait from inside a section of the same domain")

type Epoch struct{ _ int }

func NewEpoch() *Epoch                                 { return new(Epoch) }
func (e *Epoch) Enter() Ref                            { return Ref{} }
func (e *Epoch) Synchronize(ctx context.Context) error { return nil }
func (e *Epoch) Inside() int                           { return 0 }

type Ref struct{ _ int }

func (r Ref) Exit() {}

type Guard struct{ _ int }

func NewGuard() *Guard                           { return new(Guard) }
func (g *Guard) TryEnter() (Ref, bool)           { return Ref{}, true }
func (g *Guard) Close(ctx context.Context) error { return nil }
func (g *Guard) Closed() bool                    { return false }
func (g *Guard) Inside() int                     { return 0 }
