package scheduler

import (
	"math/rand/v2"
	"sort"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Snapshot is the scheduler's in-memory view of the cluster: nodes, pods bound
// or assumed on them (with per-node aggregates), namespace labels and
// nominated pods. It is the pure scheduling core: Schedule, Filter, Score and
// Preempt read it, and Assume/Forget/AddPod/... mutate it.
//
// A Snapshot is not safe for concurrent use; the Scheduler serialises access
// with its own mutex (Schedule may fan out read-only work internally).
type Snapshot struct {
	nodes map[string]*NodeInfo
	list  []*NodeInfo // real nodes, sorted by name

	pods map[types.UID]*PodInfo // every bound/assumed pod, with spec.nodeName set
	// groups index bound pods by (namespace, labels); affGroups by identical
	// pod (anti-)affinity (antiGroups: those with required anti-affinity),
	// so filters and scores match selectors per group, not per pod.
	affGroups  map[string]*affinityGroup
	antiGroups map[string]*affinityGroup

	namespaces map[string]labels.Set
	groups     map[string]*labelGroup

	nominated     map[string]map[types.UID]*PodInfo // node -> pods nominated to it
	nominatedNode map[types.UID]string

	nextStart int
	rng       *rand.Rand
	scoreBuf  []NodeScore // reused by each Schedule

	// PercentageOfNodesToScore mirrors the upstream setting; 0 = adaptive
	// (50% - nodes/125, at least 5%, at least 100 nodes).
	PercentageOfNodesToScore int32
	// Parallelism is how many goroutines evaluate nodes (1 = sequential,
	// deterministic order).
	Parallelism int
}

// NewSnapshot returns an empty snapshot whose random tie-breaking is seeded by seed.
func NewSnapshot(seed uint64) *Snapshot {
	return &Snapshot{
		nodes:         map[string]*NodeInfo{},
		pods:          map[types.UID]*PodInfo{},
		affGroups:     map[string]*affinityGroup{},
		antiGroups:    map[string]*affinityGroup{},
		namespaces:    map[string]labels.Set{},
		groups:        map[string]*labelGroup{},
		nominated:     map[string]map[types.UID]*PodInfo{},
		nominatedNode: map[types.UID]string{},
		rng:           rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		Parallelism:   1,
	}
}

// NumNodes is the number of real nodes.
func (s *Snapshot) NumNodes() int { return len(s.list) }

// NodeInfo returns the info for a node name, or nil.
func (s *Snapshot) NodeInfo(name string) *NodeInfo {
	if ni := s.nodes[name]; ni != nil && ni.Node != nil {
		return ni
	}
	return nil
}

// Nodes returns the real nodes sorted by name (shared; do not modify).
func (s *Snapshot) Nodes() []*NodeInfo { return s.list }

// SetNode adds or updates a node.
func (s *Snapshot) SetNode(node *v1.Node) {
	ni := s.nodes[node.Name]
	if ni == nil {
		ni = newNodeInfo()
		s.nodes[node.Name] = ni
	}
	wasReal := ni.Node != nil
	ni.setNode(node)
	if !wasReal {
		i := sort.Search(len(s.list), func(i int) bool { return s.list[i].Node.Name >= node.Name })
		s.list = append(s.list, nil)
		copy(s.list[i+1:], s.list[i:])
		s.list[i] = ni
	}
}

// RemoveNode removes a node. Pods still bound to it stay accounted on a ghost
// entry until they are removed.
func (s *Snapshot) RemoveNode(name string) {
	ni := s.nodes[name]
	if ni == nil || ni.Node == nil {
		return
	}
	i := sort.Search(len(s.list), func(i int) bool { return s.list[i].Node.Name >= name })
	if i < len(s.list) && s.list[i] == ni {
		s.list = append(s.list[:i], s.list[i+1:]...)
	}
	ni.setNode(nil)
	if len(ni.pods) == 0 {
		delete(s.nodes, name)
	}
}

// SetNamespace records a namespace's labels (for namespaceSelector in pod affinity).
func (s *Snapshot) SetNamespace(ns *v1.Namespace) {
	s.namespaces[ns.Name] = labels.Set(ns.Labels)
}

// RemoveNamespace forgets a namespace's labels.
func (s *Snapshot) RemoveNamespace(name string) { delete(s.namespaces, name) }

func (s *Snapshot) nsLabels(ns string) labels.Set { return s.namespaces[ns] }

// AddPod adds or replaces a pod that has spec.nodeName set (bound, or assumed
// by the caller). Terminal pods are ignored (and removed if present).
func (s *Snapshot) AddPod(pod *v1.Pod) {
	if pod.Spec.NodeName == "" {
		return
	}
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		s.RemovePod(pod.UID)
		return
	}
	s.RemovePod(pod.UID)
	s.removeNominated(pod.UID)
	pi := NewPodInfo(pod)
	ni := s.nodes[pod.Spec.NodeName]
	if ni == nil {
		ni = newNodeInfo()
		s.nodes[pod.Spec.NodeName] = ni
	}
	ni.addPod(pi)
	s.groupAdd(pi, ni)
	s.pods[pod.UID] = pi
	if pi.hasAffinity() {
		s.affinityGroupAdd(pi, ni)
	}
}

// HasPod reports whether a pod is bound or assumed in the snapshot.
func (s *Snapshot) HasPod(uid types.UID) bool { _, ok := s.pods[uid]; return ok }

// RemovePod removes a bound or assumed pod.
func (s *Snapshot) RemovePod(uid types.UID) {
	pi := s.pods[uid]
	if pi == nil {
		return
	}
	delete(s.pods, uid)
	name := pi.Pod.Spec.NodeName
	if ni := s.nodes[name]; ni != nil {
		ni.removePod(uid)
		s.groupRemove(pi, ni)
		if pi.affKey != "" {
			s.affinityGroupRemove(pi, ni)
		}
		if ni.Node == nil && len(ni.pods) == 0 {
			delete(s.nodes, name)
		}
	}
}

// Assume records pod as bound to node before the API confirms it; it returns
// the assumed copy.
func (s *Snapshot) Assume(pod *v1.Pod, node string) *v1.Pod {
	p := pod.DeepCopy()
	p.Spec.NodeName = node
	s.AddPod(p)
	return p
}

// SetNominated records that pod is nominated to node (after preemption):
// its resources are reserved there against pods of lower or equal priority.
// An empty node clears the nomination.
func (s *Snapshot) SetNominated(pod *v1.Pod, node string) {
	s.removeNominated(pod.UID)
	if node == "" {
		return
	}
	m := s.nominated[node]
	if m == nil {
		m = map[types.UID]*PodInfo{}
		s.nominated[node] = m
	}
	m[pod.UID] = NewPodInfo(pod)
	s.nominatedNode[pod.UID] = node
}

// NominatedNode returns the node a pod is nominated to, if any.
func (s *Snapshot) NominatedNode(uid types.UID) string { return s.nominatedNode[uid] }

// RemoveNominated forgets a pod's nomination.
func (s *Snapshot) RemoveNominated(uid types.UID) { s.removeNominated(uid) }

func (s *Snapshot) removeNominated(uid types.UID) {
	node, ok := s.nominatedNode[uid]
	if !ok {
		return
	}
	delete(s.nominatedNode, uid)
	if m := s.nominated[node]; m != nil {
		delete(m, uid)
		if len(m) == 0 {
			delete(s.nominated, node)
		}
	}
}
