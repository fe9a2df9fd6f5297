/*
 * domain.pml -- Promela model of quiesce's rcu.Domain read side and grace
 * period, at the level of its atomics: the uncontended base counters,
 * lazily created and published per-processor shards, drained() loading the
 * shard list before any counter, and the waiting/wake handshake between
 * Exit and a parked grace-period runner (in the Go code, waiting and wake
 * are one per-sleep pointer, rcu.Domain's sleep: its index bit and its
 * channel).  With -DISOLATED: one Domain per
 * listener (isolated listeners).  See README.md in this folder.
 *
 * epoch.pml checks the core of the algorithm (two indexes, the flip, the
 * order of the scan) with fixed shards; this file checks what the Domain
 * adds on top.  Who runs grace periods (Synchronize's sharing and runner
 * hand-off) is abstracted here as in epoch.pml: every Unlisten runs one
 * complete grace period of its own, one at a time per domain (a mutex);
 * sync.pml checks that the real protocol gives exactly that guarantee.
 *
 * Builds (all bounded: each reader does ITERS read-side sections; counters
 * are exact and never wrap; pan's invalid-end-state check is on, so a
 * grace period parked forever is an error):
 *   (default)    one Domain, NR readers, NL listeners, one Unlisten each.
 *   -DCANCEL     the shared build, where each Unlisten's context may be
 *                cancelled while its grace period is parked: that grace
 *                period is abandoned (waiting cleared, runner role given
 *                up) and the next one must still be correct.
 *   -DISOLATED   one Domain per listener; Dispatch enters and exits each
 *                listener's domain around that listener's call, Unlisten(l)
 *                synchronizes dom[l] only.  A third reader, the blocker, is
 *                inside listener A's callback and does not return from it
 *                until Unlisten(B) has returned: if Unlisten(B) waited for
 *                it, nothing could move (invalid end state).
 * Mutants (each must be rejected):
 *   -DMUTANT_SLOT_BEFORE_LIST         the creating reader makes its shard
 *                                     findable by other readers (per-
 *                                     processor slot) before pushing it on
 *                                     the list; they may count on it first
 *   -DMUTANT_LIST_STALE               drained() uses the list as the
 *                                     domain's first grace period loaded it
 *   -DMUTANT_SKIP_BASE_WHEN_SHARDED   drained() stops summing the base
 *                                     counters once the list is non-empty
 *   -DMUTANT_EXIT_LOADS_WAITING_FIRST Exit loads the waiting bit before
 *                                     adding its exit
 *   -DMUTANT_ANNOUNCE_AFTER_CHECK     waitDrained stores the waiting bit
 *                                     after its check, before parking
 *   -DMUTANT_ISO_STATE_BEFORE_ENTER   (ISOLATED) Dispatch loads listener
 *                                     l's state before Enter(dom[l])
 *   -DMUTANT_ISO_SHARED_SYNC          (ISOLATED) Unlisten(l) synchronizes
 *                                     the other listener's domain
 *   -DMUTANT_ISO_ONE_DOMAIN           (ISOLATED) all listeners share one
 *                                     domain (the design without isolation)
 * Variants (alternative designs; the checks say they are still correct):
 *   -DVARIANT_COUNT_BEFORE_PUBLISH    the reader increments its new shard,
 *                                     then publishes it (inside Enter)
 *   -DVARIANT_LIST_PER_SUM            drained() loads the list again after
 *                                     the exit sum, for the enter sum
 *   -DVARIANT_LIST_PER_CHECK          the list is loaded at every
 *                                     drained() check, not once per grace
 *                                     period (what the Go code did before
 *                                     it loaded it once per grace period,
 *                                     as the default build here does)
 *   -DVARIANT_NO_SPIN                 waitDrained announces and parks at
 *                                     once (no spin check first; by hand)
 */

/* The list of shards: the Go code loads it once per grace period
 * (gracePeriod copies it into an array), and so does the default build;
 * VARIANT_LIST_PER_CHECK and VARIANT_LIST_PER_SUM load it per check. */
#if !defined(VARIANT_LIST_PER_CHECK) && !defined(VARIANT_LIST_PER_SUM) && !defined(MUTANT_LIST_STALE)
#define LIST_PER_GP
#endif

