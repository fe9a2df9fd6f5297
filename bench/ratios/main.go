// Command ratios reads `go test -bench` output (the raw files that run.sh
// writes) and prints, in Markdown, the ratios of quiesce to each baseline,
// the memory, grace-period, registration and Unlisten-latency figures,
// and the targets with their verdicts. Every number is a median
// over the runs of a benchmark (one per round), and every ratio a ratio
// of medians; benchstat, run on the same files, gives the confidence
// intervals.
//
//	go run ./ratios results/root.txt results/bench.txt results/sizes.txt results/memory.txt
//
// The files may come in any order and any may be missing: a figure whose
// benchmarks were not run prints as "–", a target as "not measured".
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// key names one benchmark as run: package, full name without the
// GOMAXPROCS suffix, and GOMAXPROCS (the -cpu value it ran at; for the
// benchmarks that set GOMAXPROCS themselves, their name says it).
type key struct {
	pkg, name string
	procs     int
}

// samples holds every value of every unit, per benchmark.
type samples map[key]map[string][]float64

var procsSuffix = regexp.MustCompile(`^(.*)-(\d+)$`)

func parse(r io.Reader, into samples) error { return parseAs(r, into, "") }

// parseAs is parse, with tag appended to every package path: the
// portable build's results carry the same package names as the default
// build's, and must not be mixed with them.
func parseAs(r io.Reader, into samples, tag string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	pkg := ""
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p) + tag
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a name line without results, or a failure
		}
		k := key{pkg: pkg, name: strings.TrimPrefix(f[0], "Benchmark"), procs: 1}
		if m := procsSuffix.FindStringSubmatch(k.name); m != nil {
			k.name = m[1]
			k.procs, _ = strconv.Atoi(m[2])
		}
		if into[k] == nil {
			into[k] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return fmt.Errorf("%q: %v", line, err)
			}
			into[k][f[i+1]] = append(into[k][f[i+1]], v)
		}
	}
	return sc.Err()
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// get returns the median of unit for the benchmark in a package whose
// path ends in pkgSuffix, run at GOMAXPROCS procs (any, if procs is 0:
// for the benchmarks that set GOMAXPROCS themselves); ok is false if it
// was not run.
func (s samples) get(pkgSuffix, name string, procs int, unit string) (float64, bool) {
	var all []float64
	for k, units := range s {
		if k.name == name && (procs == 0 || k.procs == procs) && strings.HasSuffix(k.pkg, pkgSuffix) {
			all = append(all, units[unit]...)
		}
	}
	if len(all) == 0 {
		return 0, false
	}
	return median(all), true
}

// maxOf returns the largest value of unit over every benchmark whose name
// starts with prefix.
func (s samples) maxOf(pkgSuffix, prefix, unit string) (float64, bool) {
	var m float64
	found := false
	for k, units := range s {
		if strings.HasPrefix(k.name, prefix) && strings.HasSuffix(k.pkg, pkgSuffix) {
			for _, v := range units[unit] {
				if !found || v > m {
					m, found = v, true
				}
			}
		}
	}
	return m, found
}

const (
	benchPkg     = "quiesce/bench"
	lifecyclePkg = "quiesce/lifecycle"
	scopePkg     = "quiesce/scope"
	portablePkg  = "quiesce/lifecycle (quiesce_portable)"
)

// subjects are quiesce's dispatch paths in bench/, baselines the rest.
var (
	subjects  = []string{"quiesce", "quiesce-decide", "dispatcher", "quiesce-isolated"}
	baselines = []string{"mutex", "rwmutex", "counter", "xsync", "floor", "none"}
	gmps      = []int{1, 2, 64, 256} // the GOMAXPROCS of the memory and grace-period benchmarks
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-page" {
		if err := page(os.Stdout, os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	s := samples{}
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		err = parse(f, s)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, path, err)
			os.Exit(1)
		}
	}
	sections := []struct {
		title string
		table func(samples)
	}{
		{"Targets", targetTable},
		{"Dispatch: quiesce's median ns/op, then its time ÷ each baseline's (below 1, quiesce is faster)", dispatchTable},
		{"Heap per object (B/object); idle: 100,000 objects, MiB in all in brackets", memoryTable},
		{"Synchronize with no reader inside, by GOMAXPROCS", syncTable},
		{"Listen + Unlisten with n listeners registered, no Dispatch running", listenTable},
		{"Unlisten latency while goroutines dispatch", latencyTable},
	}
	for i, sec := range sections {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintln(stdout, "### "+sec.title)
		fmt.Fprintln(stdout)
		sec.table(s)
	}
}

// ratio formats a ÷ b, or "–" if either is missing.
func ratio(a float64, okA bool, b float64, okB bool) string {
	if !okA || !okB || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// plural formats "1 core", "2 cores".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func num(v float64, ok bool, format string) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf(format, v)
}
