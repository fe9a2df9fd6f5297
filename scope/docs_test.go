package scope_test

import (
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/internal/rcu"
	"github.com/quiesce/quiesce/lifecycle"
	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// TestDocumentedSizes keeps the memory table of docs/design.md (§3.7) and
// the figures quoted elsewhere in the docs in step with unsafe.Sizeof: a
// change of layout that forgets the docs fails here. The table gives the
// amd64 size, then the 386 one in parentheses; the test checks the one of
// the platform it runs on (CI runs both).
func TestDocumentedSizes(t *testing.T) {
	if scope.SelfWaitDetection {
		t.Skip("the race build's self-wait bookkeeping changes the layouts; .ci/run checks them without -race")
	}
	sizes := map[string]uintptr{
		"`lifecycle.Epoch`":                       unsafe.Sizeof(lifecycle.Epoch{}),
		"the Domain inside it":                    unsafe.Sizeof(rcu.Domain{}),
		"`lifecycle.Guard`":                       unsafe.Sizeof(lifecycle.Guard{}),
		"`lifecycle.Ref`":                         unsafe.Sizeof(lifecycle.Ref{}),
		"`scope.Scope[E]`":                        unsafe.Sizeof(scope.Scope[int]{}),
		"one listener":                            unsafe.Sizeof(listener.Handle{}),
		"one listener of a `WithIsolation` scope": scope.IsoHandleSize,
		"a shard":                                 unsafe.Sizeof(rcu.Shard{}),
		"listener table":                          scope.TableSize,
	}
	doc := read(t, "../docs/design.md")
	row := regexp.MustCompile(`(?m)^\| (.+?) \| (?:[^|]*?)(\d+) B \((\d+) B\)`)
	found := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		want, ok := sizes[m[1]]
		if !ok {
			continue
		}
		found[m[1]] = true
		col := 2 // amd64
		if runtime.GOARCH == "386" {
			col = 3
		} else if unsafe.Sizeof(uintptr(0)) != 8 {
			t.Skipf("the table gives amd64 and 386 sizes, not %s ones", runtime.GOARCH)
		}
		got, err := strconv.Atoi(m[col])
		require.NoError(t, err)
		assert.Equal(t, int(want), got, "design.md §3.7 row %s", m[1])
	}
	for name := range sizes {
		assert.True(t, found[name], "design.md §3.7 has no row for %s", name)
	}
	for _, s := range []uintptr{unsafe.Sizeof(lifecycle.Epoch{}), unsafe.Sizeof(lifecycle.Guard{}),
		unsafe.Sizeof(scope.Scope[int]{}), scope.IsoHandleSize, unsafe.Sizeof(rcu.Shard{})} {
		assert.Zero(t, s%rcu.CacheLine, "a size of %d is not whole lines: neighbours would share one", s)
	}
	if runtime.GOARCH == "amd64" {
		oneListener := unsafe.Sizeof(scope.Scope[int]{}) + unsafe.Sizeof(listener.Handle{})
		claim := "a Scope with one listener never contended costs " + strconv.Itoa(int(oneListener)) + " bytes"
		assert.True(t, strings.Contains(doc, claim), "design.md §3.7 should say %q", claim)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
