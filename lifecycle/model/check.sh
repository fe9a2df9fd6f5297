#!/usr/bin/env bash
# Verify the Promela models of this folder with Spin: epoch.pml (the grace
# period's core), domain.pml (the Domain's read side, lazy shards, parking,
# isolated listeners) and sync.pml (Synchronize's sharing and hand-off).
# The real algorithm must pass every check, every mutant must be rejected
# (with the expected kind of error), every variant must pass.  Exits
# non-zero otherwise.
#
#   bash lifecycle/model/check.sh            # all runs, one line each
#   bash lifecycle/model/check.sh --trails   # also print each counterexample
#
# Environment:
#   ITERS   read-side sections per reader in epoch.pml's bounded runs
#           (default 2; domain.pml and sync.pml use their own defaults)
#   JOBS    pan runs at once (default: number of CPUs); pan is
#           single-threaded, so runs are spread over the cores
#   MEMCAP  MB of (estimated) pan memory allowed at once (default 3000):
#           a run starts only if it fits next to the running ones, or if
#           nothing else runs.  Keeps the peak under ~4 GB with JOBS=2.
#   ONLY    an extended regex: run only the checks whose name matches
#           (for instance ONLY='^(domain|mutant\.[h-o])' with --trails)
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TRAILS=0
if [[ "${1:-}" == "--trails" ]]; then TRAILS=1; fi
ITERS=${ITERS:-2}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 1)}
MEMCAP=${MEMCAP:-3000}
ONLY=${ONLY:-}

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
WORK=$(mktemp -d "${TMPDIR:-/tmp}/quiesce-model.XXXXXX")
# Each run is a background job in its own process group (set -m), so that
# an interrupted script can stop the runs still going (and their pan), and
# only those.
set -m
declare -A RUNMEM=()        # running job (process group id) -> est. MB
cleanup() {
	local p
	for p in "${!RUNMEM[@]}"; do
		if kill -0 "$p" 2>/dev/null; then kill -- "-$p" 2>/dev/null || true; fi
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$SECONDS
FMT='%-44s %-8s %-9s %12s %13s %9s %8s  %s\n'

# --- the runs ----------------------------------------------------------------
# check NAME EXPECT FILE "SPIN -D FLAGS" "GCC FLAGS" "PAN FLAGS" EST_S EST_MB
#   EXPECT: PASS | ASSERT (must fail with an assertion violation)
#           | END (must fail with an invalid end state: something blocks
#           forever) | CYCLE (must fail with an acceptance cycle)
#   EST_S, EST_MB: rough pan time and memory (on a quiet machine), for
#   scheduling only: the longest runs start first.  Runs estimated at 4 s
#   or more are compiled with -O2, the others with -O0 (four times faster
#   to compile, and they only run for a second or two).
N=0
declare -a C_NAME C_EXPECT C_FILE C_D C_C C_P C_EST C_MEM
check() {
	if [[ -n "$ONLY" && $2 != SECTION ]] && ! [[ $1 =~ $ONLY ]]; then return 0; fi
	C_NAME[N]=$1; C_EXPECT[N]=$2; C_FILE[N]=$3; C_D[N]=$4; C_C[N]=$5
	C_P[N]=$6; C_EST[N]=$7; C_MEM[N]=$8
	N=$((N + 1))
}
section() { check "$1" SECTION "" "" "" "" 0 0; }

B="-m10000"                 # bounded runs: depth stays far below this
U="-m200000"                # unbounded runs
SAFE="-DSAFETY"
LIVE="-DNOREDUCE"           # liveness: no partial-order reduction, to be safe
IT="-DITERS=$ITERS"
E=epoch.pml D=domain.pml S=sync.pml

section "--- epoch.pml: real model ----------------------------------------------"
check model.safety.bounded          PASS   $E "$IT"                 "$SAFE" "$B"         6  500
check model.safety.unbounded        PASS   $E "-DUNBOUNDED"         "$SAFE" "$U -w25"   45 1900
check model.liveness                PASS   $E "-DLIVENESS"          "$LIVE" "$U -a -f"  18  250
check model.safety.quick            PASS   $E "$IT -DQUICK"         "$SAFE" "$B"        65 2400
section "--- epoch.pml: mutants (each must be REJECTED) --------------------------"
check mutant.a.enters_first         ASSERT $E "$IT -DMUTANT_ENTERS_FIRST"          "$SAFE" "$B"  1 160
check mutant.a2.quick_enters_first  ASSERT $E "$IT -DQUICK -DMUTANT_QUICK_ENTERS_FIRST" "$SAFE" "$B" 1 160
check mutant.b.skip_first_wait      ASSERT $E "$IT -DMUTANT_SKIP_FIRST_WAIT"       "$SAFE" "$B"  2 240
check mutant.c.single_index.safety  PASS   $E "$IT -DMUTANT_SINGLE_INDEX"          "$SAFE" "$B"  1 180
check mutant.c.single_index.liveness CYCLE $E "-DLIVENESS -DMUTANT_SINGLE_INDEX"   "$LIVE" "$U -a -f" 1 140
check mutant.d.snapshot_before_enter ASSERT $E "$IT -DMUTANT_SNAPSHOT_BEFORE_ENTER" "$SAFE" "$B" 1 140
check mutant.e.exit_reloads_idx     ASSERT $E "$IT -DMUTANT_EXIT_RELOADS_IDX"      "$SAFE" "$B"  7 500
check mutant.f.join_running_gp      ASSERT $E "$IT -DMUTANT_JOIN_RUNNING_GP"       "$SAFE" "$B"  1 200
check mutant.g.per_shard_scan+exit_any_shard ASSERT $E "$IT -DVARIANT_PER_SHARD_SCAN -DVARIANT_EXIT_ANY_SHARD" "$SAFE" "$B" 1 220
section "--- epoch.pml: variants (each must PASS) --------------------------------"
check variant.per_shard_scan        PASS   $E "$IT -DVARIANT_PER_SHARD_SCAN"       "$SAFE" "$B"  6  500
check variant.exit_any_shard        PASS   $E "$IT -DVARIANT_EXIT_ANY_SHARD"       "$SAFE" "$B" 30 1400
check variant.snapshot_after_enter  PASS   $E "$IT -DVARIANT_SNAPSHOT_AFTER_ENTER" "$SAFE" "$B"  5  400

section "--- domain.pml: real model ---------------------------------------------"
check domain.safety                 PASS   $D ""                    "$SAFE" "$B"  7  520
check domain.cancel                 PASS   $D "-DCANCEL"            "$SAFE" "$B"  9  600
check domain.isolated               PASS   $D "-DISOLATED"          "$SAFE" "$B"  2  210
section "--- domain.pml: mutants (each must be REJECTED) -------------------------"
check mutant.h.slot_before_list     ASSERT $D "-DMUTANT_SLOT_BEFORE_LIST"          "$SAFE" "$B" 1 160
check mutant.i.list_stale           ASSERT $D "-DMUTANT_LIST_STALE"                "$SAFE" "$B" 1 150
check mutant.j.skip_base_when_sharded ASSERT $D "-DMUTANT_SKIP_BASE_WHEN_SHARDED"  "$SAFE" "$B" 1 160
check mutant.k.exit_loads_waiting_first END $D "-DMUTANT_EXIT_LOADS_WAITING_FIRST" "$SAFE" "$B" 1 140
check mutant.l.announce_after_check END    $D "-DMUTANT_ANNOUNCE_AFTER_CHECK"      "$SAFE" "$B" 1 140
check mutant.m.iso_state_before_enter ASSERT $D "-DISOLATED -DMUTANT_ISO_STATE_BEFORE_ENTER" "$SAFE" "$B" 1 140
check mutant.n.iso_shared_sync      ASSERT $D "-DISOLATED -DMUTANT_ISO_SHARED_SYNC" "$SAFE" "$B" 1 140
check mutant.o.iso_one_domain       END    $D "-DISOLATED -DMUTANT_ISO_ONE_DOMAIN" "$SAFE" "$B" 1 160
section "--- domain.pml: variants (each must PASS) -------------------------------"
check variant.count_before_publish  PASS   $D "-DVARIANT_COUNT_BEFORE_PUBLISH"     "$SAFE" "$B" 7 520
check variant.list_per_sum          PASS   $D "-DVARIANT_LIST_PER_SUM"             "$SAFE" "$B" 8 540
check variant.list_per_check        PASS   $D "-DVARIANT_LIST_PER_CHECK"           "$SAFE" "$B" 7 500

section "--- sync.pml: real model -----------------------------------------------"
check sync.safety                   PASS   $S ""                    "$SAFE" "$B"      2 200
check sync.termination              PASS   $S ""                    "-DNP"  "$B -l"   8 290
section "--- sync.pml: mutants (each must be REJECTED) ---------------------------"
check mutant.p.join_running         ASSERT $S "-DMUTANT_JOIN_RUNNING"           "$SAFE" "$B" 1 130
check mutant.q.no_handoff_broadcast END    $S "-DMUTANT_NO_HANDOFF_BROADCAST"   "$SAFE" "$B" 1 130
check mutant.r.keep_running         END    $S "-DMUTANT_KEEP_RUNNING"           "$SAFE" "$B" 1 130

# --- one run -----------------------------------------------------------------
# Writes $d/line (the printed line), $d/ok (1 or 0) and, with --trails and
# a rejection, $d/trail.  Runs in a background subshell.
run_one() {
	local i=$1
	local name=${C_NAME[i]} expect=${C_EXPECT[i]} file=${C_FILE[i]}
	local dflags=${C_D[i]} cflags=${C_C[i]} pflags=${C_P[i]}
	local d="$WORK/$name" opt="-O0"
	if [[ ${C_EST[i]} -ge 4 ]]; then opt="-O2"; fi
	mkdir -p "$d"
	cp "$HERE/$file" "$d/$file"
	if ! (
		cd "$d"
		# shellcheck disable=SC2086
		spin -a $dflags "$file" >spin.log 2>&1
		# shellcheck disable=SC2086
		gcc $opt -w $cflags -o pan pan.c >gcc.log 2>&1
		# shellcheck disable=SC2086
		./pan $pflags >pan.out 2>&1 || true
	); then
		{
			printf "$FMT" "$name" "$expect" "ERROR" "?" "?" "?" "?" "spin/gcc failed:"
			cat "$d"/spin.log "$d"/gcc.log 2>/dev/null | head -20
		} >"$d/line"
		echo 0 >"$d/ok"
		return 0
	fi

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
	END)    [[ "$verdict" == REJECTED && "$reason" == invalid\ end\ state* ]] && ok=1 ;;
	CYCLE)  [[ "$verdict" == REJECTED && "$reason" == acceptance\ cycle* ]] && ok=1 ;;
	esac
	if [[ $ok -eq 0 ]]; then detail="UNEXPECTED: $detail"; fi
	# shellcheck disable=SC2059
	printf "$FMT" "$name" "$expect" "$verdict" "${states:-?}" "${trans:-?}" \
		"${mem:-?}" "${secs:-?}" "$detail" >"$d/line"
	echo "$ok" >"$d/ok"

	if [[ $TRAILS -eq 1 && "$verdict" == REJECTED ]]; then
		print_trail "$d" "$file" "$dflags" "$cflags" "$expect" >"$d/trail" 2>&1 || true
	fi
	return 0
}

