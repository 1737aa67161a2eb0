package dns

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// TestIndexPTR checks that PTR names follow updates and deletions, also when two
// services share an endpoint address.
func TestIndexPTR(t *testing.T) {
	x := newIndex("cluster.local.", func() time.Time { return fixedNow })
	headless := func(name string) *corev1.Service {
		return svc("ns", name, func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })
	}
	a := slice("ns", "a", "a-1", discoveryv1.AddressTypeIPv4, nil, ep{ip: "10.0.0.1", host: "p"}, ep{ip: "10.0.0.2", ready: ptr.To(true)})
	b := slice("ns", "b", "b-1", discoveryv1.AddressTypeIPv4, nil, ep{ip: "10.0.0.1"})
	ptrOf := func(ip string) []string {
		x.mu.RLock()
		defer x.mu.RUnlock()
		return x.ptr[netip.MustParseAddr(ip)]
	}
	x.update("ns", "a", func() *service { return buildService(x.domain, headless("a"), []*discoveryv1.EndpointSlice{a}) })
	x.update("ns", "b", func() *service { return buildService(x.domain, headless("b"), []*discoveryv1.EndpointSlice{b}) })
	if got, want := ptrOf("10.0.0.1"), []string{"10-0-0-1.b.ns.svc.cluster.local.", "p.a.ns.svc.cluster.local."}; !slices.Equal(got, want) {
		t.Errorf("PTR 10.0.0.1 = %v, want %v", got, want)
	}
	held := ptrOf("10.0.0.1")
	// a loses its endpoints.
	x.update("ns", "a", func() *service { return buildService(x.domain, headless("a"), nil) })
	if got, want := ptrOf("10.0.0.1"), []string{"10-0-0-1.b.ns.svc.cluster.local."}; !slices.Equal(got, want) {
		t.Errorf("PTR 10.0.0.1 = %v, want %v", got, want)
	}
	if len(held) != 2 {
		t.Errorf("a reader's PTR slice changed under it: %v", held)
	}
	if got := ptrOf("10.0.0.2"); got != nil {
		t.Errorf("PTR 10.0.0.2 = %v after its endpoint went", got)
	}
	x.update("ns", "b", func() *service { return nil })
	x.update("ns", "a", func() *service { return nil })
	if len(x.ptr) != 0 || len(x.services) != 0 || len(x.namespaces) != 0 {
		t.Errorf("index not empty after deletions: %v %v %v", x.ptr, x.services, x.namespaces)
	}
}