/* Default bounds (check.sh uses these): the shared build has more shards
 * to exercise the list, the isolated one more sections per reader and no
 * shards (base counters only: the list is the shared build's business). */
#ifdef ISOLATED
#ifndef NR
#define NR 1            /* readers (Dispatch goroutines), blocker excluded */
#endif
#ifndef NP
#define NP 0            /* processors, hence lazily created shards         */
#endif
#ifndef ITERS
#define ITERS 2         /* read-side sections (Dispatch calls) per reader  */
#endif
#else
#ifndef NR
#define NR 2
#endif
#ifndef NP
#define NP 2
#endif
#ifndef ITERS
#define ITERS 1
#endif
#endif
#define NQ (NP + 1)     /* counter pairs per index: 0 = base, q = shard of
                           processor q (1..NP)                             */
#define NL 2            /* listeners; Unlisten(l) stores Stopping for l    */

#ifdef ISOLATED
#define ND 2            /* domains: dom[l] for listener l                   */
#ifdef MUTANT_ISO_ONE_DOMAIN
#define DOM(l) 0        /* wrong: every listener in one shared domain       */
#else
#define DOM(l) (l)
#endif
#else
#define ND 1
#define DOM(l) 0
#endif
#define LA 0            /* ISOLATED: listener A, whose call blocks          */
#define LB 1            /* ISOLATED: listener B                             */

/* counter pair of place q (0 = base, 1..NP = shard) for index k of domain d */
#define CI(d, q, k) ((((d) * NQ) + (q)) * 2 + (k))

byte idx[ND];           /* current index, 0 or 1                          */
byte waiting[ND];       /* bit k set: the runner is parked until k drains */
bool wake[ND];          /* the wake channel, capacity 1: a pending token  */
byte pub[ND];           /* the shard list: bit q set = shard q published;
                           only grows (one atomic push per shard)         */
#ifdef MUTANT_SLOT_BEFORE_LIST
byte slot[ND];          /* per-processor slots: bit q set = readers on
                           processor q find (and count on) its shard      */
#define VISIBLE slot
#else
#define VISIBLE pub     /* a reader finds its processor's shard iff it is
                           on the list (the per-processor slot, if any, is
                           stored after the push)                          */
#endif
byte enter[ND * NQ * 2];
byte exit[ND * NQ * 2];
bool lock[ND];          /* runner role: one grace period at a time        */
#ifdef MUTANT_LIST_STALE
bool listed[ND];        /* the domain's list has been loaded once         */
byte stale[ND];         /* ... and this is what was loaded                */
#endif

bool listening[NL];     /* listener state word: 1 = active, 0 = Stopping  */

/* ghosts */
byte inside[NL];        /* readers committed to a call of l, not finished */
bool returned[NL];      /* Unlisten(l) has returned                       */

/* ------------------------------------------------------------------ */
/* Reader side.  Locals: x (index), q (counter place), pd (q is already on
 * the list or is the base), w (waiting bit seen), c (listener active).    */

/* Enter(dom d).  x := idx.Load(); then either the CAS on base[x].enter
 * succeeds (one atomic read-modify-write, the same as an add), or it fails
 * / the domain is already sharded and the reader counts on the shard of
 * the processor it runs on, publishing that shard first if it is not on
 * the list yet.  Which path is taken is left nondeterministic (any policy
 * is a special case), and so is the processor (goroutines migrate).
 * The list check is folded into the idx-load step: the list only grows and
 * publishing is idempotent, so checking it there or later is the same. */
inline enter_dom(d)
{
	atomic {
		x = idx[d];
		if
		:: q = 0
#if NP >= 1
		:: q = 1
#endif
#if NP >= 2
		:: q = 2
#endif
		fi;
		pd = (q == 0 || (VISIBLE[d] & (1 << q)))
	}
#if defined(VARIANT_COUNT_BEFORE_PUBLISH)
	enter[CI(d, q, x)]++;
	if
	:: !pd -> atomic { pub[d] = pub[d] | (1 << q); pd = 0 }
	:: else -> pd = 0
	fi
#elif defined(MUTANT_SLOT_BEFORE_LIST)
	if
	:: !pd ->
		slot[d] = slot[d] | (1 << q);   /* other readers may use it now */
		pub[d] = pub[d] | (1 << q)      /* ... but it is listed only now */
	:: else
	fi;
	atomic { enter[CI(d, q, x)]++; pd = 0 }
#else
	if
	:: !pd -> pub[d] = pub[d] | (1 << q)    /* publish: one atomic push */
	:: else
	fi;
	atomic { enter[CI(d, q, x)]++; pd = 0 }
#endif
}

