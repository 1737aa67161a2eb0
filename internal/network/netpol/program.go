package netpol

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// programmer writes Rulesets into the kernel through netlink, each change in one
// transaction, and remembers what it wrote so that the next change is a difference.
type programmer struct {
	conn    *nftables.Conn
	table   *nftables.Table
	applied *Ruleset // nil: unknown, the next apply rewrites the table
	nsFD    int
}

func newProgrammer(table string, netnsFD int) (*programmer, error) {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if netnsFD >= 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFD))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables netlink connection: %w", err)
	}
	return &programmer{conn: conn, table: &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}, nsFD: netnsFD}, nil
}

func (p *programmer) close() error { return p.conn.CloseLasting() }

func (p *programmer) netnsFD() int { return p.nsFD }

// deleteTable removes the table and everything in it.
func (p *programmer) deleteTable() error {
	p.applied = nil
	p.conn.AddTable(p.table)
	p.conn.DelTable(p.table)
	if err := p.conn.Flush(); err != nil {
		return fmt.Errorf("delete table %s: %w", p.table.Name, err)
	}
	return nil
}

func (p *programmer) set(s *Set) *nftables.Set {
	ns := &nftables.Set{Table: p.table, Name: s.Name, KeyType: s.Key.Type(), KeyByteOrder: binaryutil.BigEndian}
	if s.Key == nft.KeyAddrProtoPort {
		ns.Concatenation = true
	}
	if s.Map {
		ns.IsMap = true
		ns.DataType = nftables.TypeVerdict
	}
	return ns
}

func (e Element) nf() nftables.SetElement {
	se := nftables.SetElement{Key: nft.ElementKey(e.Addr, e.Proto, e.Port)}
	if e.Verdict != nil {
		se.VerdictData = e.Verdict.Expr()
	}
	return se
}

// elements adds (or deletes) elements of a set.
func (p *programmer) elements(s *Set, es []Element, del bool) error {
	batch := make([]nftables.SetElement, len(es))
	for i, e := range es {
		batch[i] = e.nf()
	}
	return nft.SetElements(p.conn, &nftables.Set{Table: p.table, Name: s.Name}, batch, del)
}

// apply brings the table to rs in one transaction: rewritten from nothing when fresh
// (or when what the table holds is unknown), otherwise by changing only the chains
// whose rules differ and the elements that came or went.
func (p *programmer) apply(rs *Ruleset, fresh bool) error {
	var err error
	if fresh || p.applied == nil {
		err = p.rewrite(rs)
	} else {
		err = p.update(p.applied, rs)
	}
	if err != nil {
		p.applied = nil
		return err
	}
	p.applied = rs
	return nil
}

func (p *programmer) rewrite(rs *Ruleset) error {
	c := p.conn
	c.AddTable(p.table)
	c.DelTable(p.table)
	c.AddTable(p.table)
	for _, ch := range rs.Chains {
		c.AddChain(ch.NF(p.table))
	}
	for _, s := range rs.Sets {
		if err := nft.AddSet(c, p.set(s), nil); err != nil {
			return fmt.Errorf("add set %s: %w", s.Name, err)
		}
	}
	for _, ch := range rs.Chains {
		if err := ch.AddRules(p.conn, p.table); err != nil {
			return err
		}
	}
	for _, s := range rs.Sets {
		if err := p.elements(s, s.Elements, false); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: writing table %s: %w", p.table.Name, err)
	}
	return nil
}

// update applies the difference between two rulesets. Within the transaction, what is
// removed stops being referenced before it goes: rules are flushed and elements (whose
// verdicts name chains) deleted before their chains and sets are.
func (p *programmer) update(old, cur *Ruleset) error {
	c := p.conn
	oldChains := map[string]*nft.Chain{}
	for _, ch := range old.Chains {
		oldChains[ch.Name] = ch
	}
	curChains := map[string]bool{}
	var added, refilled, removed []*nft.Chain
	for _, ch := range cur.Chains {
		curChains[ch.Name] = true
		o, ok := oldChains[ch.Name]
		switch {
		case !ok:
			added = append(added, ch)
		case (o.Hook == nil) != (ch.Hook == nil) || (o.Hook != nil && *o.Hook != *ch.Hook):
			return p.rewrite(cur)
		case o.RulesText() != ch.RulesText():
			refilled = append(refilled, ch)
		}
	}
	for _, ch := range old.Chains {
		if !curChains[ch.Name] {
			removed = append(removed, ch)
		}
	}
	oldSets := map[string]*Set{}
	for _, s := range old.Sets {
		oldSets[s.Name] = s
	}
	curSets := map[string]bool{}
	var newSets, goneSets []*Set
	type elemChange struct {
		set      *Set
		add, del []Element
	}
	var changes []elemChange
	for _, s := range cur.Sets {
		curSets[s.Name] = true
		o, ok := oldSets[s.Name]
		switch {
		case !ok:
			newSets = append(newSets, s)
		case o.Key != s.Key || o.Map != s.Map:
			return p.rewrite(cur)
		default:
			add, del := diffElements(o.Elements, s.Elements)
			if len(add) > 0 || len(del) > 0 {
				changes = append(changes, elemChange{set: s, add: add, del: del})
			}
		}
	}
	for _, s := range old.Sets {
		if !curSets[s.Name] {
			goneSets = append(goneSets, s)
		}
	}
	if len(added)+len(refilled)+len(removed)+len(newSets)+len(goneSets)+len(changes) == 0 {
		return nil
	}
	for _, s := range newSets {
		if err := nft.AddSet(c, p.set(s), nil); err != nil {
			return fmt.Errorf("add set %s: %w", s.Name, err)
		}
	}
	for _, ch := range added {
		c.AddChain(ch.NF(p.table))
	}
	for _, ch := range append(refilled, removed...) {
		c.FlushChain(&nftables.Chain{Table: p.table, Name: ch.Name})
	}
	for _, ch := range changes {
		if err := p.elements(ch.set, ch.del, true); err != nil {
			return err
		}
	}
	for _, ch := range append(added, refilled...) {
		if err := ch.AddRules(p.conn, p.table); err != nil {
			return err
		}
	}
	for _, s := range newSets {
		if err := p.elements(s, s.Elements, false); err != nil {
			return err
		}
	}
	for _, ch := range changes {
		if err := p.elements(ch.set, ch.add, false); err != nil {
			return err
		}
	}
	for _, s := range goneSets {
		c.DelSet(&nftables.Set{Table: p.table, Name: s.Name})
	}
	for _, ch := range removed {
		c.DelChain(&nftables.Chain{Table: p.table, Name: ch.Name})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: updating table %s: %w", p.table.Name, err)
	}
	return nil
}

// diffElements compares two sorted element lists: an element whose verdict changed is
// deleted and added again.
func diffElements(old, cur []Element) (add, del []Element) {
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(old) && compareElements(old[i], cur[j]) < 0):
			del = append(del, old[i])
			i++
		case i == len(old) || compareElements(old[i], cur[j]) > 0:
			add = append(add, cur[j])
			j++
		default:
			if old[i].text() != cur[j].text() {
				del = append(del, old[i])
				add = append(add, cur[j])
			}
			i++
			j++
		}
	}
	return add, del
}
