package overlay

import (
	"crypto/sha256"
	"net"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Defaults of the VXLAN device, as flannel's.
const (
	DefaultDevice = "kijabi.1"
	DefaultVNI    = 1
	DefaultPort   = 8472
	// Overhead is what VXLAN adds to every packet (outer Ethernet, IPv4, UDP and VXLAN
	// headers): pods' MTU is the node link's less this.
	Overhead = 50
	// BackendVXLAN is the value of AnnotationBackendType this package writes.
	BackendVXLAN = "vxlan"
)

// Node annotations: what a node publishes for its peers, and an address to announce
// instead of the InternalIP.
const (
	AnnotationBackendType       = "kijabi.io/backend-type"
	AnnotationVTEPMAC           = "kijabi.io/vtep-mac"
	AnnotationPublicIP          = "kijabi.io/public-ip"
	AnnotationPublicIPOverwrite = "kijabi.io/public-ip-overwrite"
)

// Peer is another node as the overlay sees it.
type Peer struct {
	Node string
	// PodCIDR is the node's IPv4 pod range.
	PodCIDR netip.Prefix
	// VTEPMAC is its VXLAN device's MAC; PublicIP where its VXLAN packets go.
	VTEPMAC  net.HardwareAddr
	PublicIP netip.Addr
}

// Gateway is the address of the peer's VXLAN device: the first of its pod range.
func (p Peer) Gateway() netip.Addr { return p.PodCIDR.Masked().Addr() }

// Route is `ip route replace Dst via Via dev DEVICE onlink`.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

// Neigh is a permanent neighbour entry `ip neigh replace IP lladdr MAC dev DEVICE`.
type Neigh struct {
	IP  netip.Addr
	MAC string
}

// FDB is a permanent forwarding entry `bridge fdb replace MAC dev DEVICE dst Dst`.
type FDB struct {
	MAC string
	Dst netip.Addr
}

// State is what the device should hold.
type State struct {
	Routes []Route
	Neighs []Neigh
	FDB    []FDB
}

// Equal reports whether two states hold the same entries in the same order.
func (s State) Equal(o State) bool {
	if len(s.Routes) != len(o.Routes) || len(s.Neighs) != len(o.Neighs) || len(s.FDB) != len(o.FDB) {
		return false
	}
	for i := range s.Routes {
		if s.Routes[i] != o.Routes[i] {
			return false
		}
	}
	for i := range s.Neighs {
		if s.Neighs[i] != o.Neighs[i] {
			return false
		}
	}
	for i := range s.FDB {
		if s.FDB[i] != o.FDB[i] {
			return false
		}
	}
	return true
}

// Desired is the device's state for peers: one route, neighbour and forwarding entry
// each, in the peers' order.
func Desired(peers []Peer) State {
	var s State
	for _, p := range peers {
		mac := p.VTEPMAC.String()
		s.Routes = append(s.Routes, Route{Dst: p.PodCIDR.Masked(), Via: p.Gateway()})
		s.Neighs = append(s.Neighs, Neigh{IP: p.Gateway(), MAC: mac})
		s.FDB = append(s.FDB, FDB{MAC: mac, Dst: p.PublicIP})
	}
	return s
}

// Peers are the nodes other than self that the overlay reaches, sorted by name: those
// with an IPv4 podCIDR and valid annotations of the VXLAN backend, not being deleted.
// A pod range claimed by two nodes goes to the first by name; one overlapping self's
// range (selfCIDR, if valid) is left out.
func Peers(nodes []*corev1.Node, self string, selfCIDR netip.Prefix) []Peer {
	sorted := append([]*corev1.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var peers []Peer
	for _, n := range sorted {
		if n == nil || n.Name == self || n.DeletionTimestamp != nil {
			continue
		}
		p, ok := PeerOf(n)
		if !ok {
			continue
		}
		if selfCIDR.IsValid() && selfCIDR.Overlaps(p.PodCIDR) {
			continue
		}
		clash := false
		for _, q := range peers {
			clash = clash || q.PodCIDR.Overlaps(p.PodCIDR)
		}
		if !clash {
			peers = append(peers, p)
		}
	}
	return peers
}

// PeerOf reads a node's overlay parameters; ok is false when it has none (no IPv4
// podCIDR, another backend, missing or invalid annotations).
func PeerOf(n *corev1.Node) (Peer, bool) {
	cidr, ok := PodCIDR(n)
	if !ok {
		return Peer{}, false
	}
	a := n.Annotations
	if a[AnnotationBackendType] != BackendVXLAN {
		return Peer{}, false
	}
	mac, err := net.ParseMAC(a[AnnotationVTEPMAC])
	if err != nil || len(mac) != 6 {
		return Peer{}, false
	}
	ip, err := netip.ParseAddr(a[AnnotationPublicIP])
	if err != nil || !ip.Is4() || ip.IsUnspecified() {
		return Peer{}, false
	}
	return Peer{Node: n.Name, PodCIDR: cidr, VTEPMAC: mac, PublicIP: ip}, true
}

// PodCIDR is the node's IPv4 pod range (from spec.podCIDRs, or spec.podCIDR).
func PodCIDR(n *corev1.Node) (netip.Prefix, bool) {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err == nil && p.Addr().Is4() && p.Bits() < 32 {
			return p.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// StableMAC is the VXLAN device's MAC for a node: locally administered, unicast, and
// the same at every start, so that peers' entries survive a restart of the agent.
func StableMAC(nodeName string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("kijabi-vtep/" + nodeName))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}
