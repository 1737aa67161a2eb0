package endpointslice

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const (
	// ControllerName is the value of the endpointslice.kubernetes.io/managed-by label on the
	// slices this controller manages.
	ControllerName = "endpointslice-controller.k8s.io"
	// MaxEndpointsPerSlice is the most endpoints the controller puts in one slice.
	MaxEndpointsPerSlice = 100
	// labelHeadless marks the slices of headless services.
	labelHeadless = "service.kubernetes.io/headless"
)

// serviceKind is the kind of the slices' owners.
var serviceKind = corev1.SchemeGroupVersion.WithKind("Service")

// ShouldPodBeInEndpoints reports whether the pod can be an endpoint at all: it has an IP and
// is not terminal (Succeeded or Failed). Terminating pods count only with includeTerminating.
func ShouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// isPodReady reports whether the pod's Ready condition is True.
func isPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// FindPort resolves a service port's targetPort for the pod: a name is looked up among the
// pod's container ports (and those of sidecar init containers) with the same protocol.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	tp := sp.TargetPort
	switch tp.Type {
	case intstr.String:
		containers := pod.Spec.Containers
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers[:len(containers):len(containers)], c)
			}
		}
		for _, c := range containers {
			for _, p := range c.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				if p.Name == tp.StrVal && proto == protocolOf(sp) {
					return p.ContainerPort, nil
				}
			}
		}
	case intstr.Int:
		if tp.IntVal == 0 {
			return sp.Port, nil
		}
		return tp.IntVal, nil
	}
	return 0, fmt.Errorf("no suitable port %q for pod %s/%s", tp.String(), pod.Namespace, pod.Name)
}

func protocolOf(sp *corev1.ServicePort) corev1.Protocol {
	if sp.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return sp.Protocol
}

// EndpointPorts returns the service's ports as resolved for the pod; ports the pod cannot
// resolve are left out.
func EndpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	var out []discoveryv1.EndpointPort
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		port, err := FindPort(pod, sp)
		if err != nil {
			continue
		}
		out = append(out, discoveryv1.EndpointPort{
			Name:        ptr.To(sp.Name),
			Port:        ptr.To(port),
			Protocol:    ptr.To(protocolOf(sp)),
			AppProtocol: sp.AppProtocol,
		})
	}
	return out
}

// AddressTypes returns the address types of the service's slices: its ipFamilies, else the
// family of its cluster IP, else IPv4.
func AddressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discoveryv1.AddressTypeIPv6)
		}
	}
	if len(out) > 0 {
		return out
	}
	if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil && ip.To4() == nil {
		return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv6}
	}
	return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
}

// podAddresses returns the pod's IPs of the address type.
func podAddresses(pod *corev1.Pod, at discoveryv1.AddressType) []string {
	ips := make([]string, 0, 2)
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = append(ips, pod.Status.PodIP)
	}
	var out []string
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			continue
		}
		if (ip.To4() != nil) == (at == discoveryv1.AddressTypeIPv4) {
			out = append(out, s)
		}
	}
	return out
}

// ShouldSetHostname reports whether the pod's endpoint carries its hostname: the pod has one
// and its subdomain is the service (in the same namespace).
func ShouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace
}

// PodEndpoint is the pod's endpoint in a slice of the address type; node may be nil.
func PodEndpoint(pod *corev1.Pod, node *corev1.Node, svc *corev1.Service, at discoveryv1.AddressType) discoveryv1.Endpoint {
	serving := isPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses: podAddresses(pod, at),
		Conditions: discoveryv1.EndpointConditions{
			Ready: ptr.To(ready), Serving: ptr.To(serving), Terminating: ptr.To(terminating),
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		ep.NodeName = ptr.To(pod.Spec.NodeName)
	}
	if node != nil {
		if z := node.Labels[corev1.LabelTopologyZone]; z != "" {
			ep.Zone = ptr.To(z)
		}
	}
	if ShouldSetHostname(pod, svc) {
		ep.Hostname = ptr.To(pod.Spec.Hostname)
	}
	return ep
}

// groupKey identifies the slices that can hold an endpoint: same address type, same ports.
type groupKey struct {
	addressType discoveryv1.AddressType
	ports       string
}

// group is the desired content of one groupKey's slices.
type group struct {
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint // sorted by endpointKey
}

