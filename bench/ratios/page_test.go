package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// generatedPage is what -page makes of the committed results.
func generatedPage(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := page(&buf, "../results"); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPageIsGenerated: docs/benchmarks.md is exactly what -page makes of
// the committed results, so that the page cannot drift from the run it
// claims to come from, and cannot be edited by hand.
func TestPageIsGenerated(t *testing.T) {
	gen := generatedPage(t)
	got, err := os.ReadFile("../../docs/benchmarks.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gen, got) {
		t.Errorf("docs/benchmarks.md is not what bench/results generates: run bench/run.sh, or (cd bench && go run ./ratios -page results > ../docs/benchmarks.md) if only the generator changed")
	}
}

// TestPageHasNoFormatErrors: the generator writes its prose through
// fmt, where a stray verb ("95% c") prints as "%!c(MISSING)" and go vet
// cannot see it in a format string built at run time.
func TestPageHasNoFormatErrors(t *testing.T) {
	gen := generatedPage(t)
	if m := regexp.MustCompile(`%!.{0,40}`).FindAll(gen, -1); m != nil {
		t.Errorf("the page has fmt errors: %q", m)
	}
}

// figure matches a measured figure as the README quotes one: a number
// with a unit or a ratio sign.
var figure = regexp.MustCompile(`\d+(?:\.\d+)?\s?(?:ns|µs|ms|MiB|×|x\b)`)

// TestReadmeQuotesThePage: every figure in the README's Performance
// section appears, as written, on docs/benchmarks.md.
func TestReadmeQuotesThePage(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	pageText, err := os.ReadFile("../../docs/benchmarks.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "## Performance")
	if start < 0 {
		t.Fatal("README has no Performance section")
	}
	section = section[start+len("## Performance"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	figs := figure.FindAllString(section, -1)
	if len(figs) == 0 {
		t.Fatal("the README's Performance section quotes no figure")
	}
	for _, f := range figs {
		if !strings.Contains(string(pageText), f) {
			t.Errorf("README quotes %q, which docs/benchmarks.md does not show", f)
		}
	}
}

// TestBenchstatHasIntervals: the page sends readers to benchstat.txt for
// confidence intervals, so it must have them: benchstat prints "± ∞"
// where it has too few samples (fewer than six rounds).
func TestBenchstatHasIntervals(t *testing.T) {
	b, err := os.ReadFile("../results/benchstat.txt")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "± ∞"); n > 0 {
		t.Errorf("bench/results/benchstat.txt has %d cells without an interval (± ∞): publish a run of at least 6 rounds", n)
	}
}
