package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tinyConfig is the workload shrunk to about a second for all strategies
// together, a third of that in short mode.
func tinyConfig() config {
	d := 120 * time.Millisecond
	if testing.Short() {
		d = 40 * time.Millisecond
	}
	return config{
		duration:   d,
		rounds:     2,
		goroutines: 4,
		uptime:     200 * time.Microsecond,
		opts:       opts{sleep: 200 * time.Microsecond},
	}
}

// Every strategy runs, and the table has a row for each. The strategies
// that wait must show no use-after-free although they really unloaded
// drivers that were answering calls. The naive ones usually fail, but not
// always in so short a run: their counts are only logged.
func TestWorkload(t *testing.T) {
	rs := runAll(tinyConfig(), kinds)
	require.Len(t, rs, len(kinds))

	var buf bytes.Buffer
	require.NoError(t, printTable(&buf, rs))
	t.Log("\n" + buf.String())
	table, legend, ok := strings.Cut(buf.String(), "\n\n")
	require.True(t, ok, "no blank line between the table and its reading guide")
	assert.Contains(t, legend, "dispatch/s:")
	assert.Contains(t, legend, "A 0 from kauth, sleep or flag is luck")
	lines := strings.Split(table, "\n")
	require.Len(t, lines, 1+len(kinds))
	assert.Equal(t, []string{"strategy", "use-after-free", "dispatch/s", "unload", "p50", "unload", "p99", "unloads", "verdict"},
		strings.Fields(lines[0]))

	for i, r := range rs {
		k := kinds[i]
		assert.Equal(t, k.name, r.name)
		assert.Equal(t, k.name, strings.Fields(lines[1+i])[0])
		assert.Contains(t, lines[1+i], verdict(r))
		assert.Positive(t, r.dispatches, "%s: no dispatch while a driver was loaded", r.name)
		assert.NotEmpty(t, r.unloads, "%s: no unload", r.name)
		if k.guaranteed {
			assert.Zero(t, r.useAfterFree, "%s: use-after-free", r.name)
			assert.Positive(t, r.served, "%s: no callback reached a live driver", r.name)
		}
	}
}

// The legend has a line for each selected strategy and no other, in
// order, and marks quiesce's two and only them.
func TestLegend(t *testing.T) {
	for _, list := range []string{"all", "kauth,scope", "mutex,guard,sleep"} {
		ks, err := selectKinds(list)
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, printLegend(&buf, ks))
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		require.Len(t, lines, 1+len(ks), "%s:\n%s", list, buf.String())
		assert.Equal(t, "strategies:", lines[0])
		for i, k := range ks {
			line := lines[1+i]
			assert.Equal(t, k.name, strings.Fields(line)[0], line)
			assert.Contains(t, line, k.what)
			ours := k.name == "guard" || k.name == "scope"
			assert.Equal(t, ours, strings.Contains(line, quiesceMark), line)
		}
	}
	for _, k := range kinds {
		assert.NotEmpty(t, k.what, "%s: nothing for the legend", k.name)
	}
}

// The reading guide names the strategies whose 0 is luck, when there are
// any.
func TestReadingGuide(t *testing.T) {
	g := readingGuide([]result{{name: "scope"}, {name: "flag"}, {name: "mutex"}})
	assert.Contains(t, g, "A 0 from flag is luck, not safety")
	for _, col := range []string{"use-after-free:", "nothing is injected", "dispatch/s:", "unload p50/p99:", "verdict:"} {
		assert.Contains(t, g, col)
	}
	assert.NotContains(t, readingGuide([]result{{name: "guard"}, {name: "scope"}}), "luck")
	assert.Equal(t, "a, b or c", orList([]string{"a", "b", "c"}))
}

