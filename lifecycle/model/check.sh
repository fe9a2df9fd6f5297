#!/usr/bin/env bash
# Verify the Promela model of the epoch grace period (epoch.pml) with Spin:
# the real algorithm must pass every check, every mutant must be rejected,
# every variant must pass.  Exits non-zero otherwise.
#
#   bash lifecycle/model/check.sh            # all runs, one line each
#   bash lifecycle/model/check.sh --trails   # also print each counterexample
#
# Environment: ITERS = read-side sections per reader in the bounded runs
# (default 2).  Runs are sequential; pan is single-threaded.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TRAILS=0
if [[ "${1:-}" == "--trails" ]]; then TRAILS=1; fi
ITERS=${ITERS:-2}

# --- tools -----------------------------------------------------------------
if ! command -v spin >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
	SUDO=""
	if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
	echo "installing spin and gcc with apt-get ..."
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq spin gcc >/dev/null
fi
echo "$(spin -V)"

# --- work in a temp dir: no pan, pan.c or *.trail left in the repo ----------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/epoch-model.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

FAILURES=0
T0=$SECONDS
printf '%-44s %-8s %-9s %12s %13s %9s %8s  %s\n' \
	"run" "expect" "verdict" "states" "transitions" "mem(MB)" "time(s)" "detail"

# run NAME EXPECT "SPIN -D FLAGS" "GCC FLAGS" "PAN FLAGS"
#   EXPECT: PASS | ASSERT (must fail with an assertion violation)
#           | CYCLE (must fail with an acceptance cycle)
run() {
	local name=$1 expect=$2 dflags=$3 cflags=$4 pflags=$5
	local d="$WORK/$name"
	mkdir -p "$d"
	cp "$HERE/epoch.pml" "$d/epoch.pml"
	(
		cd "$d"
		# shellcheck disable=SC2086
		spin -a $dflags epoch.pml >spin.log 2>&1
		# shellcheck disable=SC2086
		gcc -O2 -w $cflags -o pan pan.c >gcc.log 2>&1
		# shellcheck disable=SC2086
		./pan $pflags >pan.out 2>&1 || true
	) || { echo "$name: spin/gcc failed:"; cat "$d"/spin.log "$d"/gcc.log 2>/dev/null; FAILURES=$((FAILURES + 1)); return 0; }

	local out="$d/pan.out"
	local errors states trans mem secs reason verdict ok detail
	errors=$(sed -nE 's/.*errors: ([0-9]+).*/\1/p' "$out" | tail -1)
	states=$(sed -nE 's/^ *([0-9.e+]+) states, stored.*/\1/p' "$out" | tail -1)
	trans=$(sed -nE 's/^ *([0-9.e+]+) transitions.*/\1/p' "$out" | tail -1)
	mem=$(sed -nE 's/^ *([0-9.]+)[[:space:]]+total actual memory usage.*/\1/p' "$out" | tail -1)
	secs=$(sed -nE 's/^pan: elapsed time ([0-9.e+]+) seconds.*/\1/p' "$out" | tail -1)
	reason=$(sed -nE 's/^pan:1: (.*) \(at depth ([0-9]+)\).*/\1 @depth \2/p' "$out" | head -1)
	# an exhaustive PASS must not be cut short by the depth bound
	local truncated=""
	if grep -q "max search depth too small" "$out"; then truncated="depth-bound hit"; fi

	if [[ -z "$errors" || -z "$secs" ]]; then
		verdict="ERROR"; detail="pan did not finish: $(tail -3 "$out" | tr '\n' ' ')"
	elif [[ "$errors" == "0" ]]; then
		verdict="PASS"; detail="${truncated:-exhaustive}"
	else
		verdict="REJECTED"; detail="$reason"
	fi

	ok=0
	case "$expect" in
	PASS)   [[ "$verdict" == PASS && -z "$truncated" ]] && ok=1 ;;
	ASSERT) [[ "$verdict" == REJECTED && "$reason" == assertion\ violated* ]] && ok=1 ;;
	CYCLE)  [[ "$verdict" == REJECTED && "$reason" == acceptance\ cycle* ]] && ok=1 ;;
	esac
	if [[ $ok -eq 0 ]]; then
		FAILURES=$((FAILURES + 1))
		detail="UNEXPECTED: $detail"
	fi
	printf '%-44s %-8s %-9s %12s %13s %9s %8s  %s\n' \
		"$name" "$expect" "$verdict" "${states:-?}" "${trans:-?}" "${mem:-?}" "${secs:-?}" "$detail"

	if [[ $TRAILS -eq 1 && "$verdict" == REJECTED ]]; then
		print_trail "$d" "$dflags" "$cflags" "$expect"
	fi
	return 0
}