// portsKey is a canonical string for a set of endpoint ports.
func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		parts = append(parts, fmt.Sprintf("%s/%s/%d/%s", ptr.Deref(p.Name, ""), ptr.Deref(p.Protocol, ""),
			ptr.Deref(p.Port, 0), ptr.Deref(p.AppProtocol, "")))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func sortedPorts(ports []discoveryv1.EndpointPort) []discoveryv1.EndpointPort {
	out := append([]discoveryv1.EndpointPort(nil), ports...)
	sort.SliceStable(out, func(i, j int) bool { return ptr.Deref(out[i].Name, "") < ptr.Deref(out[j].Name, "") })
	return out
}

// endpointKey identifies an endpoint across syncs: its pod, else its first address.
func endpointKey(ep *discoveryv1.Endpoint) string {
	if ep.TargetRef != nil && ep.TargetRef.UID != "" {
		return "uid:" + string(ep.TargetRef.UID)
	}
	if len(ep.Addresses) > 0 {
		return "ip:" + ep.Addresses[0]
	}
	return ""
}

// NodeGetter returns the named node, or false when it is not known.
type NodeGetter func(name string) (*corev1.Node, bool)

// desiredEndpoints groups the endpoints of the service's pods. Pods whose node is unknown are
// skipped (unless the service publishes not-ready addresses) and reported in skipped, so the
// caller can retry.
func desiredEndpoints(svc *corev1.Service, pods []*corev1.Pod, nodes NodeGetter) (groups map[groupKey]*group, skipped []string) {
	groups = map[groupKey]*group{}
	types := AddressTypes(svc)
	for _, pod := range pods {
		if !ShouldPodBeInEndpoints(pod, true) {
			continue
		}
		node, ok := nodes(pod.Spec.NodeName)
		if !ok {
			if !svc.Spec.PublishNotReadyAddresses {
				skipped = append(skipped, pod.Name)
				continue
			}
			node = nil
		}
		ports := sortedPorts(EndpointPorts(svc, pod))
		pk := portsKey(ports)
		for _, at := range types {
			ep := PodEndpoint(pod, node, svc, at)
			if len(ep.Addresses) == 0 {
				continue
			}
			k := groupKey{at, pk}
			g := groups[k]
			if g == nil {
				g = &group{ports: ports}
				groups[k] = g
			}
			g.endpoints = append(g.endpoints, ep)
		}
	}
	for _, g := range groups {
		sort.Slice(g.endpoints, func(i, j int) bool { return endpointKey(&g.endpoints[i]) < endpointKey(&g.endpoints[j]) })
	}
	return groups, skipped
}

// sliceLabels are the labels of the service's slices: the service's own, the service name,
// the manager, and the headless marker.
func sliceLabels(svc *corev1.Service) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		if k == discoveryv1.LabelServiceName || k == discoveryv1.LabelManagedBy || k == labelHeadless {
			continue
		}
		l[k] = v
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ControllerName
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[labelHeadless] = ""
	}
	return l
}

// newSlice is a slice to create for the service.
func newSlice(svc *corev1.Service, at discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    svc.Name + "-",
			Namespace:       svc.Namespace,
			Labels:          sliceLabels(svc),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, serviceKind)},
		},
		AddressType: at,
		Endpoints:   eps,
		Ports:       ports,
	}
}

// ownedBy reports whether the slice's controller is the service (this incarnation of it).
func ownedBy(slice *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	ref := metav1.GetControllerOfNoCopy(slice)
	return ref != nil && ref.UID == svc.UID && ref.Kind == serviceKind.Kind
}

// Plan is what reconcile wants done: creations, updates (full objects) and deletions.
type Plan struct {
	Create, Update, Delete []*discoveryv1.EndpointSlice
}

// sliceState is an existing slice being reconciled.
type sliceState struct {
	slice     *discoveryv1.EndpointSlice
	endpoints []discoveryv1.Endpoint
	changed   bool
}

