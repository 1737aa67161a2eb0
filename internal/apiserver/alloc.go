package apiserver

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// allocator hands out ClusterIPs from the service range and NodePorts from the node port
// range. It is loaded from the stored Services on first use and kept in memory; this server is
// the only writer of Services.
type allocator struct {
	mu       sync.Mutex
	isLoaded bool
	cidr     *net.IPNet
	base     *big.Int
	size     int64
	ips      map[string]string // ip → namespace/name
	ports    map[int32]string  // node port → namespace/name
	portMin  int32
	portMax  int32
}

func newAllocator(cidr *net.IPNet, portMin, portMax int) *allocator {
	ones, bits := cidr.Mask.Size()
	size := int64(1) << uint(min(bits-ones, 20))
	return &allocator{
		cidr: cidr, base: new(big.Int).SetBytes(cidr.IP.To16()), size: size,
		ips: map[string]string{}, ports: map[int32]string{}, portMin: int32(portMin), portMax: int32(portMax),
	}
}

func (a *allocator) loaded() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.isLoaded
}

func (a *allocator) load(list func() ([]*corev1.Service, error)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.isLoaded {
		return nil
	}
	svcs, err := list()
	if err != nil {
		return err
	}
	for _, svc := range svcs {
		a.hold(svc)
	}
	a.isLoaded = true
	return nil
}

func owner(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

func (a *allocator) hold(svc *corev1.Service) {
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			a.ips[ip] = owner(svc)
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			a.ports[p.NodePort] = owner(svc)
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		a.ports[svc.Spec.HealthCheckNodePort] = owner(svc)
	}
}

// ipAt returns the i-th address of the range.
func (a *allocator) ipAt(i int64) net.IP {
	n := new(big.Int).Add(a.base, big.NewInt(i))
	b := n.Bytes()
	ip := make(net.IP, 16)
	copy(ip[16-len(b):], b)
	if a.cidr.IP.To4() != nil {
		return ip.To4()
	}
	return ip
}

// FirstIP is the address of the `kubernetes` Service.
func (a *allocator) firstIP() net.IP { return a.ipAt(1) }

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeLoadBalancer && (svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts))
}

// allocate assigns svc its ClusterIP and NodePorts (keeping old's where they stay), checking
// that requested ones are free and in range. With dry nothing is recorded.
func (a *allocator) allocate(svc, old *corev1.Service, dry bool) field.ErrorList {
	a.mu.Lock()
	defer a.mu.Unlock()
	me := owner(svc)
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	taken := map[string]bool{}
	var newIPs []string
	var newPorts []int32

	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = nil, nil
	} else {
		family := corev1.IPv4Protocol
		if a.cidr.IP.To4() == nil {
			family = corev1.IPv6Protocol
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{family}
		}
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
		}
		ip := svc.Spec.ClusterIP
		if ip == "" && len(svc.Spec.ClusterIPs) > 0 {
			ip = svc.Spec.ClusterIPs[0]
		}
		switch {
		case ip == corev1.ClusterIPNone:
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		case ip == "":
			got := a.nextFree(taken)
			if got == "" {
				errs = append(errs, field.Invalid(specPath.Child("clusterIPs"), svc.Spec.ClusterIPs, "failed to allocate IP: range is full"))
			} else {
				svc.Spec.ClusterIP, svc.Spec.ClusterIPs = got, []string{got}
				newIPs = append(newIPs, got)
			}
		default:
			parsed := net.ParseIP(ip)
			switch {
			case parsed == nil:
				// Validation reports malformed addresses.
			case old != nil && containsStr(old.Spec.ClusterIPs, ip):
			case !a.cidr.Contains(parsed):
				errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), ip,
					fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, ip, a.cidr)))
			case a.ips[ip] != "" && a.ips[ip] != me:
				errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), ip,
					fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip)))
			default:
				newIPs = append(newIPs, ip)
			}
			svc.Spec.ClusterIP = ip
			if len(svc.Spec.ClusterIPs) == 0 {
				svc.Spec.ClusterIPs = []string{ip}
			}
		}
	}

	if needsNodePorts(svc) {
		used := map[int32]bool{}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			path := specPath.Child("ports").Index(i).Child("nodePort")
			switch {
			case p.NodePort == 0:
			case old != nil && hasNodePort(old, p.NodePort):
				used[p.NodePort] = true
				continue
			case p.NodePort < a.portMin || p.NodePort > a.portMax:
				errs = append(errs, field.Invalid(path, p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.portMin, a.portMax)))
				continue
			case (a.ports[p.NodePort] != "" && a.ports[p.NodePort] != me) || used[p.NodePort]:
				errs = append(errs, field.Invalid(path, p.NodePort, "provided port is already allocated"))
				continue
			default:
				used[p.NodePort] = true
				newPorts = append(newPorts, p.NodePort)
				continue
			}
			port := a.nextPort(used)
			if port == 0 {
				errs = append(errs, field.Invalid(path, p.NodePort, "range is full"))
				continue
			}
			p.NodePort = port
			used[port] = true
			newPorts = append(newPorts, port)
		}
	} else if svc.Spec.Type == corev1.ServiceTypeClusterIP || svc.Spec.Type == corev1.ServiceTypeExternalName {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if len(errs) > 0 || dry {
		return errs
	}
	for _, ip := range newIPs {
		a.ips[ip] = me
	}
	for _, p := range newPorts {
		a.ports[p] = me
	}
	if old != nil {
		// Give back what the update dropped.
		for _, ip := range old.Spec.ClusterIPs {
			if !containsStr(svc.Spec.ClusterIPs, ip) && a.ips[ip] == me {
				delete(a.ips, ip)
			}
		}
		for _, p := range old.Spec.Ports {
			if p.NodePort != 0 && !hasNodePort(svc, p.NodePort) && a.ports[p.NodePort] == me {
				delete(a.ports, p.NodePort)
			}
		}
	}
	return nil
}

func hasNodePort(svc *corev1.Service, port int32) bool {
	for _, p := range svc.Spec.Ports {
		if p.NodePort == port {
			return true
		}
	}
	return false
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nextFree picks a free address at random, skipping the network address, the first address
// (the `kubernetes` Service asks for it explicitly) and the last.
func (a *allocator) nextFree(skip map[string]bool) string {
	if a.size < 4 {
		return ""
	}
	start := 2 + rand.Int64N(a.size-3)
	for i := int64(0); i < a.size-3; i++ {
		n := 2 + (start-2+i)%(a.size-3)
		ip := a.ipAt(n).String()
		if a.ips[ip] == "" && !skip[ip] {
			return ip
		}
	}
	return ""
}

func (a *allocator) nextPort(used map[int32]bool) int32 {
	span := a.portMax - a.portMin + 1
	start := rand.Int32N(span)
	for i := int32(0); i < span; i++ {
		p := a.portMin + (start+i)%span
		if a.ports[p] == "" && !used[p] {
			return p
		}
	}
	return 0
}

func (a *allocator) release(svc *corev1.Service) {
	a.mu.Lock()
	defer a.mu.Unlock()
	me := owner(svc)
	for _, ip := range svc.Spec.ClusterIPs {
		if a.ips[ip] == me {
			delete(a.ips, ip)
		}
	}
	for _, p := range svc.Spec.Ports {
		if a.ports[p.NodePort] == me {
			delete(a.ports, p.NodePort)
		}
	}
	if a.ports[svc.Spec.HealthCheckNodePort] == me {
		delete(a.ports, svc.Spec.HealthCheckNodePort)
	}
}
