// Command kauth runs the kauth teardown race: many threads authorize file
// operations through a scope while a driver is loaded and unloaded under
// them, and the driver's memory is poisoned the moment its unload returns.
// It runs the same workload under each teardown strategy and prints a
// table of use-after-free counts, throughput and unload latency.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	cfg := config{progress: os.Stderr, live: isTerminal(os.Stderr)}
	flag.DurationVar(&cfg.duration, "duration", 1400*time.Millisecond, "how long each strategy runs")
	flag.IntVar(&cfg.rounds, "rounds", 7, "the strategies take turns in this many rounds")
	flag.IntVar(&cfg.goroutines, "goroutines", 8*runtime.GOMAXPROCS(0), "threads doing file operations")
	flag.DurationVar(&cfg.uptime, "uptime", time.Millisecond, "how long each driver stays loaded between unloads")
	flag.DurationVar(&cfg.opts.sleep, "sleep", time.Millisecond, "how long the sleep strategy sleeps after unlisten")
	list := flag.String("strategies", "all", "comma-separated strategies to run: all or "+names())
	flag.Parse()

	sel, err := selectKinds(*list)
	if err != nil || cfg.goroutines < 1 || cfg.duration <= 0 || cfg.rounds < 1 {
		if err == nil {
			err = fmt.Errorf("-goroutines, -duration and -rounds must be positive")
		}
		fmt.Fprintln(os.Stderr, "kauth:", err)
		os.Exit(2)
	}

	fmt.Printf("%d threads on %d CPUs; each strategy runs %v in %d turns; a driver is unloaded after %v loaded\n\n",
		cfg.goroutines, runtime.GOMAXPROCS(0), cfg.duration, cfg.rounds, cfg.uptime)
	// The legend goes out before the run, to be read while it goes.
	err = printLegend(os.Stdout, sel)
	if err == nil {
		fmt.Println()
		err = printTable(os.Stdout, runAll(cfg, sel))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kauth:", err)
		os.Exit(1)
	}
}

// isTerminal reports whether f is a terminal, where a status line can be
// rewritten in place; anywhere else it would pile up as garbage.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
