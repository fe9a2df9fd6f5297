// Package quiescevet defines Analyzer, a vet check for programs that use
// quiesce, as the lostcancel pass is for context.WithCancel: it reports,
// at the offending call, the waits that can never end (self-waits), the
// Refs that are never exited (lost Refs), and the listeners that read
// their Handle before Listen has returned it (early Handles). A clean
// report is not a proof: the rules look at one function at a time and
// at the listeners written where they are registered (see Limits).
//
// Run it with go vet or on its own (cmd/quiescevet):
//
//	go vet -vettool=$(go env GOPATH)/bin/quiescevet ./...
//	quiescevet -test=false ./...
//
// # Self-waits
//
// A listener runs inside a Dispatch, and Unlisten, Close and Handle.Wait
// wait for the Dispatches that could see the listener: called from inside
// one of the Scope's listeners they wait for their own caller. The
// analyzer reports a call of Unlisten or Close on the Scope that Listen
// (ListenSelf) was called on, and of Wait on the listener's own Handle,
// inside the listener:
//
//	s.Listen("x", func(ctx context.Context, ev E) listener.Result {
//		s.Unlisten(ctx, h) // reported: use h.Stop(), which does not wait
//		...
//	})
//
// The listener is the function literal given to Listen, directly, through
// listener.Notify or a conversion to listener.Func, or through a local
// variable assigned that literal once; for ListenSelf, each literal that
// the build function returns, whose own Handle is build's parameter.
// Calls that run on the listener's goroutine count, deferred ones and
// those of literals called on the spot included; calls in a go statement
// do not, nor do literals handed to other functions (their callers are
// unknown). Stop, and waits on another Scope or another Handle, are not
// reported.
//
// Likewise Synchronize of an Epoch, or Close of a Guard, waits for every
// section of it, the caller's own included. The analyzer reports such a
// call after an Enter (TryEnter) of the same Epoch (Guard) on a path where
// the Ref is not exited yet; a deferred Exit runs only at return:
//
//	r := e.Enter()
//	defer r.Exit()
//	e.Synchronize(ctx) // reported
//
// A Ref passed on, stored, handed to a goroutine or captured by a
// closure may be exited by whoever gets it before the wait, and ends the
// search on that path.
//
// # Lost Refs
//
// A Ref from Enter or TryEnter must be exited exactly once, or every
// later Synchronize (Close) of its Epoch (Guard) waits forever. The
// analyzer reports, at the Enter, a Ref kept in a local variable that a
// path of the function reaches a return with (or assigns anew) without
// mentioning it, and a Ref discarded outright (_ = e.Enter(), or the call
// as a statement). As in lostcancel, any mention handles a path: an Exit,
// deferred or not, and any escape (returned, stored in a field, global,
// map or slice, passed to a function, captured by a closure), since the
// Ref is then the receiver's to exit. Paths that end in a panic lose
// nothing. For TryEnter with its ok kept, only the paths where ok is true
// need an Exit; the analyzer follows conditions on ok in if, for and
// tagless switch statements (ok, !ok, and && and || of them):
//
//	r, ok := g.TryEnter()
//	if !ok {
//		return errClosed // no Ref to exit
//	}
//	defer r.Exit()
//
// # Early Handles
//
// Listen publishes the listener before it returns its Handle, so a
// listener that reads the variable Listen's Handle is assigned to may run
// before the assignment and see nil (or a previous Handle). The analyzer
// reports the first use of that variable (or field) inside the listener,
// for Listen and ListenSelf alike; ListenSelf's build parameter is the
// Handle to use:
//
//	var h *listener.Handle
//	h, _ = s.Listen("x", func(ctx context.Context, ev E) listener.Result {
//		h.Stop() // reported: use ListenSelf
//		...
//	})
//
// # Limits
//
// The rules compare receivers by expression: the same variable, or the
// same path of fields and constant (or same-variable) indexes from it.
// Two variables holding the same Scope or Epoch are different
// expressions, so a wait through an alias is not reported. Rejected
// alternative: pointer analysis, which costs more than a vet check
// should and would report what it cannot prove.
//
// Listeners that are named functions or methods (s.Listen("x",
// drv.Authorize)) are not followed: inside them the Scope has another
// name, such as a field of the receiver, and relating the two would again
// need aliasing. Neither are function literals handed to a helper that
// calls them (timeIt(func() error { return s.Unlisten(ctx, h) })),
// nor waits called through a method value or method expression
// (f := e.Synchronize; f(ctx)).
//
// Each function is analyzed on its own: a Ref passed to another function
// is that function's to exit, and a section entered in one function and
// waited on in a function it calls is not seen. The control-flow graph
// knows nothing of the values of conditions but ok's, so a Ref entered and
// exited under two separate tests of the same flag can be reported lost.
//
// An Unlisten of the same Scope is reported whatever Handle it is given:
// in a Scope made WithIsolation, or for a listener already stopped, such a
// wait can end, and the analyzer cannot tell those Scopes and listeners
// apart.
//
// The library's types are recognized by package path and type name
// (github.com/quiesce/quiesce/scope.Scope, listener.Handle,
// listener.Notify, lifecycle.Epoch, lifecycle.Guard, lifecycle.Ref),
// under any import name and when embedded in another type.
package quiescevet
