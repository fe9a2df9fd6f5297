// Package listener defines what a listener is to a scope: a [Func] that
// answers an event with a [Result], and the [Handle] its owner holds to
// watch and stop it. A Handle is to one listener what a stop flag and a
// sync.WaitGroup of its running calls would be: [Handle.Stop] sets the
// flag, so that no new call starts, and [Handle.Done] closes, as the
// WaitGroup's Wait would return, once the calls already running have
// returned. Handles are made by scope.Scope.Listen; this package has no
// constructor for them.
//
// A listener moves through three states ([State]), in order and once:
//
//	Active    Dispatch calls it.
//	Stopping  Stop (or Unlisten, or Close) has removed it: no new call
//	          starts, but calls that began before may still be running.
//	Stopped   Every such call has returned, and Done is closed.
//
// Once a Handle is Stopped, its function is not running and will never run
// again, so its owner may release whatever the function touches.
package listener
