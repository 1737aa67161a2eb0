package proxy

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kijabi/kijabi/internal/network/nft/nfttest"
)

// scale returns n Services with m endpoints each (every fifth a NodePort).
func scale(n, m int) ([]*v1.Service, []*discovery.EndpointSlice) {
	var services []*v1.Service
	var slices []*discovery.EndpointSlice
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		var opts []svcOpt
		nodePort := int32(0)
		if i%5 == 0 {
			opts = append(opts, withType(v1.ServiceTypeNodePort))
			nodePort = int32(30000 + i)
		}
		services = append(services, svc(name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
			[]v1.ServicePort{port("http", v1.ProtocolTCP, 80, nodePort)}, opts...))
		slices = append(slices, scaleSlice(name, i, m, false))
	}
	return services, slices
}

// scaleSlice is the slice of Service i; alt replaces its first endpoint.
func scaleSlice(name string, i, m int, alt bool) *discovery.EndpointSlice {
	eps := make([]ep, m)
	for j := range m {
		k := i*m + j
		eps[j] = ep{ip: fmt.Sprintf("10.%d.%d.%d", 100+k/65536, k/256%256, k%256), node: fmt.Sprintf("node-%d", j%3)}
	}
	if alt {
		eps[0].ip = fmt.Sprintf("10.99.%d.%d", i/256, i%256)
	}
	return slice(name, name+"-a", []discovery.EndpointPort{eport("http", v1.ProtocolTCP, 8080)}, eps...)
}

func BenchmarkBuild1000x10(b *testing.B) {
	services, slices := scale(1000, 10)
	for b.Loop() {
		Build("kjp-bench", testNodeInfo, services, slices)
	}
}

func BenchmarkFullSync1000x10(b *testing.B) {
	nfttest.RequireRoot(b)
	ns := newNetNS(b)
	prog, err := newProgrammer("kjp-bench", ns.Open(b))
	if err != nil {
		b.Fatal(err)
	}
	defer prog.close()
	services, slices := scale(1000, 10)
	fresh := true
	for b.Loop() {
		m := Build("kjp-bench", testNodeInfo, services, slices)
		if err := prog.sync(m, fresh); err != nil {
			b.Fatal(err)
		}
		fresh = false
	}
}

func BenchmarkOneChange1000x10(b *testing.B) {
	nfttest.RequireRoot(b)
	ns := newNetNS(b)
	prog, err := newProgrammer("kjp-bench", ns.Open(b))
	if err != nil {
		b.Fatal(err)
	}
	defer prog.close()
	services, slices := scale(1000, 10)
	if err := prog.sync(Build("kjp-bench", testNodeInfo, services, slices), true); err != nil {
		b.Fatal(err)
	}
	const i = 500
	target := types.NamespacedName{Namespace: "default", Name: services[i].Name}
	alt := false
	for b.Loop() {
		// Replace one endpoint of one Service, as a rolling update would.
		alt = !alt
		sl := scaleSlice(services[i].Name, i, 10, alt)
		sr := BuildService(testNodeInfo, services[i], []*discovery.EndpointSlice{sl})
		if err := prog.update(map[types.NamespacedName]*ServiceRules{target: sr}); err != nil {
			b.Fatal(err)
		}
	}
}
