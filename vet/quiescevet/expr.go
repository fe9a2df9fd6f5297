package quiescevet

import (
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
)

// sameExpr reports whether a and b denote the same variable by the same
// path: identifiers of one object, selectors of one field (or package
// member) from the same expression, or index expressions of the same
// expression by the same variable or equal constant. It is syntactic on
// purpose: two variables that hold the same pointer are different
// expressions, and a call is never the same as another (it may return
// something else each time). Rejected alternative: points-to analysis
// (go/pointer, or SSA with aliasing), which would see aliases but costs
// far more than a vet check should and reports what it cannot prove.
//
// Parentheses, & and * are looked through: a receiver x and &x, or p and
// *p, are the same Scope, Epoch or Guard, since methods with pointer
// receivers take the address or dereference implicitly.
func sameExpr(info *types.Info, a, b ast.Expr) bool {
	a, b = strip(a), strip(b)
	switch a := a.(type) {
	case *ast.Ident:
		b, ok := b.(*ast.Ident)
		if !ok {
			return false
		}
		o := info.ObjectOf(a)
		return o != nil && o == info.ObjectOf(b)
	case *ast.SelectorExpr:
		b, ok := b.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		o := info.ObjectOf(a.Sel)
		if o == nil || o != info.ObjectOf(b.Sel) {
			return false
		}
		sa, sb := info.Selections[a], info.Selections[b]
		if sa == nil || sb == nil {
			// A qualified identifier (pkg.V): the object says it all.
			// (The package names themselves are per-file objects.)
			return sa == sb
		}
		return sameExpr(info, a.X, b.X)
	case *ast.IndexExpr:
		b, ok := b.(*ast.IndexExpr)
		if !ok || !sameExpr(info, a.X, b.X) {
			return false
		}
		ca, cb := info.Types[a.Index].Value, info.Types[b.Index].Value
		if ca != nil && cb != nil {
			return constant.Compare(ca, token.EQL, cb)
		}
		return sameExpr(info, a.Index, b.Index)
	}
	return false
}

// strip removes parentheses, dereferences and address-of operators.
func strip(e ast.Expr) ast.Expr {
	for {
		switch x := e.(type) {
		case *ast.ParenExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.UnaryExpr:
			if x.Op != token.AND {
				return e
			}
			e = x.X
		default:
			return e
		}
	}
}

// isVar reports whether e is an identifier of v.
func isVar(info *types.Info, e ast.Expr, v *types.Var) bool {
	id, ok := ast.Unparen(e).(*ast.Ident)
	return ok && v != nil && info.Uses[id] == v
}

// mentions reports whether n refers to v anywhere, nested functions
// included.
func mentions(info *types.Info, n ast.Node, v *types.Var) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && info.Uses[id] == v {
			found = true
		}
		return !found
	})
	return found
}
