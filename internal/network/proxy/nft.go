package proxy

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// programmer writes Models into the kernel through netlink and remembers what it
// wrote, so that later changes are applied as differences.
type programmer struct {
	conn  *nftables.Conn // builds batches, sent through sock
	query *nftables.Conn // listings
	sock  *batchSocket
	table *nftables.Table

	base    *Model // fixed part last written (Services unused)
	applied map[types.NamespacedName]*ServiceRules
	// owner says which Service wrote each element of a shared set or map: two
	// Services may claim one key (the same external IP and port), and the first keeps
	// it until it lets go.
	owner map[elemKey]types.NamespacedName
}

type elemKey struct {
	set string
	key [12]byte
}

func (e Element) ownKey() elemKey {
	k := elemKey{set: e.Set}
	copy(k.key[:], e.key())
	return k
}

// socketBuffers enlarges the netlink socket buffers: a full sync is one batch of many
// messages, and every rule is echoed back.
func socketBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, 64<<20); e != nil {
				serr = errors.Join(serr, e)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("netlink socket buffers: %w", serr)
	}
	return nil
}

func newProgrammer(table string, netnsFD int) (*programmer, error) {
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(socketBuffers)}
	if netnsFD > 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFD))
	}
	query, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables netlink connection: %w", err)
	}
	sock, err := openBatchSocket(netnsFD)
	if err != nil {
		_ = query.CloseLasting()
		return nil, err
	}
	conn, err := nftables.New(nftables.WithTestDial(sock.dial))
	if err != nil {
		_ = query.CloseLasting()
		_ = sock.close()
		return nil, fmt.Errorf("nftables batch connection: %w", err)
	}
	return &programmer{
		conn:    conn,
		query:   query,
		sock:    sock,
		table:   &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4},
		applied: map[types.NamespacedName]*ServiceRules{},
		owner:   map[elemKey]types.NamespacedName{},
	}, nil
}

func (p *programmer) close() error {
	return errors.Join(p.query.CloseLasting(), p.sock.close())
}

// flush sends the batch built on p.conn.
func (p *programmer) flush() error {
	err := p.conn.Flush()
	return errors.Join(err, p.sock.take())
}

// deleteTable removes the table and everything in it.
func (p *programmer) deleteTable() error {
	p.conn.AddTable(p.table)
	p.conn.DelTable(p.table)
	if err := p.flush(); err != nil {
		return fmt.Errorf("delete table %s: %w", p.table.Name, err)
	}
	p.base = nil
	p.applied = map[types.NamespacedName]*ServiceRules{}
	p.owner = map[elemKey]types.NamespacedName{}
	return nil
}

func (p *programmer) nfSet(s Set) *nftables.Set {
	ns := &nftables.Set{Table: p.table, Name: s.Name, KeyType: s.Key.Type(), KeyByteOrder: binaryutil.BigEndian}
	if s.Map {
		ns.IsMap = true
		ns.DataType = nftables.TypeVerdict
	}
	if s.Timeout > 0 {
		ns.Dynamic = true
		ns.HasTimeout = true
		ns.Timeout = s.Timeout
	}
	return ns
}

// setRef is enough of a set to add or delete its elements.
func (p *programmer) setRef(name string) *nftables.Set {
	return &nftables.Set{Table: p.table, Name: name}
}

func (e Element) key() []byte { return nft.ElementKey(e.Addr, e.Proto, e.Port) }

func (e Element) nf() nftables.SetElement {
	se := nftables.SetElement{Key: e.key()}
	if e.Port != 0 {
		se.VerdictData = e.Verdict.Expr()
	}
	return se
}

// elements adds (or deletes) elements (sorted: grouped by set).
func (p *programmer) elements(es []Element, del bool) error {
	for len(es) > 0 {
		n := 1
		for n < len(es) && es[n].Set == es[0].Set {
			n++
		}
		batch := make([]nftables.SetElement, n)
		for i := range n {
			batch[i] = es[i].nf()
		}
		if err := nft.SetElements(p.conn, p.setRef(es[0].Set), batch, del); err != nil {
			return err
		}
		es = es[n:]
	}
	return nil
}

func (p *programmer) addSet(s Set) error {
	if err := nft.AddSet(p.conn, p.nfSet(s), nil); err != nil {
		return fmt.Errorf("add set %s: %w", s.Name, err)
	}
	return nil
}

