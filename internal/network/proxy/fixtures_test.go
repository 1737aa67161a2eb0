package proxy

import (
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const testNode = "node-a"

var testNodeInfo = Node{
	Name:        testNode,
	IPs:         []netip.Addr{netip.MustParseAddr("10.200.0.1")},
	ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
}

type svcOpt func(*v1.Service)

func svc(name, clusterIP string, ports []v1.ServicePort, opts ...svcOpt) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.ServiceSpec{
			Type:      v1.ServiceTypeClusterIP,
			ClusterIP: clusterIP,
			Ports:     ports,
		},
	}
	if clusterIP != "" {
		s.Spec.ClusterIPs = []string{clusterIP}
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func port(name string, proto v1.Protocol, p int32, nodePort int32) v1.ServicePort {
	return v1.ServicePort{Name: name, Protocol: proto, Port: p, NodePort: nodePort, TargetPort: intstr.FromString(name)}
}

func withType(t v1.ServiceType) svcOpt { return func(s *v1.Service) { s.Spec.Type = t } }
func extLocal() svcOpt {
	return func(s *v1.Service) { s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal }
}
func intLocal() svcOpt {
	return func(s *v1.Service) {
		s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
	}
}
func lbIP(ip string) svcOpt {
	return func(s *v1.Service) {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: ip})
	}
}
func affinity(secs int32) svcOpt {
	return func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To(secs)}}
	}
}

type ep struct {
	ip          string
	node        string
	notReady    bool
	terminating bool
}

func slice(svcName, sliceName string, ports []discovery.EndpointPort, eps ...ep) *discovery.EndpointSlice {
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: sliceName,
			Labels: map[string]string{discovery.LabelServiceName: svcName},
		},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       ports,
	}
	for _, e := range eps {
		de := discovery.Endpoint{
			Addresses: []string{e.ip},
			Conditions: discovery.EndpointConditions{
				Ready:       ptr.To(!e.notReady && !e.terminating),
				Serving:     ptr.To(!e.notReady),
				Terminating: ptr.To(e.terminating),
			},
		}
		if e.node != "" {
			de.NodeName = ptr.To(e.node)
		}
		s.Endpoints = append(s.Endpoints, de)
	}
	return s
}

func eport(name string, proto v1.Protocol, p int32) discovery.EndpointPort {
	return discovery.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(p)}
}

// fixtures is a representative set of Services and their EndpointSlices.
func fixtures() ([]*v1.Service, []*discovery.EndpointSlice) {
	tcp, udp, sctp := v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP
	http := []discovery.EndpointPort{eport("http", tcp, 8080)}
	services := []*v1.Service{
		// ClusterIP with endpoints spread over two slices, one not ready, one listed twice.
		svc("web", "10.96.0.10", []v1.ServicePort{port("http", tcp, 80, 0)}),
		// NodePort, Cluster policy.
		svc("np", "10.96.0.11", []v1.ServicePort{port("http", tcp, 80, 30080)}, withType(v1.ServiceTypeNodePort)),
		// NodePort, Local policy, one local endpoint.
		svc("np-local", "10.96.0.12", []v1.ServicePort{port("http", tcp, 80, 30081)}, withType(v1.ServiceTypeNodePort), extLocal()),
		// LoadBalancer, Cluster policy.
		svc("lb", "10.96.0.13", []v1.ServicePort{port("http", tcp, 80, 30082)}, withType(v1.ServiceTypeLoadBalancer), lbIP("192.0.2.10")),
		// LoadBalancer, Local policy, no endpoint on this node.
		svc("lb-local", "10.96.0.14", []v1.ServicePort{port("http", tcp, 80, 30083)}, withType(v1.ServiceTypeLoadBalancer), extLocal(), lbIP("192.0.2.11")),
		// internalTrafficPolicy Local.
		svc("int-local", "10.96.0.15", []v1.ServicePort{port("http", tcp, 80, 0)}, intLocal()),
		// internalTrafficPolicy Local without local endpoints: dropped.
		svc("int-local-none", "10.96.0.16", []v1.ServicePort{port("http", tcp, 80, 0)}, intLocal()),
		// ClientIP session affinity.
		svc("sticky", "10.96.0.17", []v1.ServicePort{port("http", tcp, 80, 0)}, affinity(600)),
		// Headless and ExternalName: no rules.
		svc("headless", v1.ClusterIPNone, []v1.ServicePort{port("http", tcp, 80, 0)}),
		svc("extname", "", nil, withType(v1.ServiceTypeExternalName)),
		// No endpoints at all: reject, for a NodePort too.
		svc("empty", "10.96.0.18", []v1.ServicePort{port("http", tcp, 80, 30084), port("dns", udp, 53, 30085)}, withType(v1.ServiceTypeNodePort)),
		// Several ports and protocols, named target ports resolved per port.
		svc("multi", "10.96.0.19", []v1.ServicePort{port("http", tcp, 80, 0), port("dns", udp, 53, 0), port("sig", sctp, 9999, 0)}),
		// Only serving-and-terminating endpoints.
		svc("terminating", "10.96.0.20", []v1.ServicePort{port("http", tcp, 80, 0)}),
		// No selector: endpoints from a hand-made slice.
		svc("manual", "10.96.0.21", []v1.ServicePort{port("", tcp, 5432, 0)}),
	}
	slices := []*discovery.EndpointSlice{
		slice("web", "web-a", http, ep{ip: "10.244.1.2", node: "node-b"}, ep{ip: "10.244.0.9", node: testNode, notReady: true}),
		slice("web", "web-b", http, ep{ip: "10.244.2.3", node: "node-c"}, ep{ip: "10.244.1.2", node: "node-b"}),
		slice("np", "np-a", http, ep{ip: "10.244.0.5", node: testNode}, ep{ip: "10.244.1.5", node: "node-b"}),
		slice("np-local", "np-local-a", http, ep{ip: "10.244.0.6", node: testNode}, ep{ip: "10.244.1.6", node: "node-b"}),
		slice("lb", "lb-a", http, ep{ip: "10.244.1.7", node: "node-b"}),
		slice("lb-local", "lb-local-a", http, ep{ip: "10.244.1.8", node: "node-b"}),
		slice("int-local", "int-local-a", http, ep{ip: "10.244.0.10", node: testNode}, ep{ip: "10.244.1.10", node: "node-b"}),
		slice("int-local-none", "int-local-none-a", http, ep{ip: "10.244.1.11", node: "node-b"}),
		slice("sticky", "sticky-a", http, ep{ip: "10.244.1.12", node: "node-b"}, ep{ip: "10.244.2.12", node: "node-c"}),
		slice("headless", "headless-a", http, ep{ip: "10.244.1.13", node: "node-b"}),
		slice("multi", "multi-a", []discovery.EndpointPort{eport("http", tcp, 8080), eport("dns", udp, 5353), eport("sig", sctp, 19999)},
			ep{ip: "10.244.1.14", node: "node-b"}),
		slice("multi", "multi-b", []discovery.EndpointPort{eport("http", tcp, 8081)}, ep{ip: "10.244.2.14", node: "node-c"}),
		slice("terminating", "terminating-a", http, ep{ip: "10.244.1.15", node: "node-b", terminating: true}, ep{ip: "10.244.1.16", node: "node-b", notReady: true}),
		slice("manual", "manual-1", []discovery.EndpointPort{eport("", tcp, 5432)}, ep{ip: "10.244.3.1"}),
		// A slice of a Service that does not exist: ignored.
		slice("ghost", "ghost-a", http, ep{ip: "10.244.9.9"}),
	}
	return services, slices
}
