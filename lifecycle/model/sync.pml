/*
 * sync.pml -- Promela model of rcu.Domain.Synchronize: grace-period sharing
 * between concurrent callers and hand-off of the runner role, with
 * contexts that may be cancelled at any time.  See README.md.
 *
 * The grace period itself is abstracted to two steps, "begins" and "ends"
 * (successfully, or with an error if the runner's context is cancelled):
 * what happens in between (the scans, the flip, parking) is the subject of
 * epoch.pml and domain.pml, which assume what this model checks: grace
 * periods run one at a time, and a Synchronize that returns nil was served
 * by a grace period that began after it was called.
 *
 * Every critical section of mu is one atomic step: none of them blocks,
 * and the only shared state touched outside mu is the done channel, whose
 * close is a one-way event (a waiter that sees it closed and then takes mu
 * is the same as one that sees it at the moment it takes mu).
 *
 * Counters are kept relative, which is exact and keeps the state space
 * from growing with the number of grace periods:
 *   need[c]   = target - completed for caller c (the code only ever
 *               compares completed with target, and completed only grows,
 *               by one);
 *   closed[c] = "the done channel caller c took is closed" (in the Go
 *               code the first waiter makes done, the broadcast closes
 *               and drops it, and a later waiter makes a new one);
 *   ghosts fresh[c] ("the grace period running began after c's call")
 *               and served[c] ("a grace period that began after c's call
 *               has completed") replace numbering the grace periods.
 *
 * Builds: bounded (NC callers, CALLS calls each); pan's invalid-end-state
 * check is on.  With -DNP and pan -l, the same file is checked for cycles:
 * there are none, so together with the safety run every call returns.
 * Mutants (each must be rejected):
 *   -DMUTANT_JOIN_RUNNING           target = completed+1 even when a grace
 *                                   period is running
 *   -DMUTANT_NO_HANDOFF_BROADCAST   a cancelled runner gives up the role
 *                                   without waking the waiters
 *   -DMUTANT_KEEP_RUNNING           a cancelled runner returns without
 *                                   clearing running
 */

#ifndef NC
#define NC 3            /* concurrent callers                              */
#endif
#ifndef CALLS
#define CALLS 2         /* Synchronize calls per caller, one after another */
#endif

/* writer state, protected by mu */
bool running;           /* a goroutine is running grace periods            */
byte waiters;           /* callers blocked in the select, not running       */
byte need[NC];          /* target - completed, per caller in a call         */
bool inwait[NC];        /* caller c is counted in waiters                   */
bool closed[NC];        /* the done channel caller c took has been closed   */

/* ghosts */
bool incall[NC];        /* caller c is inside Synchronize                   */
bool fresh[NC];         /* the grace period running began after c's call    */
bool served[NC];        /* a grace period that began after c's call has
                           completed                                        */
bool gp_active;         /* a grace period is between begin and end          */

/* broadcast(): if waiters > 0 { close(done); done = new channel } */
inline broadcast()
{
	if
	:: waiters > 0 ->
		for (i : 0 .. NC - 1) {
			if :: inwait[i] -> closed[i] = 1 :: else fi
		}
		i = 0
	:: else
	fi
}

/* completed++ (under mu): every caller's target gets one closer */
inline complete_one()
{
	for (i : 0 .. NC - 1) {
		if :: need[i] > 0 -> need[i]-- :: else fi
	}
	i = 0
}

#define RET_NIL 1
#define RET_ERR 2
#define RUN     3
#define WAIT    4

/* The loop head of Synchronize, under mu:
 *   for completed < target { if !running { run } else { wait } }
 * sets act: RET_NIL, RUN (running set, about to run grace periods) or
 * WAIT (counted in waiters, holding the current done channel). */
inline loop_head()
{
	if
	:: need[me] == 0 ->
		/* return nil: served by a grace period begun after the call */
		assert(served[me]);
		act = RET_NIL
	:: else ->
		if
		:: !running -> running = 1; act = RUN
		:: else -> waiters++; inwait[me] = 1; closed[me] = 0; act = WAIT
		fi
	fi
}

proctype Caller(byte me)
{
	byte k, act, i;
	bool cx, fin;

	do
	:: k < CALLS -> k++;
	   /* the call; the context is cancellable (cx: it may be cancelled at
	    * any moment from now on, or never) or not */
	   atomic {
		incall[me] = 1; served[me] = 0; fresh[me] = 0;
		if :: cx = 0 :: cx = 1 fi
	   }
	   atomic {             /* mu.Lock(); target := completed + 1 */
		need[me] = 1;
#ifndef MUTANT_JOIN_RUNNING
		/* a running grace period may have begun before the call */
		if :: running -> need[me] = 2 :: else fi;
#endif
		loop_head()
	   }                    /* mu.Unlock() */
	   do
	   :: act == RUN ->
		/* runGracePeriods(ctx, target) */
		do
		:: atomic {     /* gracePeriod begins */
			assert(!gp_active);
			gp_active = 1;
			for (i : 0 .. NC - 1) { fresh[i] = incall[i] }
			i = 0
		   }
		   if
		   :: atomic {  /* gracePeriod returns nil */
			gp_active = 0;
			for (i : 0 .. NC - 1) {
				if :: fresh[i] -> served[i] = 1; fresh[i] = 0 :: else fi
			}
			i = 0
		      }
		      atomic {  /* mu: completed++; maybe hand on; wake */
			complete_one();
			fin = (need[me] == 0);
			if :: fin -> running = 0 :: else fi;
			broadcast()
		      }
		      if
		      :: fin -> fin = 0; break      /* returns nil */
		      :: else
		      fi
		   :: cx ->     /* gracePeriod returns ctx.Err() */
			atomic {
				gp_active = 0;
				for (i : 0 .. NC - 1) { fresh[i] = 0 }
				i = 0; act = RET_ERR
			}
			break
		   fi
		od;
		if
		:: act == RET_ERR ->
			atomic {        /* mu: give up the runner role */
#ifndef MUTANT_KEEP_RUNNING
				running = 0;
#endif
#ifndef MUTANT_NO_HANDOFF_BROADCAST
				broadcast()
#endif
			}
		:: else ->
			atomic { loop_head() }      /* mu; continue */
		fi
	   :: act == WAIT ->
		if
		:: atomic { closed[me] ->       /* <-done, then mu */
			waiters--; inwait[me] = 0; closed[me] = 0;
			loop_head()
		   }
		:: atomic { cx ->               /* <-ctx.Done(), then mu */
			waiters--; inwait[me] = 0; closed[me] = 0;
			act = RET_ERR
		   }
		fi
	   :: act == RET_NIL || act == RET_ERR ->
		atomic {        /* the call returns */
			incall[me] = 0; served[me] = 0; fresh[me] = 0;
			need[me] = 0; act = 0; cx = 0
		}
		break
	   od
	:: else -> break
	od
}

init
{
	byte n;
	atomic {
		do
		:: n < NC -> run Caller(n); n++
		:: else -> break
		od
	}
}
