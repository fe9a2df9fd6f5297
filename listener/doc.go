// Package listener defines what a listener is to a scope: a [Func] that
// answers an event with a [Result], and the [Handle] its owner holds to
// watch and stop it. Handles are made by scope.Scope.Listen; this package
// has no constructor for them.
//
// A listener moves through three [State]s, in order and once:
//
//	Active    Dispatch calls it.
//	Stopping  Stop has removed it: no new invocation starts, but calls
//	          that began before Stop may still be running.
//	Stopped   Every such call has returned; Done is closed (right after
//	          the state changes).
//
// Once a Handle is Stopped, its function is not running and will never run
// again, so its owner may release whatever the function touches.
package listener