// existing lists the chains and sets of the table in the kernel.
func (p *programmer) existing() (chains []string, sets map[string]*nftables.Set, err error) {
	all, err := p.query.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, nil, fmt.Errorf("list chains: %w", err)
	}
	for _, c := range all {
		if c.Table.Name == p.table.Name {
			chains = append(chains, c.Name)
		}
	}
	sets = map[string]*nftables.Set{}
	if len(chains) == 0 {
		return chains, sets, nil
	}
	ss, err := p.query.GetSets(p.table)
	if err != nil {
		return nil, nil, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range ss {
		if !s.Anonymous {
			sets[s.Name] = s
		}
	}
	return chains, sets, nil
}

// sync writes the whole model in one batch. With fresh, the table is deleted and
// created anew; otherwise the table is brought to the model in place, keeping the
// contents of session affinity sets that are still wanted.
func (p *programmer) sync(m *Model, fresh bool) error {
	var existingChains []string
	existingSets := map[string]*nftables.Set{}
	if !fresh {
		var err error
		if existingChains, existingSets, err = p.existing(); err != nil {
			return err
		}
	}
	c := p.conn
	c.AddTable(p.table)
	if fresh {
		c.DelTable(p.table)
		c.AddTable(p.table)
	}
	var chains []*nft.Chain
	var sets []Set
	var elems []Element
	chains = append(chains, m.Chains...)
	sets = append(sets, m.Sets...)
	elems = append(elems, m.Elements...)
	owner := map[elemKey]types.NamespacedName{}
	for _, sr := range m.Services {
		chains = append(chains, sr.Chains...)
		sets = append(sets, sr.Sets...)
		for _, e := range sr.Elements {
			k := e.ownKey()
			if _, taken := owner[k]; taken {
				continue
			}
			owner[k] = sr.Name
			elems = append(elems, e)
		}
	}
	wantChain := make(map[string]bool, len(chains))
	for _, ch := range chains {
		wantChain[ch.Name] = true
		c.AddChain(ch.NF(p.table))
	}
	for _, name := range existingChains {
		c.FlushChain(&nftables.Chain{Table: p.table, Name: name})
	}
	wantSet := make(map[string]Set, len(sets))
	for _, s := range sets {
		wantSet[s.Name] = s
	}
	keep := map[string]bool{}
	for name, es := range existingSets {
		s, ok := wantSet[name]
		switch {
		case !ok || es.IsMap != s.Map || es.HasTimeout != (s.Timeout > 0) || es.Timeout != s.Timeout || es.KeyType.Bytes != p.nfSet(s).KeyType.Bytes:
			c.DelSet(es)
		case s.Timeout > 0:
			keep[name] = true // affinity: keep the remembered clients
		default:
			c.FlushSet(es)
			keep[name] = true
		}
	}
	for _, s := range sets {
		if !keep[s.Name] {
			if err := p.addSet(s); err != nil {
				return err
			}
		}
	}
	for _, ch := range chains {
		if err := ch.AddRules(p.conn, p.table); err != nil {
			return err
		}
	}
	sortElements(elems)
	if err := p.elements(elems, false); err != nil {
		return err
	}
	for _, name := range existingChains {
		if !wantChain[name] {
			c.DelChain(&nftables.Chain{Table: p.table, Name: name})
		}
	}
	if err := p.flush(); err != nil {
		return fmt.Errorf("nftables full sync of table %s: %w", p.table.Name, err)
	}
	p.base = &Model{Table: m.Table, Chains: m.Chains, Sets: m.Sets, Elements: m.Elements}
	p.applied = make(map[types.NamespacedName]*ServiceRules, len(m.Services))
	for _, sr := range m.Services {
		p.applied[sr.Name] = sr
	}
	p.owner = owner
	return nil
}

