#!/usr/bin/env bash
# Reproduces the tables of docs/benchmarks.md in one command: runs every
# benchmark of the library (the root module) and of this module, writes the
# raw output under results/, then runs benchstat and the ratio table.
#
#   bench/run.sh                                     # the published run: 6 rounds of about 3 minutes
#                                                    # on a quiet machine, ~20 minutes in all
#   ROUNDS=1 BENCHTIME=20ms OUT=$(mktemp -d) bench/run.sh  # a quick look, ~1 minute
#
# The runs are interleaved: ROUNDS rounds of `go test -count 1`, each over
# every benchmark, instead of one `go test -count ROUNDS`, which would run
# each benchmark ROUNDS times in a row. The samples are the same; the
# interleaving spreads a burst of load from elsewhere over all the
# implementations instead of charging it to one of them. Before each round
# the script waits (up to QUIET_WAIT seconds) for the rest of the machine
# to use less than QUIET_PCT percent of its CPUs, and it logs, per round,
# how much CPU everything else used while the round ran (results/load.txt).
#
# Each round appends to four files:
#   root.txt    the library's timing benchmarks at -cpu CPUS (lifecycle:
#               Epoch, Guard, Synchronize; scope: Dispatch, Decide, Listen
#               and Unlisten, Register, Unlisten latency and batches), and
#               BenchmarkStallStorm, whose iterations are ticks of a
#               goroutine that sleeps 1 ms: run with -benchtime STORM_TICKS
#   sizes.txt   BenchmarkSynchronizeEmpty, which sets GOMAXPROCS (1, 2, 64,
#               256) itself: run once, without -cpu
#   memory.txt  BenchmarkMemory of lifecycle and scope, which also set
#               GOMAXPROCS themselves and are one measurement each, not
#               timings: run once with -benchtime 1x
#   bench.txt   this module: Dispatch through quiesce, its Dispatcher, an
#               isolated Scope and every baseline, at -cpu CPUS
# and portable.txt, the Epoch benchmark with -tags quiesce_portable.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
ROUNDS=${ROUNDS:-6}
STORM_TICKS=${STORM_TICKS:-2000x}
BENCHTIME=${BENCHTIME:-200ms}
CPUS=${CPUS:-1,2}
OUT=${OUT:-$here/results}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_WAIT=${QUIET_WAIT:-600}
BENCHSTAT=${BENCHSTAT:-golang.org/x/perf/cmd/benchstat@latest}
# The benchmarks that set GOMAXPROCS themselves: -cpu would only repeat them.
SIZES='^BenchmarkSynchronizeEmpty$'
MEMORY='^BenchmarkMemory$'
STORM='^BenchmarkStallStorm$'

mkdir -p "$OUT"
: >"$OUT/root.txt"
: >"$OUT/sizes.txt"
: >"$OUT/memory.txt"
: >"$OUT/bench.txt"
: >"$OUT/portable.txt"
hz=$(getconf CLK_TCK)
ncpu=$(nproc)

# stat prints the busy and total jiffies of all CPUs so far (steal counts
# as busy: it is time this machine wanted and did not get).
stat() {
	awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; t=b+$5+$6; print b, t}' /proc/stat
}

# busy_pct prints the share of all CPUs in use over the next $1 seconds.
busy_pct() {
	local b0 t0 b1 t1
	read -r b0 t0 < <(stat)
	sleep "$1"
	read -r b1 t1 < <(stat)
	echo $((100 * (b1 - b0) / (t1 - t0)))
}

# our_cpu prints the CPU seconds (user+sys) used so far by this script's
# children (the go commands and the test binaries), from the file that
# `times` wrote: `times` must run in this shell itself, not in a command
# substitution's subshell, which has no children of its own.
tfile="$OUT/.times"
our_cpu() {
	awk 'NR==2 {
		n = split($0, f, " "); s = 0
		for (i = 1; i <= n; i++) { split(f[i], p, "m"); s += p[1] * 60 + p[2] }
		print s }' "$tfile"
}

wait_quiet() {
	local waited=0 p
	while :; do
		p=$(busy_pct 3)
		waited=$((waited + 3))
		if [ "$p" -lt "$QUIET_PCT" ] || [ "$waited" -ge "$QUIET_WAIT" ]; then
			echo "$p"
			return
		fi
	done
}

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" status --porcelain --untracked-files=no -- . ':!bench/results' ':!docs/benchmarks.md' 2>/dev/null | grep -q . && echo " with uncommitted changes")"
	echo "go: $(go version)"
	echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
	echo "benchstat: $BENCHSTAT"
	echo "rounds: $ROUNDS, benchtime: $BENCHTIME (StallStorm: $STORM_TICKS), cpu: $CPUS"
} >"$OUT/env.txt"
echo "round  others-before%  others-during%  wall-s  loadavg" >"$OUT/load.txt"