/* Exit: add to the exact pair Enter counted on, then, if the runner is
 * parked on this index, a non-blocking send on wake. */
inline exit_dom(d)
{
#ifdef MUTANT_EXIT_LOADS_WAITING_FIRST
	w = ((waiting[d] & (1 << x)) != 0);
	exit[CI(d, q, x)]++;
#else
	exit[CI(d, q, x)]++;
	w = ((waiting[d] & (1 << x)) != 0);
#endif
	if
	:: w -> atomic { wake[d] = 1; w = 0; x = 0; q = 0 }  /* full: stays full */
	:: else -> x = 0; q = 0
	fi
}

/* Load listener l's state word; if active, the call begins (ghost). */
inline load_state(l)
{
	atomic {
		c = listening[l];
		if
		:: c -> assert(!returned[l]); inside[l]++
		:: else
		fi
	}
}

/* The callback has run (other processes interleave before this step). */
inline call_end(l)
{
	d_step { if :: c -> inside[l]-- :: else fi; c = 0 }
}

proctype Reader()
{
	byte x, q, l, n;
	bool pd, w, c;

	do
	:: n < ITERS -> n++;
#ifdef ISOLATED
	   /* Dispatch, isolated: for each listener, its own domain */
	   l = 0;
	   do
	   :: l < NL ->
#ifdef MUTANT_ISO_STATE_BEFORE_ENTER
		load_state(l);
		enter_dom(DOM(l));
#else
		enter_dom(DOM(l));
		load_state(l);
#endif
		call_end(l);
		exit_dom(DOM(l));
		l++
	   :: else -> l = 0; break
	   od
#else
	   /* Dispatch, shared: one Enter around all the listeners */
	   enter_dom(0);
	   l = 0;
	   do
	   :: l < NL ->
		load_state(l);
		call_end(l);
		l++
	   :: else -> l = 0; break
	   od;
	   exit_dom(0)
#endif
	:: else -> break
	od
}

#ifdef ISOLATED
/* Dispatch's call of listener A that does not return until Unlisten(B)
 * has returned: "blocked forever" as far as Unlisten(B) is concerned.  If
 * Unlisten(B) waited for this reader, both would wait forever. */
proctype Blocker()
{
	byte x, q;
	bool pd, w, c;

	enter_dom(DOM(LA));
	load_state(LA);
	if
	:: c -> returned[LB]    /* blocked in A's callback until then */
	:: else
	fi;
	call_end(LA);
	exit_dom(DOM(LA))
}
#endif

/* ------------------------------------------------------------------ */
/* Grace period (runner only).  Locals: m (list head), sx, se, ok.       */

/* drained(k): load the list head once, first; then every exit count of
 * index k (base, then each listed shard), then every enter count (base,
 * then the same shards); drained iff the sums are equal.  Shards are
 * visited in processor order; processors are symmetric in the model, so
 * this covers any fixed order. */
#ifdef MUTANT_SKIP_BASE_WHEN_SHARDED
#define BASE(arr, d, k) (m == 0 -> arr[CI(d, 0, k)] : 0)
#else
#define BASE(arr, d, k) arr[CI(d, 0, k)]
#endif
#define SHARD(arr, d, q, k) ((m & (1 << (q))) -> arr[CI(d, q, k)] : 0)

inline drained(d, k)
{
#if NP == 0
	/* base counters only (no shards: used by the ISOLATED build) */
	sx = exit[CI(d, 0, k)];
	d_step { se = enter[CI(d, 0, k)]; ok = (sx == se); sx = 0; se = 0 }
#else
#if defined(LIST_PER_GP) || defined(MUTANT_LIST_STALE)
	/* m: the list loaded once per grace period / once ever (Updater) */
#else
	m = pub[d];
#endif
	sx = BASE(exit, d, k);
#if NP >= 2
	sx = sx + SHARD(exit, d, 1, k);
#endif
#ifdef VARIANT_LIST_PER_SUM
	d_step { sx = sx + SHARD(exit, d, NP, k); m = 0 }
	m = pub[d];
#else
	sx = sx + SHARD(exit, d, NP, k);
#endif
	se = BASE(enter, d, k);
#if NP >= 2
	se = se + SHARD(enter, d, 1, k);
#endif
#if defined(LIST_PER_GP) || defined(MUTANT_LIST_STALE)
	d_step { se = se + SHARD(enter, d, NP, k); ok = (sx == se); sx = 0; se = 0 }
#else
	d_step { se = se + SHARD(enter, d, NP, k); ok = (sx == se); sx = 0; se = 0; m = 0 }
#endif
#endif
}

