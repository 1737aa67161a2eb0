package scheduler

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

type protoPort struct {
	protocol v1.Protocol
	port     int32
}

// NodeInfo is a node plus the aggregates of the pods bound (or assumed) to it.
// Node is nil for a "ghost" entry that only holds pods whose node the node
// informer has not delivered yet (or already deleted); ghosts are never
// candidates.
type NodeInfo struct {
	Node        *v1.Node
	Allocatable Resource

	pods     []*PodInfo
	podIndex map[types.UID]int

	// Requested sums PodRequests of all pods; NonZero* use scoring defaults.
	Requested  Resource
	NonZeroCPU int64
	NonZeroMem int64

	usedPorts      map[hostPort]int
	usedProtoPorts map[protoPort]int

	podsWithAffinity     int
	podsWithRequiredAnti int
}

func newNodeInfo() *NodeInfo {
	return &NodeInfo{podIndex: map[types.UID]int{}}
}

func (n *NodeInfo) setNode(node *v1.Node) {
	n.Node = node
	if node != nil {
		n.Allocatable = resourceFromList(node.Status.Allocatable)
	} else {
		n.Allocatable = Resource{}
	}
}

// Pods returns the pods on the node (shared; do not modify).
func (n *NodeInfo) Pods() []*PodInfo { return n.pods }

func (n *NodeInfo) name() string {
	if n.Node == nil {
		return ""
	}
	return n.Node.Name
}

func (n *NodeInfo) addPod(p *PodInfo) {
	n.podIndex[p.Pod.UID] = len(n.pods)
	n.pods = append(n.pods, p)
	n.account(p, 1)
}

func (n *NodeInfo) removePod(uid types.UID) *PodInfo {
	i, ok := n.podIndex[uid]
	if !ok {
		return nil
	}
	p := n.pods[i]
	last := len(n.pods) - 1
	n.pods[i] = n.pods[last]
	n.podIndex[n.pods[i].Pod.UID] = i
	n.pods[last] = nil
	n.pods = n.pods[:last]
	delete(n.podIndex, uid)
	n.account(p, -1)
	return p
}

func (n *NodeInfo) account(p *PodInfo, sign int) {
	s := int64(sign)
	n.Requested.add(&p.Requests, s)
	n.NonZeroCPU += s * p.NonZeroCPU
	n.NonZeroMem += s * p.NonZeroMem
	for _, hp := range p.Ports {
		if n.usedPorts == nil {
			n.usedPorts = map[hostPort]int{}
			n.usedProtoPorts = map[protoPort]int{}
		}
		pp := protoPort{hp.protocol, hp.port}
		n.usedPorts[hp] += sign
		n.usedProtoPorts[pp] += sign
		if n.usedPorts[hp] <= 0 {
			delete(n.usedPorts, hp)
		}
		if n.usedProtoPorts[pp] <= 0 {
			delete(n.usedProtoPorts, pp)
		}
	}
	if p.hasAffinity() {
		n.podsWithAffinity += sign
	}
	if len(p.RequiredAnti) > 0 {
		n.podsWithRequiredAnti += sign
	}
}

// portConflict reports whether hp collides with a port in use (upstream
// HostPortInfo.CheckConflict: 0.0.0.0 conflicts with every IP).
func (n *NodeInfo) portConflict(hp hostPort, extra map[hostPort]int) bool {
	if hp.ip == anyIP {
		if n.usedProtoPorts[protoPort{hp.protocol, hp.port}] > 0 {
			return true
		}
		for e := range extra {
			if e.protocol == hp.protocol && e.port == hp.port {
				return true
			}
		}
		return false
	}
	for _, k := range []hostPort{hp, {ip: anyIP, protocol: hp.protocol, port: hp.port}} {
		if n.usedPorts[k] > 0 || extra[k] > 0 {
			return true
		}
	}
	return false
}

// clone copies the node info deeply enough to add and remove pods.
func (n *NodeInfo) clone() *NodeInfo {
	c := &NodeInfo{
		Node: n.Node, Allocatable: n.Allocatable,
		pods:      append([]*PodInfo(nil), n.pods...),
		podIndex:  make(map[types.UID]int, len(n.podIndex)),
		Requested: n.Requested.clone(), NonZeroCPU: n.NonZeroCPU, NonZeroMem: n.NonZeroMem,
		podsWithAffinity: n.podsWithAffinity, podsWithRequiredAnti: n.podsWithRequiredAnti,
	}
	for k, v := range n.podIndex {
		c.podIndex[k] = v
	}
	if n.usedPorts != nil {
		c.usedPorts = make(map[hostPort]int, len(n.usedPorts))
		c.usedProtoPorts = make(map[protoPort]int, len(n.usedProtoPorts))
		for k, v := range n.usedPorts {
			c.usedPorts[k] = v
		}
		for k, v := range n.usedProtoPorts {
			c.usedProtoPorts[k] = v
		}
	}
	return c
}