for r in $(seq 1 "$ROUNDS"); do
	before=$(wait_quiet)
	read -r b0 t0 < <(stat)
	times >"$tfile"
	c0=$(our_cpu)
	s0=$(date +%s.%N)
	(cd "$root" && go test -run '^$' -bench . -skip "$SIZES|$MEMORY|$STORM" -benchtime "$BENCHTIME" -cpu "$CPUS" \
		-count 1 ./...) >>"$OUT/root.txt"
	(cd "$root" && go test -run '^$' -bench "$STORM" -benchtime "$STORM_TICKS" -cpu "$CPUS" -count 1 ./scope) >>"$OUT/root.txt"
	(cd "$root" && go test -run '^$' -bench "$SIZES" -benchtime "$BENCHTIME" -count 1 ./lifecycle) >>"$OUT/sizes.txt"
	(cd "$root" && go test -run '^$' -bench "$MEMORY" -benchtime 1x -count 1 ./lifecycle ./scope) >>"$OUT/memory.txt"
	(cd "$here" && go test -run '^$' -bench . -benchtime "$BENCHTIME" -cpu "$CPUS" -count 1 ./...) >>"$OUT/bench.txt"
	# The portable shard selection (a sync.Pool token instead of procPin).
	(cd "$root" && go test -tags quiesce_portable -run '^$' -bench '^BenchmarkEpoch$' -benchtime "$BENCHTIME" \
		-cpu "$CPUS" -count 1 ./lifecycle) >>"$OUT/portable.txt"
	s1=$(date +%s.%N)
	times >"$tfile"
	c1=$(our_cpu)
	read -r b1 t1 < <(stat)
	# Everything else = all busy CPU time - ours, as a share of all CPUs.
	during=$(awk -v b="$((b1 - b0))" -v hz="$hz" -v c0="$c0" -v c1="$c1" -v w0="$s0" -v w1="$s1" -v n="$ncpu" \
		'BEGIN { o = b / hz - (c1 - c0); if (o < 0) o = 0; printf "%.0f", 100 * o / ((w1 - w0) * n) }')
	wall=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.0f", b - a }')
	printf '%5d  %14s  %14s  %6s  %s\n' "$r" "$before" "$during" "$wall" \
		"$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.txt"
	echo "round $r/$ROUNDS done (${wall}s; others: ${before}% before, ${during}% during)" >&2
done