// When progress is not a terminal, every turn of every strategy gets a
// line of its own, in the order they ran, and nothing is rewritten.
func TestTurnLines(t *testing.T) {
	cfg := tinyConfig()
	cfg.duration = 40 * time.Millisecond
	var buf bytes.Buffer
	cfg.progress = &buf
	ks, err := selectKinds("kauth,scope")
	require.NoError(t, err)
	rs := runAll(cfg, ks)
	require.Len(t, rs, 2)

	out := buf.String()
	assert.NotContains(t, out, "\r")
	require.True(t, strings.HasSuffix(out, "\n\n"), "%q", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")
	require.Len(t, lines, cfg.rounds*len(ks), out)
	turn := regexp.MustCompile(`^(\w+) (\d)/2: (\d+) use-after-free, [\d.]+[Mk]? dispatch/s, unload p99 [\d.]+[nµm]?s$`)
	for i, line := range lines {
		m := turn.FindStringSubmatch(line)
		require.NotNil(t, m, "%q", line)
		assert.Equal(t, ks[i%len(ks)].name, m[1], line)
		assert.Equal(t, strconv.Itoa(1+i/len(ks)), m[2], line)
	}
	// The turns' counts add up to the totals.
	for j, r := range rs {
		var sum int64
		for i := j; i < len(lines); i += len(ks) {
			n, _ := strconv.ParseInt(turn.FindStringSubmatch(lines[i])[3], 10, 64)
			sum += n
		}
		assert.Equal(t, r.useAfterFree, sum, r.name)
	}
}

// On a terminal the progress line is rewritten in place and erased at the
// end; no line per turn piles up under it.
func TestProgress(t *testing.T) {
	cfg := tinyConfig()
	cfg.duration = 30 * time.Millisecond
	var buf bytes.Buffer
	cfg.progress, cfg.live = &buf, true
	r := run(cfg, "scope", newQuiesceScope())
	assert.Zero(t, r.useAfterFree)
	assert.True(t, strings.HasPrefix(buf.String(), "\rscope "), "%q", buf.String())
	assert.True(t, strings.HasSuffix(buf.String(), "\r\033[K"), "%q", buf.String())

	buf.Reset()
	ks, err := selectKinds("scope")
	require.NoError(t, err)
	runAll(cfg, ks)
	assert.NotContains(t, buf.String(), "\n", "a line per turn on a terminal")
	assert.Contains(t, buf.String(), "\rscope 1/2 ")
}

func TestVerdict(t *testing.T) {
	assert.Equal(t, "UNSAFE: 3 use-after-free", verdict(result{name: "kauth", useAfterFree: 3}))
	assert.Equal(t, "safe in this run (guess; not a guarantee)", verdict(result{name: "sleep"}))
	assert.Equal(t, "safe", verdict(result{name: "scope"}))
	assert.Contains(t, verdict(result{name: "scope", useAfterFree: 1}), "BUG")
}

func TestSelectKinds(t *testing.T) {
	ks, err := selectKinds("all")
	require.NoError(t, err)
	assert.Len(t, ks, len(kinds))

	ks, err = selectKinds("scope, kauth")
	require.NoError(t, err)
	require.Len(t, ks, 2)
	assert.Equal(t, "scope", ks[0].name)
	assert.Equal(t, "kauth", ks[1].name)

	_, err = selectKinds("scope,spinlock")
	assert.ErrorContains(t, err, `unknown strategy "spinlock"`)
}

// main itself, with its flags, on two strategies: the legend and the
// table go to stdout; stderr, not a terminal here, gets a line per turn.
func TestMainCommand(t *testing.T) {
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	require.NoError(t, err)
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	defer errf.Close()
	stdout, stderr, args, flags := os.Stdout, os.Stderr, os.Args, flag.CommandLine
	defer func() { os.Stdout, os.Stderr, os.Args, flag.CommandLine = stdout, stderr, args, flags }()
	os.Stdout, os.Stderr = out, errf
	// main defines its flags on flag.CommandLine: a fresh one lets the
	// test run again (-count) without "flag redefined".
	flag.CommandLine = flag.NewFlagSet("kauth", flag.ExitOnError)
	os.Args = []string{"kauth", "-duration=20ms", "-rounds=1", "-goroutines=2", "-uptime=200us", "-strategies=kauth,scope"}

	main()

	b, err := os.ReadFile(out.Name())
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	// header, blank, legend (3 lines), blank, table header, two rows, ...
	require.Greater(t, len(lines), 9, string(b))
	assert.Equal(t, "strategies:", lines[2])
	assert.True(t, strings.HasPrefix(lines[3], "  kauth "), lines[3])
	assert.True(t, strings.HasPrefix(lines[4], "  scope "), lines[4])
	assert.Contains(t, lines[4], quiesceMark)
	assert.Equal(t, "", lines[5])
	assert.True(t, strings.HasPrefix(lines[6], "strategy "), lines[6])
	assert.True(t, strings.HasPrefix(lines[7], "kauth "), lines[7])
	assert.True(t, strings.HasPrefix(lines[8], "scope "), lines[8])
	assert.Contains(t, lines[8], "safe")
	assert.Contains(t, string(b), "unload p50/p99:")
	assert.NotContains(t, string(b), "use-after-free, ", "turn lines on stdout")

	e, err := os.ReadFile(errf.Name())
	require.NoError(t, err)
	assert.Regexp(t, `^kauth: \d+ use-after-free, .*\nscope: 0 use-after-free, .*\n\n$`, string(e))
}
