package quiescevet

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/cfg"
)

// A section is one Enter or TryEnter call and how its Ref is kept.
type section struct {
	call *ast.CallExpr
	kind callKind // epochEnter or guardTryEnter
	recv ast.Expr // the Epoch or Guard
	// node is the statement that makes the call, as the CFG holds it:
	// the paths to look at begin right after it.
	node ast.Node
	// ref is the local variable the Ref is kept in; nil when its Exit
	// is deferred on the spot (defer e.Enter().Exit()), so that the
	// section lasts until the function returns.
	ref *types.Var
	// ok is TryEnter's second result, if kept: paths on which it is
	// false have no section.
	ok *types.Var
	// deferred says the section's Exit is deferred, for the message.
	deferred bool
}

// checkEnter applies the section rules to one Enter or TryEnter call: the
// Ref must be exited on every path (unless it escapes), and the section
// must not contain a Synchronize (Close) of its own Epoch (Guard).
func (c *checker) checkEnter(call *ast.CallExpr, kind callKind, recv ast.Expr, stack []ast.Node) {
	fn := enclosingFunc(stack)
	var g *cfg.CFG
	var sig *types.Signature
	info := c.pass.TypesInfo
	switch fn := fn.(type) {
	case *ast.FuncDecl:
		g = c.cfgs.FuncDecl(fn)
		if obj, ok := info.Defs[fn.Name].(*types.Func); ok {
			sig = obj.Signature()
		}
	case *ast.FuncLit:
		g = c.cfgs.FuncLit(fn)
		sig, _ = info.TypeOf(fn).(*types.Signature)
	}
	if g == nil || sig == nil {
		return
	}
	s := &section{call: call, kind: kind, recv: recv}
	what := types.ExprString(call.Fun)
	discarded := func() {
		if kind == guardTryEnter {
			c.pass.ReportRangef(call, "lost Ref: the Ref from %s is discarded, so its section never ends if it succeeds: keep it and call its Exit (Closed tells whether the Guard is closed)", what)
			return
		}
		c.pass.ReportRangef(call, "lost Ref: the Ref from %s is discarded, so its section never ends: keep it and call its Exit", what)
	}

	// A discarded Ref is reported here and only here: keeping it
	// decides where the section ends, so a report at every later wait
	// would add nothing, and for a TryEnter expected to fail (probing a
	// closed Guard) it would be wrong.
	parent, i := parentOf(stack)
	switch p := parent.(type) {
	case *ast.ExprStmt:
		discarded()
		return
	case *ast.SelectorExpr: // e.Enter().Exit: exited on the spot, or at return if deferred
		if i < 2 || p.Sel.Name != "Exit" {
			return
		}
		d, ok := stack[i-2].(*ast.DeferStmt)
		if !ok || d.Call != stack[i-1] || ast.Unparen(d.Call.Fun) != p {
			return
		}
		s.node, s.deferred = d, true
	case *ast.AssignStmt:
		if len(p.Rhs) != 1 {
			return
		}
		s.node = p
		if !c.keptIn(s, fn, p.Lhs, discarded) {
			return
		}
	case *ast.ValueSpec:
		if len(p.Values) != 1 {
			return
		}
		s.node = p
		lhs := make([]ast.Expr, len(p.Names))
		for i, id := range p.Names {
			lhs[i] = id
		}
		if !c.keptIn(s, fn, lhs, discarded) {
			return
		}
	default:
		// Returned, passed to a function, stored in a composite
		// literal: it escapes, and what happens to it is not this
		// function's to check.
		return
	}

	start, at := locate(g, s.node)
	if start == nil {
		return
	}
	if s.ref != nil && !tupleHas(sig.Results(), s.ref) {
		if where := c.lostPath(g, start, at, s); where != nil {
			related := "this return is reached without an Exit of " + s.ref.Name()
			if _, ok := where.(*ast.ReturnStmt); !ok {
				related = s.ref.Name() + " is assigned anew here without an Exit of the Ref it holds"
			}
			c.pass.Report(analysis.Diagnostic{
				Pos:     call.Pos(),
				End:     call.End(),
				Message: fmt.Sprintf("lost Ref: the Ref from %s is not exited on all paths (missing Exit)", what),
				Related: []analysis.RelatedInformation{{
					Pos:     where.Pos(),
					Message: related,
				}},
			})
		}
	}
	if s.ref != nil {
		s.deferred = hasDeferredUse(info, fn, s.ref)
	}
	c.selfWaits(g, start, at, s)
}

// keptIn records in s the variables the Ref (and ok) of the call are
// assigned to, from the assignment's left-hand side, and reports whether
// there is anything more to check. A Ref assigned to _ is reported as
// discarded; one assigned anywhere but a local variable of fn (a field,
// a global, a map or slice element, a variable of an enclosing function)
// escapes.
func (c *checker) keptIn(s *section, fn ast.Node, lhs []ast.Expr, discarded func()) bool {
	info := c.pass.TypesInfo
	id, ok := ast.Unparen(lhs[0]).(*ast.Ident)
	if !ok {
		return false
	}
	if id.Name == "_" {
		discarded()
		return false
	}
	v, ok := info.ObjectOf(id).(*types.Var)
	if !ok || v.Pos() < fn.Pos() || v.Pos() >= fn.End() {
		return false
	}
	s.ref = v
	if s.kind == guardTryEnter && len(lhs) == 2 {
		if id, ok := ast.Unparen(lhs[1]).(*ast.Ident); ok && id.Name != "_" {
			s.ok, _ = info.ObjectOf(id).(*types.Var)
		}
	}
	return true
}

