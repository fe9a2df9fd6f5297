package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// printTable writes one row per result, then what the columns mean.
func printTable(w io.Writer, rs []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "strategy\tuse-after-free\tdispatch/s\tunload p50\tunload p99\tunloads\tverdict")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\n",
			r.name, r.useAfterFree, rate(r.throughput()),
			round(r.latency(0.5)), round(r.latency(0.99)), len(r.unloads), verdict(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\ndispatch/s: file operations authorized per second while a driver was loaded.\n"+
		"unload: from the start of unlisten until the driver may be freed (and is).")
	return err
}

func verdict(r result) string {
	k, _ := lookup(r.name)
	switch {
	case r.useAfterFree > 0 && k.guaranteed:
		return fmt.Sprintf("BUG: %d use-after-free in a strategy that waits", r.useAfterFree)
	case r.useAfterFree > 0:
		return fmt.Sprintf("UNSAFE: %d use-after-free", r.useAfterFree)
	default:
		return k.safe
	}
}

func rate(perSec float64) string {
	switch {
	case perSec >= 1e6:
		return fmt.Sprintf("%.2fM", perSec/1e6)
	case perSec >= 1e3:
		return fmt.Sprintf("%.1fk", perSec/1e3)
	default:
		return fmt.Sprintf("%.0f", perSec)
	}
}

// round keeps three significant digits or so.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	default:
		return d
	}
}
