package main

import (
	"bytes"
	"os"
	"path/filepath"
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
	require.True(t, ok, "no blank line between the table and its legend")
	assert.Contains(t, legend, "dispatch/s:")
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

// The progress line is rewritten in place and erased at the end.
func TestProgress(t *testing.T) {
	cfg := tinyConfig()
	cfg.duration = 30 * time.Millisecond
	var buf bytes.Buffer
	cfg.progress = &buf
	r := run(cfg, "scope", newQuiesceScope())
	assert.Zero(t, r.useAfterFree)
	assert.True(t, strings.HasPrefix(buf.String(), "\rscope "), "%q", buf.String())
	assert.True(t, strings.HasSuffix(buf.String(), "\r\033[K"), "%q", buf.String())
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

// main itself, with its flags, on two strategies: the table goes to
// stdout and nothing else does.
func TestMainCommand(t *testing.T) {
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	require.NoError(t, err)
	defer out.Close()
	stdout, args := os.Stdout, os.Args
	defer func() { os.Stdout, os.Args = stdout, args }()
	os.Stdout = out
	os.Args = []string{"kauth", "-duration=20ms", "-rounds=1", "-goroutines=2", "-uptime=200us", "-strategies=kauth,scope"}

	main()

	b, err := os.ReadFile(out.Name())
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	require.Greater(t, len(lines), 5, string(b)) // header, blank, table header, two rows, ...
	assert.True(t, strings.HasPrefix(lines[3], "kauth "), lines[3])
	assert.True(t, strings.HasPrefix(lines[4], "scope "), lines[4])
	assert.Contains(t, lines[4], "safe")
}
