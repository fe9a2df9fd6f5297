package quiescevet

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/ctrlflow"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
)

const doc = `quiescevet reports misuses of the quiesce library: self-waits, lost Refs and early Handles

A self-wait is a wait that waits for its own caller and so never ends
without a deadline: Unlisten or Close of a Scope, or Wait on the
listener's own Handle, inside one of that Scope's listeners; Synchronize
of an Epoch, or Close of a Guard, between an Enter (TryEnter) of the same
Epoch (Guard) and the Exit of its Ref.

A lost Ref is a Ref from Enter or TryEnter that is not exited on every
path of its function and does not escape it (returned, stored, passed on
or captured by a closure). For TryEnter, only the paths where it
succeeded need an Exit.

An early Handle is the variable that receives the Handle Listen returns,
captured by the listener itself: an invocation may run before Listen
returns and see nil. ListenSelf hands the listener its Handle instead.`

// Analyzer reports misuses of the quiesce library: self-waits, lost Refs
// and early Handles. See the package documentation for the rules.
var Analyzer = &analysis.Analyzer{
	Name:     "quiescevet",
	Doc:      doc,
	URL:      "https://pkg.go.dev/github.com/quiesce/quiesce/vet/quiescevet",
	Requires: []*analysis.Analyzer{inspect.Analyzer, ctrlflow.Analyzer},
	Run:      run,
}

// A checker holds one pass's state.
type checker struct {
	pass *analysis.Pass
	cfgs *ctrlflow.CFGs
	// funcVars maps each local variable assigned exactly once, by its
	// declaration, to the expression it was given: a listener written
	// as f := func(...) {...}; s.Listen("x", f) is looked into like a
	// literal argument.
	funcVars map[*types.Var]ast.Expr
	// reported holds the self-wait calls already reported, so that a
	// Synchronize inside two sections of its Epoch is reported once.
	reported map[*ast.CallExpr]bool
	// tagless holds the clauses of switches without a tag, whose case
	// expressions are conditions (see cond).
	tagless map[*ast.CaseClause]bool
}

func run(pass *analysis.Pass) (any, error) {
	// No fast path on the package's imports: a package can call Enter
	// on an Epoch embedded in another package's type without importing
	// lifecycle itself, and looking at every call costs little beside
	// the CFGs that ctrlflow builds anyway.
	c := &checker{
		pass:     pass,
		cfgs:     pass.ResultOf[ctrlflow.Analyzer].(*ctrlflow.CFGs),
		funcVars: singleAssigned(pass),
		reported: make(map[*ast.CallExpr]bool),
		tagless:  make(map[*ast.CaseClause]bool),
	}
	insp := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	insp.Preorder([]ast.Node{(*ast.SwitchStmt)(nil)}, func(n ast.Node) {
		if sw := n.(*ast.SwitchStmt); sw.Tag == nil {
			for _, cc := range sw.Body.List {
				c.tagless[cc.(*ast.CaseClause)] = true
			}
		}
	})
	insp.WithStack([]ast.Node{(*ast.CallExpr)(nil)}, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return true
		}
		call := n.(*ast.CallExpr)
		switch kind, recv := classify(pass.TypesInfo, call); kind {
		case scopeListen, scopeListenSelf:
			c.checkListen(call, kind, recv, stack)
		case epochEnter, guardTryEnter:
			c.checkEnter(call, kind, recv, stack)
		}
		return true
	})
	return nil, nil
}

// singleAssigned returns the local variables of the package that are
// assigned once, by their declaration with a value, mapped to that value.
// A variable that is assigned again, declared without a value, ranged
// over or has its address taken may hold something else when it is used,
// and is left out.
func singleAssigned(pass *analysis.Pass) map[*types.Var]ast.Expr {
	info := pass.TypesInfo
	count := make(map[*types.Var]int)
	value := make(map[*types.Var]ast.Expr)
	local := func(id *ast.Ident) *types.Var {
		v, ok := info.ObjectOf(id).(*types.Var)
		if !ok || v.IsField() || v.Parent() == nil || v.Parent() == pass.Pkg.Scope() {
			return nil
		}
		return v
	}
	assign := func(lhs, rhs []ast.Expr) {
		for i, l := range lhs {
			id, ok := ast.Unparen(l).(*ast.Ident)
			if !ok {
				continue
			}
			if v := local(id); v != nil {
				count[v]++
				if len(rhs) == len(lhs) && info.Defs[id] == v {
					value[v] = rhs[i]
				}
			}
		}
	}
	for _, f := range pass.Files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.AssignStmt:
				assign(n.Lhs, n.Rhs)
			case *ast.ValueSpec:
				lhs := make([]ast.Expr, len(n.Names))
				for i, id := range n.Names {
					lhs[i] = id
				}
				assign(lhs, n.Values)
			case *ast.RangeStmt:
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if id, ok := e.(*ast.Ident); ok {
						if v := local(id); v != nil {
							count[v] += 2
						}
					}
				}
			case *ast.UnaryExpr:
				if id, ok := ast.Unparen(n.X).(*ast.Ident); ok && n.Op == token.AND {
					if v := local(id); v != nil {
						count[v] += 2
					}
				}
			}
			return true
		})
	}
	for v := range value {
		if count[v] != 1 {
			delete(value, v)
		}
	}
	return value
}

// enclosingFunc returns the innermost function declaration or literal on
// stack, or nil.
func enclosingFunc(stack []ast.Node) ast.Node {
	for i := len(stack) - 1; i >= 0; i-- {
		switch f := stack[i].(type) {
		case *ast.FuncLit, *ast.FuncDecl:
			return f
		}
	}
	return nil
}

// parentOf returns the node above stack's top, looking through
// parentheses, and its index in stack (-1 if there is none).
func parentOf(stack []ast.Node) (ast.Node, int) {
	for i := len(stack) - 2; i >= 0; i-- {
		if _, ok := stack[i].(*ast.ParenExpr); !ok {
			return stack[i], i
		}
	}
	return nil, -1
}