// update applies the new rules of some Services (nil: the Service has no rules any
// more) in one batch, touching only what differs from what was applied.
func (p *programmer) update(changes map[types.NamespacedName]*ServiceRules) error {
	c := p.conn
	type chainPlan struct {
		add, refill, del []*nft.Chain
	}
	var plan chainPlan
	var addSets, delSets []Set
	type elemChange struct {
		svc types.NamespacedName
		e   Element
	}
	var addChanges, delChanges []elemChange
	names := make([]types.NamespacedName, 0, len(changes))
	for n := range changes {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b types.NamespacedName) int {
		if a.Namespace != b.Namespace {
			if a.Namespace < b.Namespace {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		} else if a.Name > b.Name {
			return 1
		}
		return 0
	})
	for _, n := range names {
		old, cur := p.applied[n], changes[n]
		if old == nil {
			old = &ServiceRules{}
		}
		if cur == nil {
			cur = &ServiceRules{}
		}
		// Sets: a set whose definition changed is deleted and re-added, and then
		// every chain of the service is rewritten.
		oldSets := map[string]Set{}
		for _, s := range old.Sets {
			oldSets[s.Name] = s
		}
		all := false
		curSets := map[string]bool{}
		for _, s := range cur.Sets {
			curSets[s.Name] = true
			o, ok := oldSets[s.Name]
			if !ok {
				addSets = append(addSets, s)
			} else if o != s {
				delSets = append(delSets, o)
				addSets = append(addSets, s)
				all = true
			}
		}
		for _, s := range old.Sets {
			if !curSets[s.Name] {
				delSets = append(delSets, s)
			}
		}
		oldChains := map[string]*nft.Chain{}
		for _, ch := range old.Chains {
			oldChains[ch.Name] = ch
		}
		curChains := map[string]bool{}
		for _, ch := range cur.Chains {
			curChains[ch.Name] = true
			o, ok := oldChains[ch.Name]
			switch {
			case !ok:
				plan.add = append(plan.add, ch)
			case all || o.RulesText() != ch.RulesText():
				plan.refill = append(plan.refill, ch)
			}
		}
		for _, ch := range old.Chains {
			if !curChains[ch.Name] {
				plan.del = append(plan.del, ch)
			}
		}
		// Elements are sorted in both: merge.
		i, j := 0, 0
		for i < len(old.Elements) || j < len(cur.Elements) {
			switch {
			case j == len(cur.Elements) || (i < len(old.Elements) && compareElements(old.Elements[i], cur.Elements[j]) < 0):
				delChanges = append(delChanges, elemChange{n, old.Elements[i]})
				i++
			case i == len(old.Elements) || compareElements(old.Elements[i], cur.Elements[j]) > 0:
				addChanges = append(addChanges, elemChange{n, cur.Elements[j]})
				j++
			default:
				i++
				j++
			}
		}
	}
	// Only the owner of a key writes it (see owner).
	owner := maps.Clone(p.owner)
	var addElems, delElems []Element
	for _, ch := range delChanges {
		k := ch.e.ownKey()
		if o, ok := owner[k]; ok && o == ch.svc {
			delete(owner, k)
			delElems = append(delElems, ch.e)
		}
	}
	for _, ch := range addChanges {
		k := ch.e.ownKey()
		if _, taken := owner[k]; !taken {
			owner[k] = ch.svc
			addElems = append(addElems, ch.e)
		}
	}

	for _, ch := range plan.add {
		c.AddChain(ch.NF(p.table))
	}
	for _, ch := range plan.refill {
		c.FlushChain(&nftables.Chain{Table: p.table, Name: ch.Name})
	}
	for _, ch := range plan.del {
		c.FlushChain(&nftables.Chain{Table: p.table, Name: ch.Name})
	}
	sortElements(delElems)
	if err := p.elements(delElems, true); err != nil {
		return err
	}
	for _, s := range delSets {
		c.DelSet(p.setRef(s.Name))
	}
	for _, s := range addSets {
		if err := p.addSet(s); err != nil {
			return err
		}
	}
	for _, ch := range append(plan.add, plan.refill...) {
		if err := ch.AddRules(p.conn, p.table); err != nil {
			return err
		}
	}
	sortElements(addElems)
	if err := p.elements(addElems, false); err != nil {
		return err
	}
	for _, ch := range plan.del {
		c.DelChain(&nftables.Chain{Table: p.table, Name: ch.Name})
	}
	if err := p.flush(); err != nil {
		return fmt.Errorf("nftables update of table %s: %w", p.table.Name, err)
	}
	for n, sr := range changes {
		if sr == nil {
			delete(p.applied, n)
		} else {
			p.applied[n] = sr
		}
	}
	p.owner = owner
	return nil
}
