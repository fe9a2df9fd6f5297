/*
 * epoch.pml -- Promela model of the core of rcu.Domain's grace period.
 *
 * One file, many builds: the real algorithm is the default; each mutant is
 * the same file compiled with a -D flag (spin -a -DMUTANT_... epoch.pml),
 * so model and mutants cannot drift apart.  See README.md in this folder.
 *
 * Builds:
 *   (default)     bounded readers (ITERS read-side sections each), exact
 *                 counters that never wrap.  Safety (assertions, deadlock).
 *   -DUNBOUNDED   readers loop forever; counters wrap modulo CMOD (see
 *                 below).  Safety for unboundedly many read-side sections.
 *   -DLIVENESS    implies UNBOUNDED; adds the LTL claim gp_ends ("every
 *                 Unlisten, hence every grace period, returns"), checked
 *                 with weak fairness (pan -a -f).  Listener calls are
 *                 abstracted away in this build (they touch neither idx
 *                 nor the counters, so they are stuttering steps for the
 *                 claim; see README).
 *   -DQUICK       the bounded build, with the quick grace period
 *                 (rcu.Domain.Quiescent) that Synchronize and every Stop
 *                 take first: one pass over both indexes' counters, every
 *                 exit before any enter, and no grace period at all if
 *                 they balance.  A build of its own because it multiplies
 *                 the state space by about five.  Bounded only: while
 *                 readers cycle through sections between its loads, the
 *                 difference of its sums has no bound, so counters that
 *                 wrap (UNBOUNDED) would alias; Go's do not wrap.
 *
 * Mutants:
 *   -DMUTANT_ENTERS_FIRST          drained() sums enter before exit
 *   -DMUTANT_QUICK_ENTERS_FIRST    (with QUICK) the quick grace
 *                                  period sums enter before exit
 *   -DMUTANT_SKIP_FIRST_WAIT       Synchronize skips the wait on the
 *                                  inactive index (first waitDrained)
 *   -DMUTANT_SINGLE_INDEX          one index, no flip
 *   -DMUTANT_SNAPSHOT_BEFORE_ENTER Dispatch loads the listener states
 *                                  before Enter's add
 *   -DMUTANT_EXIT_RELOADS_IDX      Exit re-reads idx instead of using the
 *                                  index returned by Enter
 *   -DMUTANT_JOIN_RUNNING_GP       an Unlisten that finds a grace period
 *                                  running returns when that one ends
 *                                  (instead of waiting for a full new one)
 * Variants (alternative designs; the checks say which are still correct):
 *   -DVARIANT_PER_SHARD_SCAN       drained() reads exit0, enter0, exit1,
 *                                  enter1 (exit before enter per shard only)
 *   -DVARIANT_EXIT_ANY_SHARD       Exit may increment the other shard
 *                                  (same index)
 *   -DVARIANT_SNAPSHOT_AFTER_ENTER Dispatch loads the whole snapshot once,
 *                                  right after Enter, then calls
 */

#define NR 2            /* readers (Dispatch goroutines)            */
#define NS 2            /* shards                                     */
#define NL 2            /* listeners; updater u removes listener u    */

#ifndef ITERS
#define ITERS 2         /* read-side sections per reader (safety build) */
#endif

#ifdef LIVENESS
#define UNBOUNDED
#endif

#ifdef UNBOUNDED
/* Readers never stop, so counters must wrap to keep the state space
 * finite.  Go's counters are 64-bit and never wrap in practice; wrapping
 * here is harmless as long as CMOD exceeds the largest possible value of
 * (sum enter read) - (sum exit read) in one scan, which is <= NR for the
 * real algorithm (see README). */
#ifndef CMOD
#define CMOD 3
#endif
#define WRAP(x) ((x) % CMOD)
#else
#define WRAP(x) (x)     /* bounded runs: counters stay <= NR*ITERS      */
#endif

/* counter for shard s, index k */
#define C(s, k) ((s) * 2 + (k))

byte idx;               /* current index, 0 or 1                       */
byte enter[NS * 2];     /* enter[C(s,k)], monotonic (mod CMOD if UNBOUNDED) */
byte exit[NS * 2];      /* exit [C(s,k)]                               */

