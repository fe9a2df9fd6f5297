// Package selfwait finds the one wait that can never end: a goroutine
// waiting for a grace period (or a drain) of a domain while it is itself
// inside a section of that domain, directly or through anything it calls.
// Such a wait waits for itself.
//
// It is compiled in only with the race detector (the race build tag), the
// way Linux's lockdep is a debug build: it needs to know which goroutine
// is inside which section, and Go tells a goroutine its identity only
// through runtime.Stack, microseconds a call (docs/benchmarks.md,
// "Builds", has the measurement). A normal build pays nothing: the
// Tracker and the G are empty and every method is a no-op the compiler
// removes.
package selfwait
