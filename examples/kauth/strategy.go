package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/quiesce/quiesce/listener"
)

// A strategy is one way of running a kauth-like scope: it owns the
// dispatch path and the unlisten sequence. The runner frees the driver the
// moment unlisten returns, so unlisten returning is the strategy's claim
// that no callback can touch the driver any more.
//
// dispatch is called from every worker goroutine at once; listen and
// unlisten are called by the one unloading goroutine, alternately, starting
// with listen.
type strategy interface {
	// listen registers fn; dispatch may call it from then on.
	listen(fn listener.Func[fileOp])
	// dispatch authorizes op with the listener, if there is one.
	dispatch(ctx context.Context, op fileOp) listener.Result
	// unlisten removes the listener and returns when the strategy
	// considers the driver safe to free.
	unlisten(ctx context.Context) error
}

// A kind describes a strategy for the command line, the legend and the
// table.
type kind struct {
	name string
	// what says in a few plain words what the strategy does, for the
	// legend printed before the run.
	what string
	// quiesce marks the strategies built on this module, so the legend
	// can tell them from the folk fixes they are measured against.
	quiesce bool
	// safe is the verdict when a run saw no use-after-free: what that
	// result is worth for this strategy.
	safe string
	// guaranteed: a use-after-free is impossible by construction, so
	// seeing one is a bug, not bad luck.
	guaranteed bool
	make       func(opts) strategy
}

// opts are the strategies' parameters.
type opts struct {
	sleep time.Duration // how long the sleep strategy waits after unlisten
}

// kinds lists the strategies in the order the table shows them: the folk
// fixes first, then quiesce's two.
var kinds = []kind{
	{name: "kauth", what: "unlisten unhooks the callback and returns at once, as kauth does",
		safe: "no use-after-free in this run (nothing waits: unsafe)",
		make: func(opts) strategy { return new(rawScope) }},
	{name: "sleep", what: "kauth, then a sleep (-sleep) after unlisten, hoping callers have left",
		safe: "safe in this run (guess; not a guarantee)",
		make: func(o opts) strategy { return &sleepScope{wait: o.sleep} }},
	{name: "flag", what: "kauth, plus an enabled flag the callback checks and unlisten clears",
		safe: "no use-after-free in this run (check-then-use race)",
		make: func(opts) strategy { return new(flagScope) }},
	{name: "mutex", what: "one mutex around every callback; unlisten takes it too",
		safe: "safe, serializes all dispatch", guaranteed: true,
		make: func(opts) strategy { return new(mutexScope) }},
	{name: "rwmutex", what: "a read lock around every callback; unlisten takes the write lock",
		safe: "safe, writes a shared cache line per dispatch", guaranteed: true,
		make: func(opts) strategy { return new(rwmutexScope) }},
	{name: "guard", what: "lifecycle.Guard around the callback, dispatcher unchanged", quiesce: true,
		safe: "safe", guaranteed: true,
		make: func(opts) strategy { return new(guardScope) }},
	{name: "scope", what: "scope.Scope: Dispatch holds an epoch reference, Unlisten waits for a grace period",
		quiesce: true, safe: "safe", guaranteed: true,
		make: func(opts) strategy { return newQuiesceScope() }},
}

// selectKinds returns the kinds named in list, a comma-separated list of
// names, or all of them for "all".
func selectKinds(list string) ([]kind, error) {
	if list == "all" {
		return kinds, nil
	}
	var sel []kind
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		k, ok := lookup(name)
		if !ok {
			return nil, fmt.Errorf("unknown strategy %q (have %s)", name, names())
		}
		sel = append(sel, k)
	}
	return sel, nil
}

func lookup(name string) (kind, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, true
		}
	}
	return kind{}, false
}

func names() string {
	var ns []string
	for _, k := range kinds {
		ns = append(ns, k.name)
	}
	return strings.Join(ns, ",")
}