bool listening[NL];     /* listener state word: 1 = active, 0 = Stopping */
bool lock;              /* grace-period mutex                          */
byte gps;               /* grace periods completed                      */
byte unlistened;        /* Unlisten calls that have returned            */

/* ghosts */
byte inside[NL];        /* readers that decided to call listener l and have
                           not left its callback yet                    */
bool returned[NL];      /* Unlisten(l) has returned                     */

/* ------------------------------------------------------------------ */
/* drained(k): every shard's exit count first, then every shard's enter
 * count, one atomic load per step; drained iff the sums are equal.     */
inline drained(k, ok)
{
#if defined(MUTANT_ENTERS_FIRST)
	se = enter[C(0, k)];
	se = WRAP(se + enter[C(1, k)]);
	sx = exit[C(0, k)];
	d_step { sx = WRAP(sx + exit[C(1, k)]); ok = (sx == se); sx = 0; se = 0 }
#elif defined(VARIANT_PER_SHARD_SCAN)
	/* exit before enter per shard only: exit0, enter0, exit1, enter1 */
	sx = exit[C(0, k)];
	se = enter[C(0, k)];
	sx = WRAP(sx + exit[C(1, k)]);
	d_step { se = WRAP(se + enter[C(1, k)]); ok = (sx == se); sx = 0; se = 0 }
#else
	sx = exit[C(0, k)];
	sx = WRAP(sx + exit[C(1, k)]);
	se = enter[C(0, k)];
	d_step { se = WRAP(se + enter[C(1, k)]); ok = (sx == se); sx = 0; se = 0 }
#endif
}

/* quiescent(ok): the quick grace period.  Every exit of both indexes,
 * then every enter, one atomic load per step; no reader inside iff the
 * sums are equal. */
inline quiescent(ok)
{
#ifdef MUTANT_QUICK_ENTERS_FIRST
	se = enter[C(0, 0)];
	se = se + enter[C(0, 1)];
	se = se + enter[C(1, 0)];
	se = se + enter[C(1, 1)];
	sx = exit[C(0, 0)];
	sx = sx + exit[C(0, 1)];
	sx = sx + exit[C(1, 0)];
	d_step { sx = sx + exit[C(1, 1)]; ok = (sx == se); sx = 0; se = 0 }
#else
	sx = exit[C(0, 0)];
	sx = sx + exit[C(0, 1)];
	sx = sx + exit[C(1, 0)];
	sx = sx + exit[C(1, 1)];
	se = enter[C(0, 0)];
	se = se + enter[C(0, 1)];
	se = se + enter[C(1, 0)];
	d_step { se = se + enter[C(1, 1)]; ok = (sx == se); sx = 0; se = 0 }
#endif
}

inline wait_drained(k)
{
	do
	:: drained(k, ok);
	   if
	   :: ok -> ok = 0; break
	   :: else -> skip      /* retry (Go: back off, then rescan) */
	   fi
	od
}

/* gracePeriod: waitDrained(cur^1), flip, waitDrained(cur); `lock` held. */
inline synchronize()
{
#ifdef MUTANT_SINGLE_INDEX
	wait_drained(0);
#else
#ifndef MUTANT_SKIP_FIRST_WAIT
	wait_drained(1 - cur);  /* inactive index drained                */
#endif
	idx = 1 - cur;          /* flip (atomic store)                   */
	wait_drained(cur);      /* old current index drained             */
#endif
}

/* ------------------------------------------------------------------ */
proctype Updater(byte l)
{
	byte cur, sx, se, seen;
	bool ok, mine;

	listening[l] = 0;       /* Unlisten step 1: state := Stopping    */

#ifdef QUICK
	/* The quick grace period: with no reader inside, nothing to wait for. */
	quiescent(ok);
	if
	:: ok -> ok = 0; goto unlistened_l
	:: else -> skip
	fi;
#endif

#ifdef MUTANT_JOIN_RUNNING_GP
	atomic {
		if
		:: !lock -> lock = 1; mine = 1; cur = idx
		:: else  -> seen = gps      /* a GP is running: piggyback  */
		fi
	}
	if
	:: mine ->
		synchronize();
		atomic { gps++; lock = 0 }
	:: else ->
		gps != seen             /* "served" by the running one (wrong) */
	fi;
#else
	/* Acquire the GP mutex.  Only the holder ever stores idx, so
	 * reading idx in the same step as the acquire is equivalent to
	 * reading it in a later step under the mutex. */
	atomic { !lock -> lock = 1; cur = idx }
	synchronize();
	atomic { gps++; lock = 0 };
#endif

	/* Unlisten(l) returns: nobody may be inside l, nobody may call it later */
#ifdef QUICK
unlistened_l:
#endif
	atomic {
		assert(inside[l] == 0);
		returned[l] = 1;
		unlistened++
	}
}