// reconcile decides how to turn the existing slices (managed for the service, not being
// deleted) into the desired groups, reusing existing slices where it can.
func reconcile(svc *corev1.Service, desired map[groupKey]*group, existing []*discoveryv1.EndpointSlice) Plan {
	var plan Plan
	labels := sliceLabels(svc)
	ref := *metav1.NewControllerRef(svc, serviceKind)

	existing = append([]*discoveryv1.EndpointSlice(nil), existing...)
	sort.Slice(existing, func(i, j int) bool { return existing[i].Name < existing[j].Name })
	byGroup := map[groupKey][]*discoveryv1.EndpointSlice{}
	placeholders := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	familyHasEndpoints := map[discoveryv1.AddressType]bool{}
	for k := range desired {
		familyHasEndpoints[k.addressType] = true
	}
	wantFamily := map[discoveryv1.AddressType]bool{}
	for _, at := range AddressTypes(svc) {
		wantFamily[at] = true
	}
	for _, s := range existing {
		if !ownedBy(s, svc) || !wantFamily[s.AddressType] {
			plan.Delete = append(plan.Delete, s)
			continue
		}
		k := groupKey{s.AddressType, portsKey(s.Ports)}
		if _, ok := desired[k]; ok {
			byGroup[k] = append(byGroup[k], s)
			continue
		}
		if len(s.Endpoints) == 0 && !familyHasEndpoints[s.AddressType] {
			placeholders[s.AddressType] = append(placeholders[s.AddressType], s)
			continue
		}
		plan.Delete = append(plan.Delete, s)
	}

	// finish writes a reconciled existing slice: update it if anything changed.
	finish := func(st *sliceState, ports []discoveryv1.EndpointPort) {
		s := st.slice
		changed := st.changed ||
			!equality.Semantic.DeepEqual(s.Labels, labels) ||
			!equality.Semantic.DeepEqual(s.OwnerReferences, []metav1.OwnerReference{ref}) ||
			!equality.Semantic.DeepEqual(s.Ports, ports) && !(len(s.Ports) == 0 && len(ports) == 0)
		if !changed {
			return
		}
		u := s.DeepCopy()
		u.Labels = labels
		u.OwnerReferences = []metav1.OwnerReference{ref}
		u.Ports = ports
		u.Endpoints = st.endpoints
		plan.Update = append(plan.Update, u)
	}

	keys := make([]groupKey, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].addressType != keys[j].addressType {
			return keys[i].addressType < keys[j].addressType
		}
		return keys[i].ports < keys[j].ports
	})
	for _, k := range keys {
		g := desired[k]
		remaining := map[string]discoveryv1.Endpoint{}
		for _, ep := range g.endpoints {
			remaining[endpointKey(&ep)] = ep
		}
		var states, emptied []*sliceState
		for _, s := range byGroup[k] {
			st := &sliceState{slice: s}
			for i := range s.Endpoints {
				ek := endpointKey(&s.Endpoints[i])
				want, ok := remaining[ek]
				if !ok || len(st.endpoints) >= MaxEndpointsPerSlice {
					st.changed = true
					continue
				}
				delete(remaining, ek)
				if !equality.Semantic.DeepEqual(want, s.Endpoints[i]) {
					st.changed = true
				}
				st.endpoints = append(st.endpoints, want)
			}
			if len(st.endpoints) == 0 {
				emptied = append(emptied, st)
				continue
			}
			states = append(states, st)
		}
		// What is still to place, in a stable order.
		var todo []discoveryv1.Endpoint
		for _, ep := range g.endpoints {
			if _, ok := remaining[endpointKey(&ep)]; ok {
				todo = append(todo, ep)
			}
		}
		fill := func(st *sliceState) {
			n := min(MaxEndpointsPerSlice-len(st.endpoints), len(todo))
			if n <= 0 {
				return
			}
			st.endpoints = append(st.endpoints, todo[:n]...)
			todo = todo[n:]
			st.changed = true
		}
		// Slices we update anyway first, then the others, then emptied ones, before creating.
		for _, st := range states {
			if st.changed {
				fill(st)
			}
		}
		for _, st := range states {
			if !st.changed {
				fill(st)
			}
		}
		for _, st := range emptied {
			if len(todo) == 0 {
				plan.Delete = append(plan.Delete, st.slice)
				continue
			}
			fill(st)
			states = append(states, st)
		}
		for _, st := range states {
			finish(st, g.ports)
		}
		for len(todo) > 0 {
			n := min(MaxEndpointsPerSlice, len(todo))
			plan.Create = append(plan.Create, newSlice(svc, k.addressType, g.ports, todo[:n:n]))
			todo = todo[n:]
		}
	}

	// A family without endpoints keeps (or gets) one empty placeholder slice.
	for _, at := range AddressTypes(svc) {
		if familyHasEndpoints[at] {
			continue
		}
		ph := placeholders[at]
		if len(ph) == 0 {
			plan.Create = append(plan.Create, newSlice(svc, at, nil, nil))
			continue
		}
		finish(&sliceState{slice: ph[0]}, nil)
		plan.Delete = append(plan.Delete, ph[1:]...)
	}
	return plan
}

// resourceVersionOf parses a resourceVersion (0 when it is not a number).
func resourceVersionOf(rv string) uint64 {
	n, _ := strconv.ParseUint(rv, 10, 64)
	return n
}
