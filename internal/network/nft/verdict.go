package nft

import "github.com/google/nftables/expr"

// VerdictKind is what a verdict does.
type VerdictKind uint8

// Verdict kinds.
const (
	Accept VerdictKind = iota
	Drop
	Return
	Jump
	Goto
)

// Verdict ends a rule (it is a Stmt), or is the value of a verdict map's element.
type Verdict struct {
	Kind  VerdictKind
	Chain string // for Jump and Goto
}

func (v Verdict) String() string {
	switch v.Kind {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	case Return:
		return "return"
	case Jump:
		return "jump " + v.Chain
	case Goto:
		return "goto " + v.Chain
	}
	return "?"
}

// Expr is the verdict's netlink expression, as a rule's last or as a map element's
// data.
func (v Verdict) Expr() *expr.Verdict {
	switch v.Kind {
	case Drop:
		return &expr.Verdict{Kind: expr.VerdictDrop}
	case Return:
		return &expr.Verdict{Kind: expr.VerdictReturn}
	case Jump:
		return &expr.Verdict{Kind: expr.VerdictJump, Chain: v.Chain}
	case Goto:
		return &expr.Verdict{Kind: expr.VerdictGoto, Chain: v.Chain}
	}
	return &expr.Verdict{Kind: expr.VerdictAccept}
}

// Text and Exprs make a Verdict the Stmt that ends a rule.
func (v Verdict) Text() string              { return v.String() }
func (v Verdict) Exprs(*Builder) []expr.Any { return []expr.Any{v.Expr()} }
