// Package scope provides [Scope], a set of listeners that events are
// dispatched to, modelled on a kauth scope (kauth_listen_scope,
// kauth_unlisten_scope and kauth_authorize_action), with the one guarantee
// that kauth lacks: when [Scope.Unlisten] returns nil, the listener's
// callback is not running and will never run again.
//
// Dispatch is meant for the hottest path of a program: it takes no lock,
// allocates nothing and writes only to a per-processor counter, so
// concurrent dispatches on different cores do not contend. Unlisten pays
// instead: it waits for a grace period of the scope's lifecycle.Epoch, and
// concurrent Unlistens share grace periods.
//
// A listener that must stop itself (a one-shot listener) is registered
// with [Scope.ListenSelf], which hands it its own Handle before it can
// first be called.
package scope
