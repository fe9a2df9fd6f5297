// Package scope provides [Scope], a set of listeners that events are
// dispatched to, modelled on a kauth scope (kauth_listen_scope,
// kauth_unlisten_scope and kauth_authorize_action), with the one guarantee
// that kauth lacks: when [Scope.Unlisten] returns nil, the listener's
// callback is not running and will never run again.
//
// Dispatch is meant for the hottest path of a program: it takes no lock,
// allocates nothing and, in the common case, writes only a counter that no
// other processor writes, so concurrent dispatches on different cores do
// not contend. A goroutine that dispatches in a loop can make a
// [Dispatcher], which counts on a shard chosen once instead of looking up
// its processor on every call. Unlisten pays instead: it waits for a grace
// period of the scope's epoch, and concurrent Unlistens share grace
// periods. With [WithIsolation], every listener has an epoch of its own,
// and an Unlisten waits for its own listener's calls only.
//
// A listener that must stop itself (a one-shot listener) is registered
// with [Scope.ListenSelf], which hands it its own Handle before it can
// first be called, and stops itself with the Handle's Stop, which never
// waits. A wait for the scope from inside one of its listeners waits for
// itself: builds with the race detector report it with [ErrSelfWait], and
// [WithStallWarning] reports any wait that lasts, naming the listeners
// that hold it up.
package scope
