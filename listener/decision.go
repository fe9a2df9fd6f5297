package listener

// A Decision is the combined Result of one event and the listener that
// decided it, as scope.Scope.Decide returns it. By is the name, as
// registered, of the first listener in registration order whose answer
// was Result; it is "" exactly when Result is Defer, which no listener
// decides (every listener deferred, or none was called).
//
// The zero Decision is Defer with no name: what Decide returns for a
// scope with no listener. Decisions are comparable. Names need not be
// unique (see scope.Scope.Listen), so By names a registration: give
// listeners distinct names where a log must tell them apart.
type Decision struct {
	Result Result // what Dispatch would have returned
	By     string // the first listener whose answer was Result; "" for Defer
}
