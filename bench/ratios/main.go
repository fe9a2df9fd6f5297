// Command ratios reads `go test -bench` output (the raw files that run.sh
// writes) and prints, in Markdown, the ratios of quiesce to each baseline
// and the targets with their verdicts. Every number is a ratio of
// medians over the runs of a benchmark; benchstat, run on the same files,
// gives the confidence intervals.
//
//	go run ./ratios results/root.txt results/bench.txt
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
// GOMAXPROCS suffix, and GOMAXPROCS.
type key struct {
	pkg, name string
	procs     int
}

// samples holds every value of every unit, per benchmark.
type samples map[key]map[string][]float64

var procsSuffix = regexp.MustCompile(`^(.*)-(\d+)$`)

func parse(r io.Reader, into samples) error {
	sc := bufio.NewScanner(r)
	pkg := ""
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
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
// path ends in pkgSuffix; ok is false if it was not run.
func (s samples) get(pkgSuffix, name string, procs int, unit string) (float64, bool) {
	for k, units := range s {
		if k.name == name && k.procs == procs && strings.HasSuffix(k.pkg, pkgSuffix) {
			if v, ok := units[unit]; ok {
				return median(v), true
			}
		}
	}
	return 0, false
}

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

const benchPkg = "quiesce/bench"

var baselines = []string{"mutex", "rwmutex", "counter", "xsync", "floor", "none"}

func main() {
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
	ratioTable(s)
	fmt.Println()
	targetTable(s)
}

// ratioTable: quiesce's median ns/op and its ratio to each baseline.
func ratioTable(s samples) {
	fmt.Print("| listeners | mode | GOMAXPROCS | quiesce ns/op |")
	for _, b := range baselines {
		fmt.Printf(" ÷ %s |", b)
	}
	fmt.Print("\n|---|---|---|---|")
	for range baselines {
		fmt.Print("---|")
	}
	fmt.Println()
	for _, n := range []int{1, 4} {
		for _, mode := range []string{"serial", "parallel"} {
			for _, procs := range []int{1, 2} {
				base := fmt.Sprintf("Dispatch/listeners=%d/mode=%s/impl=", n, mode)
				q, ok := s.get(benchPkg, base+"quiesce", procs, "ns/op")
				if !ok {
					continue
				}
				fmt.Printf("| %d | %s | %d | %.2f |", n, mode, procs, q)
				for _, b := range baselines {
					if v, ok := s.get(benchPkg, base+b, procs, "ns/op"); ok && v > 0 {
						fmt.Printf(" %.2f |", q/v)
					} else {
						fmt.Print(" – |")
					}
				}
				fmt.Println()
			}
		}
	}
}

type target struct {
	what     string
	measured string
	limit    string
	holds    bool
	missing  bool
}

func targetTable(s samples) {
	var ts []target
	ratio := func(what, mode string, procs int, against string, limit float64) {
		base := "Dispatch/listeners=1/mode=" + mode + "/impl="
		q, ok1 := s.get(benchPkg, base+"quiesce", procs, "ns/op")
		b, ok2 := s.get(benchPkg, base+against, procs, "ns/op")
		t := target{what: what, limit: fmt.Sprintf("≤ %.2f×", limit), missing: !ok1 || !ok2 || b == 0}
		if !t.missing {
			r := q / b
			t.measured = fmt.Sprintf("%.2f× (%.2f / %.2f ns)", r, q, b)
			t.holds = r <= limit
		}
		ts = append(ts, t)
	}
	ratio("Dispatch, 1 listener, 1 core: quiesce ÷ rwmutex", "serial", 1, "rwmutex", 1.2)
	ratio("Dispatch, 1 listener, 2 cores (parallel): quiesce ÷ rwmutex", "parallel", 2, "rwmutex", 0.5)
	ratio("Dispatch, 1 listener, 2 cores (parallel): quiesce ÷ xsync", "parallel", 2, "xsync", 1.0)
	ratio("Dispatch, 1 listener, 2 cores (parallel): quiesce ÷ floor", "parallel", 2, "floor", 1.3)

	if m, ok := s.maxOf(benchPkg, "Dispatch/", "allocs/op"); ok {
		ts = append(ts, target{what: "Dispatch allocations (largest allocs/op of any run, any impl)", measured: fmt.Sprintf("%g", m), limit: "0", holds: m == 0})
	} else {
		ts = append(ts, target{what: "Dispatch allocations", missing: true})
	}
	for _, procs := range []int{1, 2} {
		t := target{what: fmt.Sprintf("Listen+Unlisten, no caller inside, GOMAXPROCS=%d", procs), limit: "< 10 µs"}
		if v, ok := s.get("quiesce/scope", "ListenUnlisten/impl=quiesce", procs, "ns/op"); ok {
			t.measured = fmt.Sprintf("%.2f µs", v/1e3)
			t.holds = v < 10e3
		} else {
			t.missing = true
		}
		ts = append(ts, t)
	}
	for _, procs := range []int{1, 2} {
		t := target{what: fmt.Sprintf("64 concurrent ÷ 64 sequential Unlistens, 1 dispatcher, GOMAXPROCS=%d", procs), limit: "≤ 0.15×"}
		c, ok1 := s.get("quiesce/scope", "UnlistenBatch/unlistens=64/mode=concurrent", procs, "ns/unlisten")
		q, ok2 := s.get("quiesce/scope", "UnlistenBatch/unlistens=64/mode=sequential", procs, "ns/unlisten")
		if ok1 && ok2 && q > 0 {
			t.measured = fmt.Sprintf("%.2f× (%.1f / %.1f µs per Unlisten)", c/q, c/1e3, q/1e3)
			t.holds = c/q <= 0.15
		} else {
			t.missing = true
		}
		ts = append(ts, t)
	}
	for _, procs := range []int{1, 2} {
		t := target{what: fmt.Sprintf("Unlisten while 2 goroutines dispatch nonstop, GOMAXPROCS=%d: completes; p50 / p99", procs), limit: "completes"}
		name := "UnlistenWhileDispatching/dispatchers=2/impl=quiesce"
		p50, ok1 := s.get("quiesce/scope", name, procs, "p50-ns")
		p99, ok2 := s.get("quiesce/scope", name, procs, "p99-ns")
		if ok1 && ok2 {
			t.measured = fmt.Sprintf("p50 %.1f µs, p99 %.1f µs", p50/1e3, p99/1e3)
			t.holds = true // every run returned: no Unlisten starved
		} else {
			t.missing = true
		}
		ts = append(ts, t)
	}

	fmt.Println("| target | measured (median of runs) | limit | verdict |")
	fmt.Println("|---|---|---|---|")
	for _, t := range ts {
		verdict := "holds"
		switch {
		case t.missing:
			verdict, t.measured = "not measured", "–"
		case !t.holds:
			verdict = "**missed**"
		}
		fmt.Printf("| %s | %s | %s | %s |\n", t.what, t.measured, t.limit, verdict)
	}
}
