// Package bench holds no code: its tests compare quiesce's
// scope.Scope.Dispatch with the usual ways of protecting callbacks from
// being torn down while they run (a Mutex, an RWMutex, a shared in-flight
// counter, xsync's RBMutex), with the floor that any counting scheme pays,
// and with no protection at all.
//
// It is a module of its own (github.com/quiesce/quiesce/bench, with a
// replace directive pointing at the library in the parent directory) so
// that the baselines' dependencies never enter the library's go.mod.
//
// Run everything, with the statistics and ratio tables of
// docs/benchmarks.md, with
//
//	./run.sh
//
// or one benchmark with
//
//	go test -run '^$' -bench Dispatch -cpu 1,2 .
package bench
