package endpoints

import (
	"fmt"
	"math"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	// maxCapacity is the most addresses an Endpoints object holds.
	maxCapacity = 1000
	// truncated is the value of the over-capacity annotation.
	truncated = "truncated"
)

// shouldPodBeInEndpoints reports whether the pod can be an endpoint: it has an IP and is not
// terminal; a terminating pod only with includeTerminating.
func shouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// readyCondition returns the pod's Ready condition, or nil.
func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func isPodReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

func isIPv6(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() == nil
}

// serviceFamily is the IP family of the service's endpoints for the pod.
func serviceFamily(svc *corev1.Service, pod *corev1.Pod) corev1.IPFamily {
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		return svc.Spec.IPFamilies[0]
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		if isIPv6(svc.Spec.ClusterIP) {
			return corev1.IPv6Protocol
		}
	case isIPv6(pod.Status.PodIP):
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

// podAddress is the pod's address for the service, or false when the pod has no IP of the
// service's family.
func podAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	want6 := serviceFamily(svc, pod) == corev1.IPv6Protocol
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		if net.ParseIP(ip.IP) == nil || isIPv6(ip.IP) != want6 {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:        ip.IP,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			addr.NodeName = &pod.Spec.NodeName
		}
		if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
			addr.Hostname = pod.Spec.Hostname
		}
		return addr, true
	}
	return corev1.EndpointAddress{}, false
}

// findPort resolves a service port's targetPort for the pod (see the endpointslice package).
func findPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	switch sp.TargetPort.Type {
	case intstr.String:
		containers := pod.Spec.Containers
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers[:len(containers):len(containers)], c)
			}
		}
		for _, c := range containers {
			for _, p := range c.Ports {
				pp := p.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if p.Name == sp.TargetPort.StrVal && pp == proto {
					return p.ContainerPort, true
				}
			}
		}
		return 0, false
	default:
		if sp.TargetPort.IntVal == 0 {
			return sp.Port, true
		}
		return sp.TargetPort.IntVal, true
	}
}

// entry is one address offering one port (nil: a headless service without ports).
type entry struct {
	addr  corev1.EndpointAddress
	ready bool
	port  *corev1.EndpointPort
}

// computeSubsets returns the service's subsets for the pods, packed and sorted.
func computeSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	var entries []entry
	for _, pod := range pods {
		if !shouldPodBeInEndpoints(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		addr, ok := podAddress(svc, pod)
		if !ok {
			continue
		}
		ready := svc.Spec.PublishNotReadyAddresses || isPodReady(pod)
		if len(svc.Spec.Ports) == 0 {
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				entries = append(entries, entry{addr: addr, ready: ready})
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, ok := findPort(pod, sp)
			if !ok {
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			entries = append(entries, entry{addr: addr, ready: ready,
				port: &corev1.EndpointPort{Name: sp.Name, Port: n, Protocol: proto, AppProtocol: sp.AppProtocol}})
		}
	}
	return repack(entries)
}

func addrKey(a *corev1.EndpointAddress) string {
	uid := ""
	if a.TargetRef != nil {
		uid = string(a.TargetRef.UID)
	}
	return a.IP + "/" + uid
}

func portKey(p *corev1.EndpointPort) string {
	return fmt.Sprintf("%s/%s/%d/%v", p.Name, p.Protocol, p.Port, p.AppProtocol)
}

// repack groups addresses by the set of ports they offer: one subset per distinct port set,
// addresses and ports sorted, subsets sorted by their content.
func repack(entries []entry) []corev1.EndpointSubset {
	type addrInfo struct {
		addr  corev1.EndpointAddress
		ready bool
		ports map[string]corev1.EndpointPort
	}
	addrs := map[string]*addrInfo{}
	for _, e := range entries {
		k := addrKey(&e.addr)
		a := addrs[k]
		if a == nil {
			a = &addrInfo{addr: e.addr, ready: e.ready, ports: map[string]corev1.EndpointPort{}}
			addrs[k] = a
		}
		if e.port != nil {
			a.ports[portKey(e.port)] = *e.port
		}
	}
	type subset struct {
		s    corev1.EndpointSubset
		keys string
	}
	bySet := map[string]*subset{}
	for _, a := range addrs {
		pk := make([]string, 0, len(a.ports))
		for k := range a.ports {
			pk = append(pk, k)
		}
		sort.Strings(pk)
		setKey := strings.Join(pk, ",")
		s := bySet[setKey]
		if s == nil {
			s = &subset{keys: setKey}
			for _, k := range pk {
				s.s.Ports = append(s.s.Ports, a.ports[k])
			}
			bySet[setKey] = s
		}
		if a.ready {
			s.s.Addresses = append(s.s.Addresses, a.addr)
		} else {
			s.s.NotReadyAddresses = append(s.s.NotReadyAddresses, a.addr)
		}
	}
	out := make([]corev1.EndpointSubset, 0, len(bySet))
	keys := make([]string, 0, len(bySet))
	for k := range bySet {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := bySet[k].s
		sortAddresses(s.Addresses)
		sortAddresses(s.NotReadyAddresses)
		out = append(out, s)
	}
	return out
}

func sortAddresses(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool { return addrKey(&a[i]) < addrKey(&a[j]) })
}

