package quiescevet

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/types/typeutil"
)

// The library's packages. Its types are recognized by package path and
// type name, never by the name a file imports them under, so that a
// renamed import, a dot import or a type embedded in the caller's own
// struct is still recognized.
const (
	scopePkg     = "github.com/quiesce/quiesce/scope"
	listenerPkg  = "github.com/quiesce/quiesce/listener"
	lifecyclePkg = "github.com/quiesce/quiesce/lifecycle"
)

// A callKind names the library call a CallExpr is, for the calls the
// rules look at; every other call is notLib.
type callKind int

const (
	notLib callKind = iota
	scopeListen
	scopeListenSelf
	scopeUnlisten
	scopeClose
	handleWait
	listenerNotify
	epochEnter
	epochSynchronize
	guardTryEnter
	guardClose
	refExit
)

// libFuncs maps package path, receiver type name ("" for a function) and
// function name to the kind of call. scope.Scope is generic: a call's
// callee is an instance of the method, whose Origin is the one listed.
var libFuncs = map[[3]string]callKind{
	{scopePkg, "Scope", "Listen"}:          scopeListen,
	{scopePkg, "Scope", "ListenSelf"}:      scopeListenSelf,
	{scopePkg, "Scope", "Unlisten"}:        scopeUnlisten,
	{scopePkg, "Scope", "Close"}:           scopeClose,
	{listenerPkg, "Handle", "Wait"}:        handleWait,
	{listenerPkg, "", "Notify"}:            listenerNotify,
	{lifecyclePkg, "Epoch", "Enter"}:       epochEnter,
	{lifecyclePkg, "Epoch", "Synchronize"}: epochSynchronize,
	{lifecyclePkg, "Guard", "TryEnter"}:    guardTryEnter,
	{lifecyclePkg, "Guard", "Close"}:       guardClose,
	{lifecyclePkg, "Ref", "Exit"}:          refExit,
}

// classify returns the kind of library call call is and, for a method,
// its receiver expression: x in x.Close(ctx). Only calls through a
// selector count as method calls: a method expression
// ((*lifecycle.Epoch).Synchronize(e, ctx)) or a method value stored in a
// variable is notLib, since the rules compare receiver expressions and
// those calls have none to compare.
func classify(info *types.Info, call *ast.CallExpr) (callKind, ast.Expr) {
	fn, _ := typeutil.Callee(info, call).(*types.Func)
	if fn == nil || fn.Pkg() == nil {
		return notLib, nil
	}
	fn = fn.Origin()
	typeName := ""
	if recv := fn.Signature().Recv(); recv != nil {
		typeName = typeNameOf(recv.Type())
	}
	kind := libFuncs[[3]string{fn.Pkg().Path(), typeName, fn.Name()}]
	if kind == notLib || typeName == "" {
		return kind, nil
	}
	sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok {
		return notLib, nil
	}
	if s := info.Selections[sel]; s == nil || s.Kind() != types.MethodVal {
		return notLib, nil
	}
	return kind, sel.X
}

// typeNameOf returns the name of the named type t is, or points to, or ""
// for any other type.
func typeNameOf(t types.Type) string {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	if n, ok := types.Unalias(t).(*types.Named); ok {
		return n.Origin().Obj().Name()
	}
	return ""
}
