package servicelb

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Range is an inclusive range of addresses of one family.
type Range struct {
	First, Last netip.Addr
}

// Contains reports whether a is in r.
func (r Range) Contains(a netip.Addr) bool {
	a = a.Unmap()
	return a.BitLen() == r.First.BitLen() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// Pool is the set of addresses the controller hands to LoadBalancer Services, as ranges in
// the order they were configured (addresses are handed out from the first range first). An
// empty Pool means "no pool": Services get the addresses of the Ready nodes instead.
type Pool []Range

// ParsePool parses a comma-separated list of prefixes ("192.168.1.0/28", "fd00::/120"),
// ranges ("192.168.1.240-192.168.1.250") and single addresses ("192.168.1.7"), the value of
// the --service-lb-pool flag. An empty string is the empty Pool. Of an IPv4 prefix of /30 or
// shorter the network and broadcast addresses are left out, of an IPv6 prefix of /126 or
// shorter the subnet-router anycast (all-zeros) address, since clients often mishandle them.
// Entries may not overlap.
func ParsePool(s string) (Pool, error) {
	var p Pool
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		r, err := parseRange(entry)
		if err != nil {
			return nil, fmt.Errorf("service load-balancer pool: %w", err)
		}
		for _, o := range p {
			if o.Contains(r.First) || o.Contains(r.Last) || r.Contains(o.First) {
				return nil, fmt.Errorf("service load-balancer pool: %s overlaps %s", r, o)
			}
		}
		p = append(p, r)
	}
	return p, nil
}

func parseRange(entry string) (Range, error) {
	if strings.Contains(entry, "/") {
		pfx, err := netip.ParsePrefix(entry)
		if err != nil {
			return Range{}, fmt.Errorf("invalid prefix %q: %w", entry, err)
		}
		if pfx.Addr().Zone() != "" {
			return Range{}, fmt.Errorf("invalid prefix %q: zones are not allowed", entry)
		}
		pfx = pfx.Masked()
		first, last := pfx.Addr(), lastAddr(pfx)
		bits := pfx.Addr().BitLen()
		switch {
		case first.Is4() && pfx.Bits() <= bits-2:
			first, last = first.Next(), last.Prev()
		case first.Is6() && pfx.Bits() <= bits-2:
			first = first.Next()
		}
		return Range{First: first, Last: last}, nil
	}
	from, to, isRange := strings.Cut(entry, "-")
	first, err := parseAddr(strings.TrimSpace(from))
	if err != nil {
		return Range{}, err
	}
	last := first
	if isRange {
		if last, err = parseAddr(strings.TrimSpace(to)); err != nil {
			return Range{}, err
		}
		if first.BitLen() != last.BitLen() {
			return Range{}, fmt.Errorf("invalid range %q: mixes address families", entry)
		}
		if last.Less(first) {
			return Range{}, fmt.Errorf("invalid range %q: first address after last", entry)
		}
	}
	return Range{First: first, Last: last}, nil
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid address %q: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("invalid address %q: zones are not allowed", s)
	}
	if a.Is4In6() {
		return netip.Addr{}, errors.New("invalid address " + s + ": IPv4-mapped IPv6 addresses are not allowed")
	}
	return a, nil
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Contains reports whether a is one of the pool's addresses.
func (p Pool) Contains(a netip.Addr) bool {
	for _, r := range p {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// HasFamily reports whether the pool has IPv6 (v6) or IPv4 (!v6) addresses.
func (p Pool) HasFamily(v6 bool) bool {
	for _, r := range p {
		if r.First.Is6() == v6 {
			return true
		}
	}
	return false
}

func (p Pool) String() string {
	s := make([]string, len(p))
	for i, r := range p {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}