# Re-run a rejected check for a short counterexample and print it compactly:
# shortest (pan -i, compiled with -DREACH) for assertion violations and
# invalid end states, a depth-bounded search for cycles.  Only steps that
# touch shared state are kept; for an invalid end state, the final location
# of every process follows.
print_trail() {
	local d=$1 file=$2 dflags=$3 cflags=$4 expect=$5 legend keep
	case "$file:$dflags" in
	epoch.pml:*)     legend="P1,P2 = readers; P3 = Unlisten(L0); P4 = Unlisten(L1)" ;;
	domain.pml:*ISOLATED*)
		legend="P1 = reader; P2 = blocker (in A = L0); P3 = Unlisten(A); P4 = Unlisten(B)" ;;
	domain.pml:*)    legend="P1,P2 = readers; P3 = Unlisten(L0); P4 = Unlisten(L1)" ;;
	sync.pml:*)      legend="P1,P2,P3 = callers 0,1,2" ;;
	esac
	(
		cd "$d"
		rm -f "$file.trail"
		if [[ "$expect" == CYCLE ]]; then
			./pan -m100 -a -f >trail.out 2>&1 || true
		else
			# shellcheck disable=SC2086
			gcc -O0 -w -DREACH $cflags -o pan.reach pan.c >/dev/null 2>&1
			./pan.reach -m1000 -i >trail.out 2>&1 || true
		fi
		echo "    --- counterexample ($legend) ---"
		# shellcheck disable=SC2086
		spin -t -p $dflags "$file" >trail.txt 2>&1 || true
		if [[ "$file" == epoch.pml ]]; then
			# keep shared-memory steps; drop control flow, local resets, init
			grep -E '^ *[0-9]+:	proc  [0-9]+ .*	\[|START OF CYCLE|Error: assertion' trail.txt |
				sed -E 's/^ *([0-9]+):\tproc  ([0-9]+) \([^)]*\) epoch.pml:([0-9]+) \(state [0-9]+\)\t/\1 P\2 line \3: /' |
				awk '/^[0-9]+ P[0-9]+ line [0-9]+: \[exit\[/ { xs = $1 }
				     /\[(s|i) = 0\]$/ && $1 == xs { next }   # resets after Exit
				     { print "    " $0 }' |
				grep -vE 'P0 line|\[\(1\)\]|\[else\]|\[\.\(goto\)\]|\[IF\]|\[(c|l|sx|se|ok|c0|c1) = 0\]|\[\(ok\)\]|\[\(\(n<|\[n = \(n\+1\)\]|\[\(\(l<|\[mine = 1\]|\[\(mine\)\]' || true
		else
			# keep the steps that touch shared state (and a few telling
			# local ones), each followed by {the variables it changed}
			if [[ "$file" == domain.pml ]]; then
				keep='(idx|waiting|wake|pub|slot|stale|enter|exit|lock|listening|inside|returned)\[|\[q = [0-9]\]|\[\(ok\)\]|\[\(\(n<'
			else
				keep='running|waiters|need\[|inwait\[|closed\[|served\[|gp_active|\[cx = 1\]|\[act = [1-4]\]'
			fi
			# shellcheck disable=SC2086
			spin -t -p -g -l $dflags "$file" 2>&1 |
				awk -v keep="$keep" -v file="$file" '
				function flush() {
					if (cur != "" && cur ~ keep && pid != 0)
						print "    " no " P" pid " line " ln ": " cur (chg != "" ? "  {" chg " }" : "")
					cur = ""; chg = ""
				}
				/^ *[0-9]+:\tproc  [0-9]+ .*\t\[/ {
					flush()
					no = $1; sub(/:$/, "", no); pid = $3
					ln = $0; sub(/.*\.pml:/, "", ln); sub(/ .*/, "", ln)
					cur = $0; sub(/^[^\t]*\t[^\t]*\t/, "", cur)
					next
				}
				/^\t\t[^ ]+ = -?[0-9]+$/ {
					v = $0; sub(/^\t\t/, "", v); sub(/^[A-Za-z]+\([0-9]+\):/, "", v)
					split(v, kv, " = ")
					key = kv[1]; if ($0 ~ /\([0-9]+\):/) { key = pid ":" kv[1] }
					if ((key in last) ? last[key] != kv[2] : kv[2] != 0) { chg = chg " " kv[1] "=" kv[2] }
					last[key] = kv[2]
					next
				}
				/Error: assertion|START OF CYCLE/ { flush(); print "    " $0; next }
				/trail ends/ { flush(); exit }
				' |
				sed -E 's/\(\(\(\(([a-z0-9]+)\*\([0-9]+\+1\)\)\+([a-z0-9]+)\)\*2\)\+(\(1-cur\)|[a-z0-9]+)\)/\1,\2,\3/g' || true
			if [[ "$expect" == END ]]; then
				echo "    (end state: where each process is stuck)"
				sed -n '/trail ends/,$p' trail.txt | grep -E '^ *[0-9]+:	proc  [1-9]' |
					sed -E "s/^ *[0-9]+:\tproc  ([0-9]+) \([^)]*\) $file:([0-9]+).*/    P\1 at line \2/" || true
			fi
		fi
	)
}

