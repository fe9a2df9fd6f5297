// Package scope provides [Scope], a set of listeners (callbacks) that
// events are dispatched to. It does the job of a listener slice guarded by
// a [sync.RWMutex], with the read side made cheap: [Scope.Dispatch] is
// RLock without the shared write, so dispatches on different processors do
// not contend and never wait for a writer; [Scope.Unlisten] is Lock: when
// it returns nil, no call of the listener is running and none will start,
// so its owner may free what the listener uses. The model is a kauth scope
// of NetBSD and macOS's XNU (kauth_listen_scope, kauth_unlisten_scope,
// kauth_authorize_action), with the guarantee of Unlisten, which kauth
// lacks.
//
// The writer pays instead: Unlisten may wait for every Dispatch that was
// running when it began, and concurrent Unlistens share that wait. With
// [WithIsolation], an Unlisten waits only for its own listener's calls. A
// goroutine that dispatches in a loop can use a [Dispatcher].
//
// A listener must never call Unlisten, Close or Handle.Wait of its own
// Scope: the wait would wait for the very call that makes it. Builds with
// the race detector detect such a wait made on the listener's own
// goroutine and return [ErrSelfWait] at once; other builds wait until the
// context ends. A listener stops itself with its Handle's Stop, which does
// not wait for calls to return (see [Scope.ListenSelf]).
// [WithStallWarning] reports any wait that lasts, naming the listeners
// that hold it up.
//
// # Testing
//
// Unlisten, Close and Handle.Wait work inside a testing/synctest bubble
// and keep its fake time: a wait with a deadline ends when the bubble's
// clock reaches it. A Scope can be used by one bubble after another and
// outside them, but not from inside and outside a bubble at the same time:
// touching a bubble's channel from outside it is a fatal error of the
// runtime. The channel of Handle.Done is made by the first call of Done
// (unless the listener is Stopped by then), and so belongs to the bubble
// of that call.
//
// docs/design.md in the repository describes the algorithm and its proof,
// and docs/concurrency.md says, method by method, what may run
// concurrently and how long it can block.
package scope
