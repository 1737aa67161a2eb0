package servicelb

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// allocator remembers which Service holds which pool address. Each address is held by at
// most one Service; a Service holds at most one address per family.
type allocator struct {
	pool Pool

	mu    sync.Mutex
	owner map[netip.Addr]string   // address -> key of the Service holding it
	byKey map[string][]netip.Addr // key -> addresses it holds
}

func newAllocator(pool Pool) *allocator {
	return &allocator{pool: pool, owner: map[netip.Addr]string{}, byKey: map[string][]netip.Addr{}}
}

func is6(f corev1.IPFamily) bool { return f == corev1.IPv6Protocol }

// adopt records that key holds those of addrs that are in the pool and free, at most one per
// family; it is how assignments written before a restart are taken up again.
func (a *allocator) adopt(key string, addrs []netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ip := range addrs {
		if !a.pool.Contains(ip) || a.ownedByOther(ip, key) || hasFamily(a.byKey[key], ip.Is6()) {
			continue
		}
		a.owner[ip] = key
		a.byKey[key] = append(a.byKey[key], ip)
	}
}

func hasFamily(addrs []netip.Addr, v6 bool) bool {
	for _, ip := range addrs {
		if ip.Is6() == v6 {
			return true
		}
	}
	return false
}

func (a *allocator) ownedByOther(ip netip.Addr, key string) bool {
	k, ok := a.owner[ip]
	return ok && k != key
}

// assign returns the addresses key is to hold, one per family of families (in that order),
// and records them, releasing whatever else key held. requested, when not empty, are the
// addresses the Service asks for and exactly those are given. Otherwise, per family, the
// address key already holds is kept, else one of current (what its status shows) if free,
// else the lowest free one. A family the pool has no addresses of is skipped unless
// requireAll is set or it is the only one. Nothing changes when assign fails. freed reports
// whether key gave up an address it held.
func (a *allocator) assign(key string, families []corev1.IPFamily, requested, current []netip.Addr, requireAll bool) (addrs []netip.Addr, freed bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []netip.Addr
	if len(requested) > 0 {
		for _, ip := range requested {
			if !a.pool.Contains(ip) {
				return nil, false, fmt.Errorf("requested address %s is not in the pool %s", ip, a.pool)
			}
			if !hasFamilyIn(families, ip.Is6()) {
				return nil, false, fmt.Errorf("requested address %s is not of the service's IP families %v", ip, families)
			}
			if hasFamily(out, ip.Is6()) {
				return nil, false, fmt.Errorf("more than one address of a family requested: %v", requested)
			}
			if a.ownedByOther(ip, key) {
				return nil, false, fmt.Errorf("requested address %s is already allocated to %s", ip, a.owner[ip])
			}
			out = append(out, ip)
		}
	} else {
		for _, fam := range families {
			v6 := is6(fam)
			if !a.pool.HasFamily(v6) {
				if requireAll || len(families) == 1 {
					return nil, false, fmt.Errorf("the pool %s has no %s addresses", a.pool, fam)
				}
				continue
			}
			ip, ok := a.pick(key, v6, current)
			if !ok {
				return nil, false, fmt.Errorf("no %s address left in the pool %s", fam, a.pool)
			}
			out = append(out, ip)
		}
	}
	for _, ip := range a.byKey[key] {
		if !slices.Contains(out, ip) {
			freed = true
		}
	}
	a.releaseLocked(key)
	for _, ip := range out {
		a.owner[ip] = key
	}
	a.byKey[key] = out
	return out, freed, nil
}

func hasFamilyIn(families []corev1.IPFamily, v6 bool) bool {
	for _, f := range families {
		if is6(f) == v6 {
			return true
		}
	}
	return false
}

// pick chooses key's address of one family: the one it holds, one of current, or the
// lowest free one.
func (a *allocator) pick(key string, v6 bool, current []netip.Addr) (netip.Addr, bool) {
	for _, ip := range a.byKey[key] {
		if ip.Is6() == v6 && a.pool.Contains(ip) {
			return ip, true
		}
	}
	for _, ip := range current {
		if ip.Is6() == v6 && a.pool.Contains(ip) && !a.ownedByOther(ip, key) {
			return ip, true
		}
	}
	for _, r := range a.pool {
		if r.First.Is6() != v6 {
			continue
		}
		for ip := r.First; ; ip = ip.Next() {
			if _, used := a.owner[ip]; !used {
				return ip, true
			}
			if ip == r.Last {
				break
			}
		}
	}
	return netip.Addr{}, false
}

// release frees the addresses key holds and reports whether it held any.
func (a *allocator) release(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.releaseLocked(key)
}

func (a *allocator) releaseLocked(key string) bool {
	held := a.byKey[key]
	for _, ip := range held {
		if a.owner[ip] == key {
			delete(a.owner, ip)
		}
	}
	delete(a.byKey, key)
	return len(held) > 0
}

// holder returns the key of the Service holding ip.
func (a *allocator) holder(ip netip.Addr) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.owner[ip]
}