/* ------------------------------------------------------------------ */
/* Snapshot variants: every listener's state is loaded up front (one load
 * each, separate steps; one atomic pointer load is a special case), and
 * the decision to call is made there (ghost inside++), the calls later. */
inline load_snapshot()
{
	atomic { c0 = listening[0]; if :: c0 -> inside[0]++ :: else fi }
	atomic { c1 = listening[1]; if :: c1 -> inside[1]++ :: else fi }
}

proctype Reader()
{
	byte i, s, l;
	bool c;
#ifndef UNBOUNDED
	byte n;
#endif
#if defined(MUTANT_SNAPSHOT_BEFORE_ENTER) || defined(VARIANT_SNAPSHOT_AFTER_ENTER)
	bool c0, c1;
#endif

	do
	::
#ifndef UNBOUNDED
	   if
	   :: n < ITERS -> n++
	   :: else -> break
	   fi;
#endif

#if defined(MUTANT_SNAPSHOT_BEFORE_ENTER) && !defined(LIVENESS)
	   /* wrong: listener states loaded before Enter */
	   load_snapshot();
#endif

	   /* ---- Enter ---- */
#ifdef MUTANT_SINGLE_INDEX
	   atomic { if :: s = 0 :: s = 1 fi; i = 0 }    /* no idx: always 0 */
#else
	   atomic { if :: s = 0 :: s = 1 fi; i = idx }  /* 1+2: load idx, pick shard */
#endif
	   enter[C(s, i)] = WRAP(enter[C(s, i)] + 1);   /* 3: atomic add        */
#if defined(VARIANT_SNAPSHOT_AFTER_ENTER) && !defined(LIVENESS)
	   load_snapshot();     /* whole snapshot loaded once, after Enter */
#endif

	   /* ---- Dispatch: for each listener in the snapshot ---- */
#if defined(LIVENESS)
	   /* abstracted: loads of listening[] and the ghost updates touch
	    * neither idx nor the counters (stuttering for gp_ends) */
#elif defined(MUTANT_SNAPSHOT_BEFORE_ENTER) || defined(VARIANT_SNAPSHOT_AFTER_ENTER)
	   /* call the listeners decided at snapshot time */
	   if :: c0 -> assert(!returned[0]); inside[0]-- :: else fi;
	   if :: c1 -> assert(!returned[1]); inside[1]-- :: else fi;
	   c0 = 0; c1 = 0;
#else
	   l = 0;
	   do
	   :: l < NL ->
		/* load the listener's state word; if active, the call begins */
		atomic {
			c = listening[l];
			if
			:: c -> assert(!returned[l]); inside[l]++
			:: else
			fi
		}
		/* ... callback runs: other processes interleave here ... */
		d_step {
			if :: c -> inside[l]-- :: else fi;
			c = 0; l++
		}
	   :: else -> l = 0; break
	   od;
#endif

	   /* ---- Exit: same shard and index as Enter ---- */
#ifdef MUTANT_EXIT_RELOADS_IDX
	   i = idx;
#endif
#ifdef VARIANT_EXIT_ANY_SHARD
	   if :: skip :: s = 1 - s fi;  /* Exit may land on another shard */
#endif
	   atomic { exit[C(s, i)] = WRAP(exit[C(s, i)] + 1); s = 0; i = 0 }
	od
}

init
{
	atomic {
		listening[0] = 1;
		listening[1] = 1;
		run Reader();
		run Reader();
		run Updater(0);
		run Updater(1)
	}
}

#ifdef LIVENESS
/* every Unlisten (hence every grace period) eventually returns, while
 * readers keep entering and exiting forever; checked with weak fairness */
ltl gp_ends { <> (unlistened == NL) }
#endif