# --- schedule: longest first, at most JOBS at once, within MEMCAP ------------
ORDER=$(for ((i = 0; i < N; i++)); do
	[[ ${C_EXPECT[i]} == SECTION ]] || echo "${C_EST[i]} $i"
done | sort -k1,1nr -k2,2n | awk '{print $2}')
NCHECKS=$(echo "$ORDER" | wc -l)
echo "running $NCHECKS checks, $JOBS at a time (memory cap ${MEMCAP} MB) ..."

used=0
reap() {
	local p
	for p in "${!RUNMEM[@]}"; do
		if ! kill -0 "$p" 2>/dev/null; then
			used=$((used - RUNMEM[$p]))
			unset "RUNMEM[$p]"
		fi
	done
}
for i in $ORDER; do
	while :; do
		reap
		if [[ ${#RUNMEM[@]} -eq 0 ]]; then break; fi
		if [[ ${#RUNMEM[@]} -lt $JOBS && $((used + C_MEM[i])) -le $MEMCAP ]]; then break; fi
		wait -n 2>/dev/null || sleep 0.2
	done
	run_one "$i" &
	RUNMEM[$!]=${C_MEM[i]}
	used=$((used + C_MEM[i]))
done
wait
RUNMEM=()

# --- report, in the order above ----------------------------------------------
FAILURES=0
# shellcheck disable=SC2059
printf "$FMT" "run" "expect" "verdict" "states" "transitions" "mem(MB)" "time(s)" "detail"
for ((i = 0; i < N; i++)); do
	if [[ ${C_EXPECT[i]} == SECTION ]]; then echo "${C_NAME[i]}"; continue; fi
	d="$WORK/${C_NAME[i]}"
	cat "$d/line" 2>/dev/null || printf "$FMT" "${C_NAME[i]}" "${C_EXPECT[i]}" "ERROR" "?" "?" "?" "?" "no result"
	if [[ "$(cat "$d/ok" 2>/dev/null)" != 1 ]]; then FAILURES=$((FAILURES + 1)); fi
	if [[ -f "$d/trail" ]]; then cat "$d/trail"; fi
done

echo "---------------------------------------------------------------------------"
# CPU time of every spin, gcc and pan run (the children's line of `times`)
times >"$WORK/times"
CPU=$(tail -1 "$WORK/times" | awk '{
	n = split($1 " " $2, t, " "); s = 0
	for (k = 1; k <= n; k++) { split(t[k], ms, /[ms]/); s += ms[1] * 60 + ms[2] }
	printf "%.0f", s }')
echo "total wall time: $((SECONDS - T0)) s ($JOBS runs at a time; CPU time ${CPU} s)"
if [[ $FAILURES -ne 0 ]]; then
	echo "FAIL: $FAILURES run(s) did not give the expected verdict"
	exit 1
fi
echo "OK: every model passes its checks; every mutant rejected; every variant passes"
