package nft

import (
	"sync"
	"testing"

	"github.com/google/nftables"
)

// TestAddSetConcurrently adds sets from two goroutines, as the proxy and the
// NetworkPolicy controller of one agent do: run with -race, it fails if set IDs come
// from unsynchronised state. Every set gets its own ID.
func TestAddSetConcurrently(t *testing.T) {
	const perWorker = 200
	ids := make([][]uint32, 2)
	var wg sync.WaitGroup
	for w := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := nftables.New()
			if err != nil {
				t.Error(err)
				return
			}
			table := &nftables.Table{Name: "t", Family: nftables.TableFamilyIPv4}
			for i := 0; i < perWorker; i++ {
				s := &nftables.Set{Table: table, Name: "s", KeyType: nftables.TypeIPAddr}
				if err := AddSet(conn, s, nil); err != nil {
					t.Error(err)
					return
				}
				ids[w] = append(ids[w], s.ID)
			}
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, list := range ids {
		for _, id := range list {
			if id == 0 || seen[id] {
				t.Fatalf("set ID %d given twice or not at all", id)
			}
			seen[id] = true
		}
	}
}

// TestAddSetNamesAnonymousSets: a numbered anonymous set is named for the kernel, as
// nftables names the sets it numbers itself.
func TestAddSetNamesAnonymousSets(t *testing.T) {
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: "t", Family: nftables.TableFamilyIPv4}
	set := &nftables.Set{Table: table, Anonymous: true, Constant: true, KeyType: nftables.TypeIPAddr}
	vmap := &nftables.Set{Table: table, Anonymous: true, Constant: true, IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeVerdict}
	for _, s := range []*nftables.Set{set, vmap} {
		if err := AddSet(conn, s, nil); err != nil {
			t.Fatal(err)
		}
	}
	if set.Name != "__set%d" || vmap.Name != "__map%d" || set.ID == 0 || vmap.ID == set.ID {
		t.Fatalf("anonymous sets: %q (id %d), %q (id %d)", set.Name, set.ID, vmap.Name, vmap.ID)
	}
}
