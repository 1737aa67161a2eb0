package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceCells(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(3 * time.Minute)}
	sel := map[string]string{"app": "web"}
	tcp := func(port, nodePort int32) corev1.ServicePort {
		return corev1.ServicePort{Port: port, NodePort: nodePort, Protocol: corev1.ProtocolTCP}
	}
	svc := func(typ corev1.ServiceType, mutate func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{Type: typ, Selector: sel,
			ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"}, Ports: []corev1.ServicePort{tcp(80, 0)}}}
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	runCells(t, mustFor(t, "", "services"), []cellsCase{
		{
			name: "cluster IP",
			obj: svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP})
			}),
			want: []interface{}{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "3m", "app=web"},
		},
		{
			name: "headless without ports or selector",
			obj: svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports, s.Spec.Selector = "None", []string{"None"}, nil, nil
			}),
			want: []interface{}{"web", "ClusterIP", "None", "<none>", "<none>", "3m", "<none>"},
		},
		{
			name: "cluster IP only in the singular field",
			obj: svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
				s.Spec.ClusterIPs = nil
			}),
			want: []interface{}{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "3m", "app=web"},
		},
		{
			name: "node port with external IPs",
			obj: svc(corev1.ServiceTypeNodePort, func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{tcp(80, 30080), tcp(443, 30443)}
				s.Spec.ExternalIPs = []string{"192.0.2.1", "192.0.2.2"}
			}),
			want: []interface{}{"web", "NodePort", "10.96.0.10", "192.0.2.1,192.0.2.2", "80:30080/TCP,443:30443/TCP", "3m", "app=web"},
		},
		{
			name: "load balancer pending",
			obj: svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{tcp(80, 31000)}
			}),
			want: []interface{}{"web", "LoadBalancer", "10.96.0.10", "<pending>", "80:31000/TCP", "3m", "app=web"},
		},
		{
			name: "load balancer with ingress points and external IPs",
			obj: svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{
					{IP: "203.0.113.9"}, {Hostname: "lb.example.com"}, {IP: "203.0.113.1"}, {IP: "203.0.113.9"},
				}
				s.Spec.ExternalIPs = []string{"192.0.2.7"}
			}),
			want: []interface{}{"web", "LoadBalancer", "10.96.0.10", "203.0.113.1,203.0.113.9,lb.example.com,192.0.2.7", "80/TCP", "3m", "app=web"},
		},
		{
			name: "external name",
			obj: svc(corev1.ServiceTypeExternalName, func(s *corev1.Service) {
				s.Spec.ExternalName, s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports = "db.example.com", "", nil, nil
			}),
			want: []interface{}{"web", "ExternalName", "<none>", "db.example.com", "<none>", "3m", "app=web"},
		},
	})
}

func TestEndpointsCells(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	runCells(t, mustFor(t, "", "endpoints"), []cellsCase{
		{name: "none", obj: &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "e"}},
			want: []interface{}{"e", "<none>", "<unknown>"}},
		{name: "two ports, more than three endpoints", obj: &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "e"},
			Subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2"),
				Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}}},
			want: []interface{}{"e", "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...", "<unknown>"}},
		{name: "headless without ports", obj: &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "e"},
			Subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "fd00::1")}}},
			want: []interface{}{"e", "10.0.0.1,fd00::1", "<unknown>"}},
		{name: "IPv6 with port", obj: &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "e"},
			Subsets: []corev1.EndpointSubset{{Addresses: addrs("fd00::1"), Ports: []corev1.EndpointPort{{Port: 8080}}}}},
			want: []interface{}{"e", "[fd00::1]:8080", "<unknown>"}},
	})
}

func TestEndpointSliceCells(t *testing.T) {
	runCells(t, mustFor(t, "discovery.k8s.io", "endpointslices"), []cellsCase{
		{name: "empty", obj: &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc"}, AddressType: discoveryv1.AddressTypeIPv4},
			want: []interface{}{"web-abc", "IPv4", "<unset>", "<unset>", "<unknown>"}},
		{name: "ports and endpoints", obj: &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc"},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}},
				{Addresses: []string{"10.0.0.3"}}, {Addresses: []string{"10.0.0.4"}}, {Addresses: []string{"10.0.0.5"}}}},
			want: []interface{}{"web-abc", "IPv4", "80,metrics,*", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", "<unknown>"}},
	})
}

func TestIngressCells(t *testing.T) {
	rules := func(hosts ...string) []networkingv1.IngressRule {
		var out []networkingv1.IngressRule
		for _, h := range hosts {
			out = append(out, networkingv1.IngressRule{Host: h})
		}
		return out
	}
	meta := metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Minute)}
	runCells(t, mustFor(t, "networking.k8s.io", "ingresses"), []cellsCase{
		{name: "catch-all without class", obj: &networkingv1.Ingress{ObjectMeta: meta, Spec: networkingv1.IngressSpec{Rules: rules("")}},
			want: []interface{}{"web", "<none>", "*", "", "80", "60s"}},
		{name: "hosts, TLS and addresses", obj: &networkingv1.Ingress{ObjectMeta: meta,
			Spec: networkingv1.IngressSpec{IngressClassName: ptr("nginx"), Rules: rules("a.example", "", "b.example", "c.example", "d.example"),
				TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.example"}}}},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{
				Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.5"}, {Hostname: "lb.example"}}}}},
			want: []interface{}{"web", "nginx", "a.example,b.example,c.example + 2 more...", "203.0.113.5,lb.example", "80, 443", "60s"}},
	})
}