// countAddresses counts ready and not-ready addresses.
func countAddresses(subsets []corev1.EndpointSubset) (ready, notReady int) {
	for _, s := range subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	return ready, notReady
}

// truncate cuts subsets down to maxCapacity addresses, keeping ready addresses first and
// sharing the room among subsets in proportion to their size. It reports whether it cut.
func truncate(subsets []corev1.EndpointSubset) bool {
	totalReady, totalNotReady := countAddresses(subsets)
	if totalReady+totalNotReady <= maxCapacity {
		return false
	}
	truncateReady := totalReady > maxCapacity
	room, total := maxCapacity-totalReady, totalNotReady
	if truncateReady {
		room, total = maxCapacity, totalReady
	}
	left := room
	for i := range subsets {
		s := &subsets[i]
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		take := min(int(math.Ceil(float64(n)/float64(total)*float64(room))), left)
		if truncateReady {
			s.Addresses = s.Addresses[:min(take, len(s.Addresses))]
			s.NotReadyAddresses = nil
			left -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(take, len(s.NotReadyAddresses))]
			left -= len(s.NotReadyAddresses)
		}
	}
	return true
}

// capacityAnnotationCorrect reports whether the over-capacity annotation is absent and need
// not be there.
func capacityAnnotationCorrect(annotations map[string]string, subsets []corev1.EndpointSubset) bool {
	r, n := countAddresses(subsets)
	if r+n > maxCapacity {
		return false
	}
	_, ok := annotations[corev1.EndpointsOverCapacity]
	return !ok
}

// triggerTimes computes the last-change-trigger-time of each service: the earliest trigger
// (pod Ready transition, service creation) that changed since the previous sync.
type triggerTimes struct {
	mu       sync.Mutex
	services map[string]*triggerState
}

type triggerState struct {
	service time.Time
	pods    map[string]time.Time
}

func newTriggerTimes() *triggerTimes { return &triggerTimes{services: map[string]*triggerState{}} }

// compute returns the trigger time for this sync (zero when nothing changed since the last
// committed sync) and a commit function recording the state it saw, to be called once the
// sync succeeded (so that a failed sync does not lose the trigger).
func (t *triggerTimes) compute(key string, svc *corev1.Service, pods []*corev1.Pod) (time.Time, func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.services[key]
	if prev == nil {
		prev = &triggerState{pods: map[string]time.Time{}}
	}
	cur := &triggerState{pods: map[string]time.Time{}}
	var earliest time.Time
	note := func(tt time.Time) {
		if earliest.IsZero() || tt.Before(earliest) {
			earliest = tt
		}
	}
	for _, pod := range pods {
		c := readyCondition(pod)
		if c == nil || c.LastTransitionTime.IsZero() {
			continue
		}
		tt := c.LastTransitionTime.Time
		cur.pods[pod.Name] = tt
		if tt.After(prev.pods[pod.Name]) {
			note(tt)
		}
	}
	cur.service = svc.CreationTimestamp.Time
	if cur.service.After(prev.service) {
		note(cur.service)
	}
	return earliest, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.services[key] = cur
	}
}

func (t *triggerTimes) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.services, key)
}
