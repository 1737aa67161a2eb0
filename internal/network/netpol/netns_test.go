package netpol

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kijabi/kijabi/internal/network/nft/nfttest"
)

// newNetNS makes a network namespace for one test.
func newNetNS(t testing.TB) *nfttest.NetNS { return nfttest.NewNetNS(t, "kjnp-") }

// TestProgramMatchesRender checks that what the programmer writes through netlink is
// what nft makes of the rendering (which the golden files hold).
func TestProgramMatchesRender(t *testing.T) {
	nfttest.RequireRoot(t)
	pods, namespaces := world()
	for name, pols := range map[string][]*networkingv1.NetworkPolicy{"golden": goldenPolicies(), "empty": nil} {
		t.Run(name, func(t *testing.T) {
			nsA, nsB := newNetNS(t), newNetNS(t)
			prog, err := newProgrammer("kjnp-test", nsA.Open(t))
			if err != nil {
				t.Fatal(err)
			}
			defer prog.close()
			rs := Build("kjnp-test", Compute(testNode, pods, namespaces, pols))
			if err := prog.apply(rs, true); err != nil {
				t.Fatal(err)
			}
			nsB.NftLoad(t, Render(rs))
			got, want := nsA.ListTable(t, "kjnp-test"), nsB.ListTable(t, "kjnp-test")
			if d := cmp.Diff(nfttest.Normalize(want), nfttest.Normalize(got)); d != "" {
				t.Fatalf("programmed table differs from nft -f of the rendering (-want +got):\n%s\nlisting:\n%s", d, got)
			}
		})
	}
}

// TestProgramIncremental checks that an update leaves the table as a fresh load of
// the new ruleset would, and rewrites only what changed.
func TestProgramIncremental(t *testing.T) {
	nfttest.RequireRoot(t)
	nsA := newNetNS(t)
	prog, err := newProgrammer("kjnp-test", nsA.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	defer prog.close()
	pods, namespaces := world()
	pols := goldenPolicies()
	first := Build("kjnp-test", Compute(testNode, pods, namespaces, pols))
	if err := prog.apply(first, true); err != nil {
		t.Fatal(err)
	}
	handles := func(chain string) string {
		return nsA.Exec(t, "nft", "-a", "list", "chain", "ip", "kjnp-test", chain)
	}
	dbChain := "ingress-S3S2KSSB-prod/db"
	before := handles(dbChain)

	// prod/other becomes a client (joins peer sets, gets an egress chain), dev/client
	// goes away, a web policy is deleted, a pod with web's old address appears.
	var pods2 []*v1.Pod
	for _, p := range pods {
		switch {
		case p.Namespace == "prod" && p.Name == "other":
			p = mkPod("prod", "other", other, lbl("role", "client"))
		case p.Namespace == "dev" && p.Name == "client":
			continue
		case p.Namespace == "prod" && p.Name == "web":
			p = mkPod("prod", "web2", web, lbl("app", "web"), cport("http", "", 8081))
		}
		pods2 = append(pods2, p)
	}
	pols2 := slices.DeleteFunc(slices.Clone(pols), func(np *networkingv1.NetworkPolicy) bool { return np.Name == "client-egress" })
	pols2 = append(pols2, mkPolicy("prod", "clients-out", lbl("role", "client"), egressOnly, allowTo(peers(podPeer(lbl("app", "db"))))))
	for _, step := range []struct {
		name string
		rs   *Ruleset
	}{
		{"changes", Build("kjnp-test", Compute(testNode, pods2, namespaces, pols2))},
		{"back", first},
		{"no policies", Build("kjnp-test", Compute(testNode, pods, namespaces, nil))},
		{"policies again", first},
	} {
		if err := prog.apply(step.rs, false); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		nsB := newNetNS(t)
		nsB.NftLoad(t, Render(step.rs))
		if d := cmp.Diff(nfttest.Normalize(nsB.ListTable(t, "kjnp-test")), nfttest.Normalize(nsA.ListTable(t, "kjnp-test"))); d != "" {
			t.Fatalf("%s: table after an incremental update differs from a fresh load (-want +got):\n%s", step.name, d)
		}
		if step.name == "changes" {
			if after := handles(dbChain); after != before {
				t.Errorf("an unchanged chain was rewritten:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		}
	}
	if err := prog.deleteTable(); err != nil {
		t.Fatal(err)
	}
	if got := nsA.ListTable(t, "kjnp-test"); got != "" {
		t.Fatalf("table still there after delete:\n%s", got)
	}
}
