package nft

import (
	"sync/atomic"

	"github.com/google/nftables"
)

// setIDs numbers the sets added in this process. A set's ID names it within the netlink
// batch that creates it (for the rules of the same batch that look it up).
var setIDs atomic.Uint32

// AddSet adds set (with elems) to conn's batch. Every component's sets must be added
// through it: github.com/google/nftables numbers sets that have no ID from a package
// variable it increments without synchronisation, so two components programming their
// tables at the same time in one process (the proxy and the NetworkPolicy controller of
// a node agent) would race on it. AddSet gives the set its ID first, atomically.
func AddSet(conn *nftables.Conn, set *nftables.Set, elems []nftables.SetElement) error {
	if set.ID == 0 {
		set.ID = setIDs.Add(1)
		// What nftables does for a set it numbers: the kernel names anonymous sets from
		// this pattern.
		if set.Anonymous {
			set.Name = "__set%d"
			if set.IsMap {
				set.Name = "__map%d"
			}
		}
	}
	return conn.AddSet(set, elems)
}
