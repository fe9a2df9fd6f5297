package quiescevet

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/cfg"
)

// The paths of a function's control-flow graph that the section rules
// follow from an Enter: where a node is, how to walk on from it, and
// which branches a failed TryEnter cannot take.

// locate returns the block of g holding node and node's index in it, or
// nil if g has no such node (it is in dead code).
func locate(g *cfg.CFG, node ast.Node) (*cfg.Block, int) {
	for _, b := range g.Blocks {
		for i, n := range b.Nodes {
			if n == node {
				if !b.Live {
					return nil, 0
				}
				return b, i
			}
		}
	}
	return nil, 0
}

// A step tells walk what to do after a node.
type step int

const (
	next  step = iota // go on along this path
	prune             // this path ends here, with nothing found
	found             // stop the walk
)

// walk explores, depth first, the paths of g that begin after node at of
// block b, in the spirit of the lostcancel pass: visit sees each node in
// path order, atReturn each return reached (explicit or materialized by
// cfg at the closing brace). Each block is entered once: what a node
// decides does not depend on the path that led to it. A block without
// successors that is not a return ends in a call that never returns
// (panic, log.Fatal): nothing is lost on such a path.
//
// For TryEnter with its ok kept, an edge of a condition that implies ok
// is false (ok, !ok, and conjunctions and disjunctions of them) is not
// followed: the section exists only where TryEnter succeeded.
func (c *checker) walk(b *cfg.Block, at int, ok *types.Var, visit func(ast.Node) step, atReturn func(*ast.ReturnStmt) step) {
	seen := make(map[*cfg.Block]bool)
	var block func(b *cfg.Block, from int) bool
	block = func(b *cfg.Block, from int) bool {
		for _, n := range b.Nodes[from:] {
			switch visit(n) {
			case prune:
				return false
			case found:
				return true
			}
		}
		if len(b.Succs) == 0 {
			if ret := b.Return(); ret != nil {
				return atReturn(ret) == found
			}
			return false
		}
		for i, s := range b.Succs {
			if seen[s] || (ok != nil && c.okFalse(c.cond(b), i == 0, ok)) {
				continue
			}
			seen[s] = true
			if block(s, 0) {
				return true
			}
		}
		return false
	}
	block(b, at+1)
}

// cond returns the condition of a block that branches on one (if, for,
// a case of a switch without a tag), or nil.
func (c *checker) cond(b *cfg.Block) ast.Expr {
	if len(b.Succs) != 2 || len(b.Nodes) == 0 {
		return nil
	}
	switch b.Succs[0].Kind {
	case cfg.KindIfThen, cfg.KindForBody:
	case cfg.KindSwitchCaseBody:
		// The case of a tagged switch compares with the tag; the
		// block only tells a case of a tagless one by its statement.
		if sw, ok := b.Succs[0].Stmt.(*ast.CaseClause); !ok || !c.tagless[sw] {
			return nil
		}
	default:
		return nil
	}
	e, _ := b.Nodes[len(b.Nodes)-1].(ast.Expr)
	return e
}

// okFalse reports whether cond having the value branch implies that ok is
// false.
func (c *checker) okFalse(cond ast.Expr, branch bool, ok *types.Var) bool {
	switch e := cond.(type) {
	case *ast.ParenExpr:
		return c.okFalse(e.X, branch, ok)
	case *ast.Ident:
		return !branch && c.pass.TypesInfo.Uses[e] == ok
	case *ast.UnaryExpr:
		return e.Op == token.NOT && c.okFalse(e.X, !branch, ok)
	case *ast.BinaryExpr:
		switch {
		case e.Op == token.LAND && branch, e.Op == token.LOR && !branch:
			return c.okFalse(e.X, branch, ok) || c.okFalse(e.Y, branch, ok)
		}
	}
	return false
}
