package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// quiesceMark tags the legend lines of quiesce's own strategies.
const quiesceMark = "[quiesce]"

// printLegend writes one line per kind in ks saying what it does, marking
// quiesce's own, so that a reader knows what the table compares while the
// run is still going.
func printLegend(w io.Writer, ks []kind) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "strategies:")
	for _, k := range ks {
		what := k.what
		if k.quiesce {
			what = quiesceMark + " " + what
		}
		fmt.Fprintf(tw, "  %s\t%s\n", k.name, what)
	}
	return tw.Flush()
}

// printTable writes one row per result, then how to read them.
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
	_, err := fmt.Fprint(w, "\n", readingGuide(rs))
	return err
}

// readingGuide says what the columns mean. A zero is the number readers
// misread most: for a strategy that does not wait for callbacks it only
// means the race was not caught this time, so the guide names those.
func readingGuide(rs []result) string {
	var b strings.Builder
	b.WriteString("use-after-free: callbacks that touched a driver after unlisten returned and the\n" +
		"  driver was freed, each counted as it happened; nothing is injected.\n")
	if lucky := unguaranteed(rs); len(lucky) > 0 {
		fmt.Fprintf(&b, "  A 0 from %s is luck, not safety: nothing rules it out.\n", orList(lucky))
	}
	b.WriteString("dispatch/s: file operations authorized per second while a driver was loaded.\n" +
		"unload p50/p99: from the start of unlisten to its return, when the driver is freed.\n" +
		"verdict: UNSAFE if a driver was used after free, BUG if by a strategy that\n" +
		"  rules that out; otherwise what a clean run of that strategy is worth.\n")
	return b.String()
}

// unguaranteed returns the names of the results whose strategy does not
// rule a use-after-free out.
func unguaranteed(rs []result) []string {
	var ns []string
	for _, r := range rs {
		if k, _ := lookup(r.name); !k.guaranteed {
			ns = append(ns, r.name)
		}
	}
	return ns
}

// orList joins names as in "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
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
