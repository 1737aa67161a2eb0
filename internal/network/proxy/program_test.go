package proxy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kijabi/kijabi/internal/network/nft/nfttest"
)

func TestProgramMatchesRender(t *testing.T) {
	nfttest.RequireRoot(t)
	for _, node := range []Node{testNodeInfo, {Name: testNode}} {
		nsA, nsB := newNetNS(t), newNetNS(t)
		prog, err := newProgrammer("kjp-test", nsA.Open(t))
		if err != nil {
			t.Fatal(err)
		}
		services, slices := fixtures()
		m := Build("kjp-test", node, services, slices)
		if err := prog.sync(m, true); err != nil {
			t.Fatal(err)
		}
		nsB.NftLoad(t, Render(m))
		got, want := nsA.ListTable(t, "kjp-test"), nsB.ListTable(t, "kjp-test")
		if d := cmp.Diff(nfttest.Normalize(want), nfttest.Normalize(got)); d != "" {
			t.Fatalf("programmed table differs from nft -f of the rendering (-want +got):\n%s\nlisting:\n%s", d, got)
		}
		_ = prog.close()
	}
}

func TestProgramIncremental(t *testing.T) {
	nfttest.RequireRoot(t)
	nsA, nsB := newNetNS(t), newNetNS(t)
	prog, err := newProgrammer("kjp-test", nsA.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	defer prog.close()
	services, slices := fixtures()
	if err := prog.sync(Build("kjp-test", testNodeInfo, services, slices), true); err != nil {
		t.Fatal(err)
	}
	handles := func() string {
		return nsA.Exec(t, "nft", "-a", "list", "chain", "ip", "kjp-test", "service-72VBRUMN-default/manual/tcp/")
	}
	before := handles()

	// Change several Services at once.
	byName := map[string]*v1.Service{}
	for _, s := range services {
		byName[s.Name] = s
	}
	var newServices []*v1.Service
	for _, s := range services {
		switch s.Name {
		case "np": // deleted
			continue
		case "sticky": // affinity timeout changed: sets redefined
			s = s.DeepCopy()
			affinity(900)(s)
		}
		newServices = append(newServices, s)
	}
	newServices = append(newServices, svc("added", "10.96.0.30", []v1.ServicePort{port("http", v1.ProtocolTCP, 80, 0)}))
	http := []discovery.EndpointPort{eport("http", v1.ProtocolTCP, 8080)}
	var newSlices []*discovery.EndpointSlice
	for _, s := range slices {
		if s.Name == "web-b" { // endpoint moved
			s = slice("web", "web-b", http, ep{ip: "10.244.2.99", node: "node-c"})
		}
		newSlices = append(newSlices, s)
	}
	newSlices = append(newSlices,
		slice("added", "added-a", http, ep{ip: "10.244.5.1"}),
		slice("empty", "empty-a", []discovery.EndpointPort{eport("http", v1.ProtocolTCP, 80)}, ep{ip: "10.244.5.2"}),
		slice("lb-local", "lb-local-b", http, ep{ip: "10.244.0.40", node: testNode}),
	)
	want := Build("kjp-test", testNodeInfo, newServices, newSlices)
	changes := map[types.NamespacedName]*ServiceRules{}
	for _, n := range []string{"np", "sticky", "added", "web", "empty", "lb-local"} {
		changes[types.NamespacedName{Namespace: "default", Name: n}] = nil
	}
	for _, sr := range want.Services {
		if _, ok := changes[sr.Name]; ok {
			changes[sr.Name] = sr
		}
	}
	if err := prog.update(changes); err != nil {
		t.Fatal(err)
	}
	nsB.NftLoad(t, Render(want))
	if d := cmp.Diff(nfttest.Normalize(nsB.ListTable(t, "kjp-test")), nfttest.Normalize(nsA.ListTable(t, "kjp-test"))); d != "" {
		t.Fatalf("table after incremental update differs from a fresh load of the new model (-want +got):\n%s", d)
	}
	if after := handles(); after != before {
		t.Errorf("an unchanged Service's chain was rewritten:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A periodic full sync over the existing table gives the same result.
	if err := prog.sync(want, false); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(nfttest.Normalize(nsB.ListTable(t, "kjp-test")), nfttest.Normalize(nsA.ListTable(t, "kjp-test"))); d != "" {
		t.Fatalf("table after an in-place full sync differs (-want +got):\n%s", d)
	}
	// And back to the original, in place (chains and sets removed).
	orig := Build("kjp-test", testNodeInfo, services, slices)
	if err := prog.sync(orig, false); err != nil {
		t.Fatal(err)
	}
	nsC := newNetNS(t)
	nsC.NftLoad(t, Render(orig))
	if d := cmp.Diff(nfttest.Normalize(nsC.ListTable(t, "kjp-test")), nfttest.Normalize(nsA.ListTable(t, "kjp-test"))); d != "" {
		t.Fatalf("table after a full sync back differs (-want +got):\n%s", d)
	}
	if err := prog.deleteTable(); err != nil {
		t.Fatal(err)
	}
	if got := nsA.ListTable(t, "kjp-test"); got != "" {
		t.Fatalf("table still there after delete:\n%s", got)
	}
}
