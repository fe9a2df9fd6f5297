package quiescevet

import (
	"go/ast"
	"go/token"
	"go/types"
)

// checkListen applies the listener rules to one Listen or ListenSelf
// call: self-waits inside the listener, and the listener capturing the
// variable the call's Handle is assigned to.
func (c *checker) checkListen(call *ast.CallExpr, kind callKind, scope ast.Expr, stack []ast.Node) {
	if len(call.Args) != 2 {
		return
	}
	info := c.pass.TypesInfo

	// own: the expressions that are the listener's own Handle inside
	// it: ListenSelf's self parameter and the variable the call's
	// result is assigned to (which the early-Handle rule reports
	// besides).
	var own []ast.Expr
	var bodies []*ast.FuncLit // what runs as the listener
	var captured *ast.FuncLit // what must not capture the result
	switch kind {
	case scopeListen:
		fn := c.funcLit(call.Args[1])
		if fn == nil {
			return
		}
		bodies = []*ast.FuncLit{fn}
		captured = fn
	case scopeListenSelf:
		build := c.funcLit(call.Args[1])
		if build == nil {
			return
		}
		if ps := build.Type.Params.List; len(ps) == 1 && len(ps[0].Names) == 1 {
			own = append(own, ps[0].Names[0])
		}
		bodies = c.returnedFuncs(build)
		// The build function itself runs before ListenSelf returns:
		// a use of the result there sees nil for certain.
		captured = build
	}

	result := assignedHandle(info, call, stack)
	if result != nil {
		own = append(own, result)
		if use := firstUse(info, captured, result); use != nil {
			fix := "use ListenSelf"
			if kind == scopeListenSelf {
				fix = "use the Handle that ListenSelf passes to build"
			}
			c.pass.ReportRangef(use, "listener captures %s, the Handle %s returns: an invocation may run before %[2]s returns and see nil; %s",
				types.ExprString(result), methodName(kind), fix)
		}
	}

	for _, body := range bodies {
		syncCalls(body.Body, func(call *ast.CallExpr) {
			switch k, recv := classify(info, call); k {
			case scopeUnlisten:
				if sameExpr(info, recv, scope) {
					c.pass.ReportRangef(call, "Unlisten of scope %s from inside its own listener waits for itself: use the Handle's Stop (or ListenSelf) instead",
						types.ExprString(scope))
				}
			case scopeClose:
				if sameExpr(info, recv, scope) {
					c.pass.ReportRangef(call, "Close of scope %s from inside its own listener waits for itself: Stop the listener's Handle and let the owner Close the scope from another goroutine",
						types.ExprString(scope))
				}
			case handleWait:
				for _, h := range own {
					if sameExpr(info, recv, h) {
						c.pass.ReportRangef(call, "Wait on %s, the listener's own Handle, from inside the listener waits for itself: call Stop and return, and let the owner Wait",
							types.ExprString(recv))
						break
					}
				}
			}
		})
	}
}

func methodName(kind callKind) string {
	if kind == scopeListenSelf {
		return "ListenSelf"
	}
	return "Listen"
}

// funcLit returns the function literal whose body runs when the function
// value e is called: e itself, the argument of listener.Notify or of a
// conversion (listener.Func[E](f)), or the value of a local variable
// assigned once. It returns nil for anything else, such as a method value
// or a named function: their bodies are elsewhere, and inside them the
// Scope that registered them has another name.
func (c *checker) funcLit(e ast.Expr) *ast.FuncLit {
	info := c.pass.TypesInfo
	for range 16 { // bounds a chain of variables, which cannot loop anyway
		switch x := ast.Unparen(e).(type) {
		case *ast.FuncLit:
			return x
		case *ast.CallExpr:
			if len(x.Args) != 1 {
				return nil
			}
			if tv, ok := info.Types[x.Fun]; ok && tv.IsType() {
				e = x.Args[0]
				continue
			}
			if k, _ := classify(info, x); k == listenerNotify {
				e = x.Args[0]
				continue
			}
			return nil
		case *ast.Ident:
			v, _ := info.Uses[x].(*types.Var)
			if c.funcVars[v] == nil {
				return nil
			}
			e = c.funcVars[v]
		default:
			return nil
		}
	}
	return nil
}

// returnedFuncs returns the function literals that ListenSelf's build
// function returns: the listeners it builds.
func (c *checker) returnedFuncs(build *ast.FuncLit) []*ast.FuncLit {
	var fns []*ast.FuncLit
	ast.Inspect(build.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false // its returns are not build's
		case *ast.ReturnStmt:
			if len(n.Results) == 1 {
				if fn := c.funcLit(n.Results[0]); fn != nil {
					fns = append(fns, fn)
				}
			}
		}
		return true
	})
	return fns
}

// assignedHandle returns the expression the Handle result of the Listen
// call on top of stack is assigned to, if the variable exists before the
// call: h in h, err = s.Listen(...), or d.h in d.h, _ = s.Listen(...).
// It returns nil when the call declares the variable (:=, var), since the
// listener cannot then refer to it.
func assignedHandle(info *types.Info, call *ast.CallExpr, stack []ast.Node) ast.Expr {
	parent, _ := parentOf(stack)
	as, ok := parent.(*ast.AssignStmt)
	if !ok || len(as.Rhs) != 1 || len(as.Lhs) == 0 {
		return nil
	}
	lhs := as.Lhs[0]
	if id, ok := ast.Unparen(lhs).(*ast.Ident); ok {
		if id.Name == "_" || (as.Tok == token.DEFINE && info.Defs[id] != nil) {
			return nil
		}
	}
	return lhs
}

// firstUse returns the first expression in fn that is the same
// expression as x, nested functions included: a goroutine the listener
// starts captures the variable as much as the listener does.
func firstUse(info *types.Info, fn *ast.FuncLit, x ast.Expr) ast.Expr {
	var use ast.Expr
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if use != nil {
			return false
		}
		switch n := n.(type) {
		case *ast.Ident, *ast.SelectorExpr, *ast.IndexExpr:
			if sameExpr(info, n.(ast.Expr), x) {
				use = n.(ast.Expr)
				return false
			}
		}
		return true
	})
	return use
}

// syncCalls calls f for every call in body that runs on the goroutine
// executing body, before body returns: deferred calls and function
// literals called on the spot included; calls in go statements excluded,
// and so are function literals that are only passed on or stored, whose
// callers are unknown. Rejected alternative: counting such literals as
// called, which would report Unlisten inside a literal handed to a
// goroutine pool, the very fix for a self-wait.
func syncCalls(body ast.Node, f func(*ast.CallExpr)) {
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt, *ast.FuncLit:
			return false
		case *ast.CallExpr:
			if lit, ok := ast.Unparen(n.Fun).(*ast.FuncLit); ok {
				for _, a := range n.Args {
					syncCalls(a, f)
				}
				syncCalls(lit.Body, f)
				return false
			}
			f(n)
		}
		return true
	})
}
