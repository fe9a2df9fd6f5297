package selfwait

import "runtime"

// Goid returns the calling goroutine's id, from the first line of its
// stack trace: "goroutine 123 [running]:". Only the race build's Tracker
// calls it; it is in every build so that BenchmarkSelfWaitCost (scope)
// can measure, in a normal build, what the Tracker would cost Dispatch
// there. The linker drops it from programs that do not call it.
func Goid() int64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	var id int64
	for _, ch := range buf[len("goroutine "):n] {
		if ch < '0' || ch > '9' {
			break
		}
		id = id*10 + int64(ch-'0')
	}
	return id
}