# Re-run a rejected check for a short counterexample and print it compactly:
# shortest (pan -i) for assertion violations, a depth-bounded search for cycles.
print_trail() {
	local d=$1 dflags=$2 cflags=$3 expect=$4
	(
		cd "$d"
		rm -f epoch.pml.trail
		if [[ "$expect" == CYCLE ]]; then
			./pan -m100 -a -f >trail.out 2>&1 || true
		else
			./pan -m1000 -i >trail.out 2>&1 || true
		fi
		echo "    --- counterexample (P1,P2 = readers; P3 = Unlisten(L0); P4 = Unlisten(L1)) ---"
		# shellcheck disable=SC2086
		# keep shared-memory steps; drop control flow, local resets, init
		spin -t -p $dflags epoch.pml 2>&1 |
			grep -E '^ *[0-9]+:	proc  [0-9]+ .*	\[|START OF CYCLE|Error: assertion' |
			sed -E 's/^ *([0-9]+):\tproc  ([0-9]+) \([^)]*\) epoch.pml:([0-9]+) \(state [0-9]+\)\t/\1 P\2 line \3: /' |
			awk '/^[0-9]+ P[0-9]+ line [0-9]+: \[exit\[/ { xs = $1 }
			     /\[(s|i) = 0\]$/ && $1 == xs { next }   # resets after Exit
			     { print "    " $0 }' |
			grep -vE 'P0 line|\[\(1\)\]|\[else\]|\[\.\(goto\)\]|\[IF\]|\[(c|l|sx|se|ok|c0|c1) = 0\]|\[\(ok\)\]|\[\(\(n<|\[n = \(n\+1\)\]|\[\(\(l<|\[mine = 1\]|\[\(mine\)\]' || true
	)
}

B="-m10000"                 # bounded runs: depth stays far below this
U="-m200000"                # unbounded runs
SAFE="-DSAFETY"
LIVE="-DNOREDUCE"           # liveness: no partial-order reduction, to be safe
IT="-DITERS=$ITERS"

echo "--- real model ------------------------------------------------------------"
run model.safety.bounded        PASS   "$IT"                 "$SAFE" "$B"
run model.safety.unbounded      PASS   "-DUNBOUNDED"         "$SAFE" "$U -w25"
run model.liveness              PASS   "-DLIVENESS"          "$LIVE" "$U -a -f"

echo "--- mutants (each must be REJECTED) --------------------------------------"
run mutant.a.enters_first       ASSERT "$IT -DMUTANT_ENTERS_FIRST"          "$SAFE" "$B"
run mutant.b.skip_first_wait    ASSERT "$IT -DMUTANT_SKIP_FIRST_WAIT"       "$SAFE" "$B"
run mutant.c.single_index.safety PASS  "$IT -DMUTANT_SINGLE_INDEX"          "$SAFE" "$B"
run mutant.c.single_index.liveness CYCLE "-DLIVENESS -DMUTANT_SINGLE_INDEX" "$LIVE" "$U -a -f"
run mutant.d.snapshot_before_enter ASSERT "$IT -DMUTANT_SNAPSHOT_BEFORE_ENTER" "$SAFE" "$B"
run mutant.e.exit_reloads_idx   ASSERT "$IT -DMUTANT_EXIT_RELOADS_IDX"      "$SAFE" "$B"
run mutant.f.join_running_gp    ASSERT "$IT -DMUTANT_JOIN_RUNNING_GP"       "$SAFE" "$B"
run mutant.g.per_shard_scan+exit_any_shard ASSERT "$IT -DVARIANT_PER_SHARD_SCAN -DVARIANT_EXIT_ANY_SHARD" "$SAFE" "$B"

echo "--- variants (each must PASS) ----------------------------------------------"
run variant.per_shard_scan      PASS   "$IT -DVARIANT_PER_SHARD_SCAN"       "$SAFE" "$B"
run variant.exit_any_shard      PASS   "$IT -DVARIANT_EXIT_ANY_SHARD"       "$SAFE" "$B"
run variant.snapshot_after_enter PASS  "$IT -DVARIANT_SNAPSHOT_AFTER_ENTER" "$SAFE" "$B"

echo "---------------------------------------------------------------------------"
echo "total wall time: $((SECONDS - T0)) s"
if [[ $FAILURES -ne 0 ]]; then
	echo "FAIL: $FAILURES run(s) did not give the expected verdict"
	exit 1
fi
echo "OK: model passes safety and liveness; every mutant rejected; every variant passes"