# The tables. benchstat computes medians and 95% confidence intervals (an
# interval needs 6 samples: with fewer rounds it prints ± ∞, and
# bench/ratios' tests refuse to publish such a run)
# and compares each column with the first (the base): -col /impl puts
# quiesce (or epoch) first, as every benchmark lists it first.
bs() { (cd "$here" && go run "$BENCHSTAT" "$@"); }
{
	echo "## Dispatch: Scope.Dispatch (base), Dispatcher, isolated Scope and every baseline (bench/)"
	bs -filter '.unit:ns/op' -col /impl "$OUT/bench.txt"
	echo
	echo "## Dispatcher.Dispatch (base) against the floor and RWMutex (bench/)"
	bs -filter '/impl:(dispatcher OR floor OR rwmutex) .unit:ns/op' -col /impl "$OUT/bench.txt"
	echo
	echo "## Isolated listeners (WithIsolation) against the shared epoch (base) and the floor of isolation (bench/)"
	bs -filter '/impl:(quiesce OR quiesce-isolated OR floor-isolated) .unit:ns/op' -col /impl "$OUT/bench.txt"
	echo
	echo "## Scope.Decide against Scope.Dispatch (base) (bench/)"
	bs -filter '/impl:(quiesce OR quiesce-decide) .unit:ns/op' -col /impl "$OUT/bench.txt"
	echo
	echo "## Dispatch allocations (bench/)"
	bs -filter '.unit:allocs/op' -col /impl "$OUT/bench.txt"
	echo
	echo "## Epoch Enter/Exit (lifecycle)"
	bs -filter '.name:Epoch .unit:ns/op' -col /impl "$OUT/root.txt"
	echo
	echo "## Guard TryEnter/Exit (lifecycle)"
	bs -filter '.name:Guard .unit:ns/op' -col /impl "$OUT/root.txt"
	echo
	echo "## Epoch Enter/Exit: procPin (default) vs sync.Pool token (-tags quiesce_portable)"
	bs -filter '.name:Epoch /impl:epoch .unit:(ns/op OR allocs/op)' procpin="$OUT/root.txt" pool="$OUT/portable.txt"
	echo
	echo "## Synchronize, with 0 or 1 goroutine entering and exiting nonstop (lifecycle)"
	bs -filter '.name:Synchronize .unit:(ns/op OR allocs/op)' -col /impl "$OUT/root.txt"
	echo
	echo "## Synchronize with no reader inside, fresh and collided Epoch, by GOMAXPROCS: epoch vs RWMutex Lock/Unlock (lifecycle)"
	bs -filter '.unit:(ns/op OR shards)' -col /impl "$OUT/sizes.txt"
	echo
	echo "## The same, epoch only, by GOMAXPROCS (base: GOMAXPROCS 1; the target compares 256 with 2)"
	bs -filter '/impl:epoch .unit:ns/op' -col /gomaxprocs "$OUT/sizes.txt"
	echo
	echo "## Heap per object, idle and after contention, by GOMAXPROCS (lifecycle, scope)"
	bs -filter '.unit:B/object' -col /impl "$OUT/memory.txt"
	echo
	echo "## Heap for 100,000 idle objects, MiB (lifecycle, scope)"
	bs -filter '.unit:MiB/100k' -col /impl "$OUT/memory.txt"
	echo
	echo "## Counter shards per object, the state the contention reached (lifecycle, scope)"
	bs -filter '.unit:shards/object' -col /impl "$OUT/memory.txt"
	echo
	echo "## Dispatch with 0, 1, 4, 16 listeners (scope)"
	bs -filter '.name:Dispatch .unit:(ns/op OR allocs/op)' -col /impl "$OUT/root.txt"
	echo
	echo "## Listen+Unlisten with 1, 100, 10,000 listeners registered, nobody inside (scope)"
	bs -filter '.name:ListenUnlisten' -col /impl "$OUT/root.txt"
	echo
	echo "## Register 10,000 listeners one by one, one op (scope)"
	bs -filter '.name:Register' -col /impl "$OUT/root.txt"
	echo
	echo "## Unlisten latency while goroutines dispatch nonstop (scope)"
	bs -filter '.name:UnlistenWhileDispatching .unit:(ns/op OR p50-ns OR p99-ns OR max-ns)' -col /impl "$OUT/root.txt"
	echo
	echo "## Unlisten latency, 8×GOMAXPROCS dispatchers yielding every 32 or never, kauth-like listener (scope)"
	bs -filter '.name:UnlistenOversubscribed .unit:(ns/op OR p50-ns OR p99-ns OR max-ns)' -col /impl "$OUT/root.txt"
	echo
	echo "## n Unlistens at once vs one after another, one dispatcher, fast or slow readers (scope)"
	bs -filter '.name:UnlistenBatch /impl:quiesce .unit:ns/unlisten' -col /mode "$OUT/root.txt"
	echo
	echo "## 64 Unlistens at once or in a row: quiesce (base) vs 64 RWMutex writers, under a reader that never blocks (scope)"
	bs -filter '.name:UnlistenBatch /unlistens:64 /reader:fast .unit:ns/unlisten' -col /impl "$OUT/root.txt"
	echo
	echo "## Decide vs Dispatch, 1 and 16 listeners (scope)"
	bs -filter '.name:Decide .unit:ns/op' -col /impl "$OUT/root.txt"
	echo
	echo "## Lateness of an unrelated goroutine, 10,000 goroutines: no storm (base) vs a storm of timed-out Unlistens (scope)"
	bs -filter '.name:StallStorm .unit:(p50-ns OR p99-ns OR max-ns)' -col /storm "$OUT/root.txt"
	echo
	echo "## What self-wait detection would cost Dispatch in a normal build (scope)"
	bs -filter '.name:SelfWaitCost .unit:(ns/op OR allocs/op)' -col /impl "$OUT/root.txt"
} >"$OUT/benchstat.txt" 2>&1
(cd "$here" && go run ./ratios "$OUT/root.txt" "$OUT/bench.txt" "$OUT/sizes.txt" "$OUT/memory.txt") >"$OUT/ratios.md"
# The published page comes from the published results only: a run to
# another OUT leaves docs/benchmarks.md alone.
if [ "$OUT" = "$here/results" ]; then
	(cd "$here" && go run ./ratios -page results) >"$root/docs/benchmarks.md"
	echo "wrote docs/benchmarks.md" >&2
fi

rm -f "$tfile"
cat "$OUT/load.txt"
echo
cat "$OUT/ratios.md"
echo
echo "raw output, benchstat tables and ratios: $OUT" >&2