/* waitDrained(k): a few checks (the time-bounded spin and yield phase,
 * abstracted as one check), then announce, then check / park on wake
 * until drained, then withdraw the announcement. */
inline wait_drained(d, k)
{
#ifndef VARIANT_NO_SPIN
	drained(d, k);
#endif
	if
	:: ok -> ok = 0
	:: else ->
#ifdef MUTANT_ANNOUNCE_AFTER_CHECK
		do
		:: drained(d, k);
		   if
		   :: ok -> ok = 0; break
		   :: else ->
			waiting[d] = 1 << k;    /* announced after the check */
			atomic { wake[d] -> wake[d] = 0 }
		   fi
		od;
#else
		waiting[d] = 1 << k;    /* announce, then check (handshake) */
		do
		:: drained(d, k);
		   if
		   :: ok -> ok = 0; break
		   :: else ->
			if
			:: atomic { wake[d] -> wake[d] = 0 }    /* <-wake */
#ifdef CANCEL
			:: cx -> goto cancelled                 /* <-ctx.Done() */
#endif
			fi
		   fi
		od;
#endif
		waiting[d] = 0
	fi
}

proctype Updater(byte l)
{
	byte d, cur, m, sx, se;
	bool ok, cx;

#ifdef CANCEL
	/* Unlisten(L0)'s context may be cancelled (or not); Unlisten(L1)'s
	 * is not, so its grace period may follow an abandoned one */
	if :: l == 0 -> cx = 1 :: else fi;
#endif
	listening[l] = 0;               /* Unlisten step 1: state := Stopping */
#if defined(ISOLATED) && defined(MUTANT_ISO_SHARED_SYNC)
	d = 1 - DOM(l);                 /* wrong: the other listener's domain */
#else
	d = DOM(l);
#endif
	/* Synchronize(dom[d]): one grace period of its own, runners of the
	 * same domain one at a time; only the runner stores idx, so reading
	 * it in the acquire step equals reading it later. */
	atomic { !lock[d] -> lock[d] = 1; cur = idx[d] }
#if defined(LIST_PER_GP)
	m = pub[d];                     /* the list, once per grace period   */
#elif defined(MUTANT_LIST_STALE)
	atomic {                        /* the list as the domain's first grace
	                                   period loaded it, reused forever  */
		if :: !listed[d] -> listed[d] = 1; stale[d] = pub[d] :: else fi;
		m = stale[d]
	}
#endif
	wait_drained(d, 1 - cur);       /* inactive index drained            */
	idx[d] = 1 - cur;               /* flip                              */
	wait_drained(d, cur);           /* old index drained                 */
	atomic { lock[d] = 0; cur = 0; d = 0; m = 0 }

	/* Unlisten(l) returns: nobody inside l, no call of l may start */
	atomic {
		assert(inside[l] == 0);
		returned[l] = 1
	}
#ifdef CANCEL
	;
	goto done;
cancelled:
	/* Synchronize returns ctx.Err(): waitDrained's deferred
	 * waiting.Store(0), then the runner role is given up (sync.pml); the
	 * grace period is abandoned wherever it was (the flip done or not).
	 * Unlisten(l) returns the error: nothing is claimed about l. */
	waiting[d] = 0;
	atomic { lock[d] = 0; cur = 0; d = 0; m = 0; cx = 0 };
done:
	skip
#endif
}

init
{
	atomic {
		listening[0] = 1;
		listening[1] = 1;
		run Reader();
#if NR >= 2
		run Reader();
#endif
#ifdef ISOLATED
		run Blocker();
#endif
		run Updater(0);
		run Updater(1)
	}
}