// lostPath returns where a path from the section's start reaches, with
// the Ref neither exited nor escaped: a return, or a statement that
// assigns the Ref variable anew. It returns nil if there is no such
// path. As in lostcancel, any mention of the variable handles the path:
// an Exit (deferred or not), and any escape (returned, stored, passed on,
// captured by a closure), whose fate is the receiver's to check.
func (c *checker) lostPath(g *cfg.CFG, b *cfg.Block, at int, s *section) ast.Node {
	info := c.pass.TypesInfo
	var where ast.Node
	c.walk(b, at, s.ok, func(n ast.Node) step {
		if n == s.node || overwrites(info, n, s.ref) {
			where = n
			return found
		}
		if mentions(info, n, s.ref) {
			return prune
		}
		return next
	}, func(ret *ast.ReturnStmt) step {
		where = ret
		return found
	})
	return where
}

// overwrites reports whether n is an assignment of a new value to v that
// does not use v's old one.
func overwrites(info *types.Info, n ast.Node, v *types.Var) bool {
	as, ok := n.(*ast.AssignStmt)
	if !ok {
		return false
	}
	for _, l := range as.Lhs {
		if isVar(info, l, v) || (as.Tok == token.DEFINE && info.Defs[l.(*ast.Ident)] == v) {
			for _, r := range as.Rhs {
				if mentions(info, r, v) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// selfWaits reports each Synchronize of the section's Epoch (Close of its
// Guard) on a path from the section's start before its Ref is exited.
//
// A plain call of the Ref's Exit ends the section. A deferred one runs
// at return, so a deferred mention of the Ref ends nothing. Any other
// mention (passed to a function, stored, handed to a goroutine, captured
// by a closure that is not called on the spot) stops the walk along that
// path: whoever gets the Ref may exit it before the wait, and the wait
// then ends. Rejected alternative: walking on past a Ref handed to a
// goroutine, since lifecycle.ErrSelfWait reports a wait by the goroutine
// that entered while the Ref is not exited yet; but a goroutine that
// exits the Ref before the wait (the library's own tests do) would then
// be reported although its wait ends.
func (c *checker) selfWaits(g *cfg.CFG, b *cfg.Block, at int, s *section) {
	info := c.pass.TypesInfo
	target, noun := epochSynchronize, "epoch"
	if s.kind == guardTryEnter {
		target, noun = guardClose, "guard"
	}
	note := ""
	if s.deferred {
		note = "; its Exit is deferred, so the section lasts until the function returns"
	}
	line := c.pass.Fset.Position(s.call.Pos()).Line
	report := func(call *ast.CallExpr, method string) {
		if c.reported[call] {
			return
		}
		c.reported[call] = true
		c.pass.ReportRangef(call, "%s of %s %s inside its own section (entered at line %d) waits for itself: Exit the Ref first%s",
			method, noun, types.ExprString(s.recv), line, note)
	}

	c.walk(b, at, s.ok, func(n ast.Node) step {
		if n == s.node {
			return prune // a new section: its own call's check covers it
		}
		ended := false
		var scan func(n ast.Node) bool
		scan = func(n ast.Node) bool {
			if ended {
				return false
			}
			switch n := n.(type) {
			case *ast.DeferStmt:
				return false
			case *ast.GoStmt:
				ended = s.ref != nil && mentions(info, n, s.ref)
				return false
			case *ast.FuncLit: // not called on the spot: see below
				ended = s.ref != nil && mentions(info, n, s.ref)
				return false
			case *ast.CallExpr:
				if lit, ok := ast.Unparen(n.Fun).(*ast.FuncLit); ok {
					for _, a := range n.Args {
						ast.Inspect(a, scan)
					}
					ast.Inspect(lit.Body, scan)
					return false
				}
				k, recv := classify(info, n)
				switch {
				case k == refExit && isVar(info, recv, s.ref):
					ended = true
					return false
				case k == target && sameExpr(info, recv, s.recv):
					report(n, ast.Unparen(n.Fun).(*ast.SelectorExpr).Sel.Name)
				}
			case *ast.Ident:
				ended = s.ref != nil && info.Uses[n] == s.ref
			}
			return !ended
		}
		ast.Inspect(n, scan)
		if ended {
			return prune
		}
		return next
	}, func(*ast.ReturnStmt) step { return prune })
}

// hasDeferredUse reports whether fn defers a use of v (defer r.Exit(),
// or a deferred closure that mentions r), outside nested functions.
func hasDeferredUse(info *types.Info, fn ast.Node, v *types.Var) bool {
	var body *ast.BlockStmt
	switch fn := fn.(type) {
	case *ast.FuncDecl:
		body = fn.Body
	case *ast.FuncLit:
		body = fn.Body
	}
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.DeferStmt:
			found = found || mentions(info, n, v)
			return false
		case *ast.FuncLit:
			return false
		}
		return !found
	})
	return found
}

func tupleHas(t *types.Tuple, v *types.Var) bool {
	for i := range t.Len() {
		if t.At(i) == v {
			return true
		}
	}
	return false
}
