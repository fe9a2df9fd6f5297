package quiescevet_test

import (
	"bytes"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"

	"github.com/quiesce/quiesce/vet/quiescevet"
)

// The library's packages the stubs stand for.
var libPackages = []string{
	"github.com/quiesce/quiesce/lifecycle",
	"github.com/quiesce/quiesce/listener",
	"github.com/quiesce/quiesce/scope",
}

// repoRoot returns the directory of the library module this one is
// nested in, or skips the test when the vet module was copied elsewhere.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(mod, []byte("module github.com/quiesce/quiesce\n")) {
		t.Skipf("%s is not the quiesce module this one is nested in", root)
	}
	return root
}

func load(t *testing.T, cfg *packages.Config, patterns ...string) []*packages.Package {
	t.Helper()
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		t.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		t.Fatalf("packages %s did not load", patterns)
	}
	return pkgs
}

// TestStubsMirrorTheLibrary checks that every exported name of the stubs
// in testdata exists in the real library with the same signature, so that
// the tests exercise the analyzer on the API it will meet. The stubs may
// leave names out; they may not differ.
func TestStubsMirrorTheLibrary(t *testing.T) {
	root := repoRoot(t)
	const mode = packages.NeedName | packages.NeedTypes
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	stubs := load(t, &packages.Config{
		Mode: mode,
		Dir:  testdata,
		Env:  append(os.Environ(), "GOPATH="+testdata, "GO111MODULE=off", "GOWORK=off"),
	}, libPackages...)
	real := make(map[string]*types.Package)
	for _, p := range load(t, &packages.Config{Mode: mode, Dir: root, Env: append(os.Environ(), "GOWORK=off")}, libPackages...) {
		real[p.PkgPath] = p.Types
	}

	for _, stub := range stubs {
		lib := real[stub.PkgPath]
		if lib == nil {
			t.Errorf("the library has no package %s", stub.PkgPath)
			continue
		}
		for _, name := range stub.Types.Scope().Names() {
			if !token.IsExported(name) {
				continue
			}
			want := describe(stub.Types.Scope().Lookup(name))
			obj := lib.Scope().Lookup(name)
			if obj == nil {
				t.Errorf("%s.%s: in the stub, not in the library", stub.PkgPath, name)
				continue
			}
			got := describe(obj)
			for line := range strings.Lines(want) {
				if !strings.Contains(got, line) {
					t.Errorf("%s.%s: the stub has\n\t%s\nthe library has\n\t%s", stub.PkgPath, name,
						strings.TrimSpace(line), strings.ReplaceAll(strings.TrimSpace(got), "\n", "\n\t"))
				}
			}
		}
	}
}

// describe returns an exported name's declaration, one line each for the
// name and each exported method, without what an API does not show: a
// struct's fields and receiver names.
func describe(obj types.Object) string {
	qual := func(p *types.Package) string { return p.Path() }
	tn, ok := obj.(*types.TypeName)
	if !ok {
		return types.ObjectString(obj, qual) + "\n"
	}
	var b strings.Builder
	named := tn.Type().(*types.Named)
	b.WriteString("type " + tn.Name())
	if tps := named.TypeParams(); tps.Len() > 0 {
		b.WriteString("[")
		for i := range tps.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			tp := tps.At(i)
			b.WriteString(tp.Obj().Name() + " " + types.TypeString(tp.Constraint(), qual))
		}
		b.WriteString("]")
	}
	if _, isStruct := named.Underlying().(*types.Struct); isStruct {
		b.WriteString(" struct\n")
	} else {
		b.WriteString(" " + types.TypeString(named.Underlying(), qual) + "\n")
	}
	for m := range named.Methods() {
		if !m.Exported() {
			continue
		}
		recv := tn.Name()
		if _, ptr := m.Signature().Recv().Type().(*types.Pointer); ptr {
			recv = "*" + recv
		}
		sig := strings.TrimPrefix(types.TypeString(m.Signature(), qual), "func")
		b.WriteString("method (" + recv + ") " + m.Name() + sig + "\n")
	}
	return b.String()
}

// TestLibraryIsClean runs the analyzer over the library's own packages
// and examples, tests left out: they must come out clean. (The library's
// tests self-wait on purpose, to test ErrSelfWait.)
func TestLibraryIsClean(t *testing.T) {
	if testing.Short() {
		t.Skip("loads and type-checks the whole library")
	}
	root := repoRoot(t)
	pkgs := load(t, &packages.Config{
		Mode: packages.LoadAllSyntax,
		Dir:  root,
		Env:  append(os.Environ(), "GOWORK=off"),
	}, "./...")
	g, err := checker.Analyze([]*analysis.Analyzer{quiescevet.Analyzer}, pkgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, act := range g.Roots {
		if act.Err != nil {
			t.Errorf("%s: %v", act.Package.PkgPath, act.Err)
		}
		for _, d := range act.Diagnostics {
			t.Errorf("%s: %s", act.Package.Fset.Position(d.Pos), d.Message)
		}
	}
	if len(g.Roots) < len(libPackages) {
		t.Errorf("analyzed %d packages, want at least %d", len(g.Roots), len(libPackages))
	}
}
