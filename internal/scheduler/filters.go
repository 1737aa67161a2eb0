package scheduler

import (
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// cycleState is what PreFilter computes once per pod for the filters.
type cycleState struct {
	pod      *PodInfo
	interPod *interPodState // nil: nothing to check
	spread   *spreadState   // nil: no DoNotSchedule constraints
}

func (st *cycleState) clone() *cycleState {
	c := *st
	if st.interPod != nil {
		c.interPod = st.interPod.clone()
	}
	if st.spread != nil {
		c.spread = st.spread.clone()
	}
	return &c
}

// updateWithPod reflects adding (delta 1) or removing (-1) an existing pod on
// ni in the pre-computed states (used by preemption's what-if evaluation).
func (st *cycleState) updateWithPod(s *Snapshot, p *PodInfo, ni *NodeInfo, delta int64) {
	if st.interPod != nil {
		st.interPod.update(s, p, ni.Node, delta)
	}
	if st.spread != nil {
		st.spread.update(p, ni.Node, int(delta))
	}
}

// preFilter builds the cycle state. A non-empty message means the pod is
// rejected before any node is examined (upstream PreFilterMsg).
func (s *Snapshot) preFilter(pi *PodInfo) (*cycleState, string) {
	pi.prepareIncoming()
	st := &cycleState{pod: pi}
	cs, err := compileSpread(pi.Pod, v1.DoNotSchedule)
	if err != nil {
		return nil, err.Error()
	}
	if len(cs) > 0 {
		st.spread = s.newSpreadState(pi, cs)
	}
	if len(s.antiGroups) > 0 || len(pi.RequiredAffinity) > 0 || len(pi.RequiredAnti) > 0 {
		st.interPod = s.newInterPodState(pi)
	}
	return st, ""
}

// runFilters runs the filters in upstream order and stops at the first failure.
func (s *Snapshot) runFilters(st *cycleState, ni *NodeInfo) *Status {
	pi := st.pod
	pod := pi.Pod
	node := ni.Node
	// NodeUnschedulable
	if node.Spec.Unschedulable && !pi.tolerUnschedulable {
		return newStatus(UnschedulableAndUnresolvable, PluginNodeUnschedulable, ReasonNodeUnschedulable)
	}
	// NodeName
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != node.Name {
		return newStatus(UnschedulableAndUnresolvable, PluginNodeName, ReasonNodeName)
	}
	// TaintToleration
	if _, bad := firstUntoleratedTaint(node.Spec.Taints, pod.Spec.Tolerations); bad {
		return newStatus(UnschedulableAndUnresolvable, PluginTaintToleration, ReasonUntoleratedTaint)
	}
	// NodeAffinity
	if !pi.requiredNodeAff.match(node) {
		return newStatus(UnschedulableAndUnresolvable, PluginNodeAffinity, ReasonNodeAffinity)
	}
	nominated := s.nominatedFor(pi, node.Name)
	// NodePorts
	if len(pi.Ports) > 0 {
		var extra map[hostPort]int
		for _, np := range nominated {
			for _, hp := range np.Ports {
				if extra == nil {
					extra = map[hostPort]int{}
				}
				extra[hp]++
			}
		}
		for _, hp := range pi.Ports {
			if ni.portConflict(hp, extra) {
				return newStatus(Unschedulable, PluginNodePorts, ReasonNodePorts)
			}
		}
	}
	// NodeResourcesFit
	if st := fitsResources(pi, ni, nominated); st != nil {
		return st
	}
	// PodTopologySpread
	if st.spread != nil {
		if r := st.spread.filter(node); r != nil {
			return r
		}
	}
	// InterPodAffinity
	if st.interPod != nil {
		if r := st.interPod.filter(node); r != nil {
			return r
		}
	}
	return nil
}

// nominatedFor returns pods nominated to node with priority >= the pod's
// (other than the pod itself): their resources are treated as taken.
func (s *Snapshot) nominatedFor(pi *PodInfo, node string) []*PodInfo {
	m := s.nominated[node]
	if len(m) == 0 {
		return nil
	}
	var out []*PodInfo
	for uid, np := range m {
		if uid != pi.Pod.UID && np.Priority >= pi.Priority {
			out = append(out, np)
		}
	}
	return out
}

// fitsResources is NodeResourcesFit's filter (upstream fitsRequest).
func fitsResources(pi *PodInfo, ni *NodeInfo, nominated []*PodInfo) *Status {
	requested := &ni.Requested
	podCount := int64(len(ni.pods))
	if len(nominated) > 0 {
		r := ni.Requested.clone()
		for _, np := range nominated {
			r.add(&np.Requests, 1)
		}
		requested = &r
		podCount += int64(len(nominated))
	}
	alloc := &ni.Allocatable
	var reasons []string
	code := Unschedulable
	if podCount+1 > alloc.AllowedPods {
		reasons = append(reasons, ReasonTooManyPods)
	}
	req := &pi.Requests
	if req.isZero() {
		if reasons == nil {
			return nil
		}
		return newStatus(code, PluginNodeResourcesFit, reasons...)
	}
	check := func(want, have, used int64, reason string) {
		if want > 0 && want > have-used {
			reasons = append(reasons, reason)
			if want > have {
				code = UnschedulableAndUnresolvable
			}
		}
	}
	check(req.MilliCPU, alloc.MilliCPU, requested.MilliCPU, "Insufficient cpu")
	check(req.Memory, alloc.Memory, requested.Memory, "Insufficient memory")
	check(req.EphemeralStorage, alloc.EphemeralStorage, requested.EphemeralStorage, "Insufficient ephemeral-storage")
	for name, q := range req.Scalar {
		check(q, alloc.Scalar[name], requested.Scalar[name], "Insufficient "+string(name))
	}
	if reasons == nil {
		return nil
	}
	return newStatus(code, PluginNodeResourcesFit, reasons...)
}

// ---- InterPodAffinity ----

type topologyPair struct{ key, value string }

type interPodState struct {
	pod          *PodInfo
	nsLabels     labels.Set
	existingAnti map[topologyPair]int64 // existing pods' required anti-affinity matching the pod
	affinity     map[topologyPair]int64 // pods matching all of the pod's required affinity terms
	anti         map[topologyPair]int64 // pods matching the pod's required anti-affinity terms
}

func (s *Snapshot) newInterPodState(pi *PodInfo) *interPodState {
	st := &interPodState{pod: pi, nsLabels: s.nsLabels(pi.Pod.Namespace),
		existingAnti: map[topologyPair]int64{}, affinity: map[topologyPair]int64{}, anti: map[topologyPair]int64{}}
	for _, g := range s.antiGroups {
		for i := range g.rep.RequiredAnti {
			t := &g.rep.RequiredAnti[i]
			if !t.matches(pi.Pod, st.nsLabels) {
				continue
			}
			for ni, n := range g.nodes {
				if ni.Node != nil {
					addPair(st.existingAnti, ni.Node, t.topologyKey, int64(n))
				}
			}
		}
	}
	if len(pi.RequiredAffinity)+len(pi.RequiredAnti) > 0 {
		for _, g := range s.groups {
			gNS := s.nsLabels(g.namespace)
			all := len(pi.RequiredAffinity) > 0
			for i := range pi.RequiredAffinity {
				if !pi.RequiredAffinity[i].matchesGroup(g, gNS) {
					all = false
					break
				}
			}
			var anti []int
			for i := range pi.RequiredAnti {
				if pi.RequiredAnti[i].matchesGroup(g, gNS) {
					anti = append(anti, i)
				}
			}
			if !all && len(anti) == 0 {
				continue
			}
			for ni, n := range g.nodes {
				if ni.Node == nil {
					continue
				}
				if all {
					for i := range pi.RequiredAffinity {
						addPair(st.affinity, ni.Node, pi.RequiredAffinity[i].topologyKey, int64(n))
					}
				}
				for _, i := range anti {
					addPair(st.anti, ni.Node, pi.RequiredAnti[i].topologyKey, int64(n))
				}
			}
		}
	}
	return st
}

func (st *interPodState) clone() *interPodState {
	c := *st
	c.existingAnti = cloneCounts(st.existingAnti)
	c.affinity = cloneCounts(st.affinity)
	c.anti = cloneCounts(st.anti)
	return &c
}

func cloneCounts(m map[topologyPair]int64) map[topologyPair]int64 {
	c := make(map[topologyPair]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (st *interPodState) update(s *Snapshot, ep *PodInfo, node *v1.Node, delta int64) {
	if node == nil {
		return
	}
	st.updateExisting(ep, node, delta)
	st.updateIncoming(s, ep, node, delta)
}

func addPair(m map[topologyPair]int64, node *v1.Node, key string, delta int64) {
	if v, ok := node.Labels[key]; ok {
		tp := topologyPair{key, v}
		m[tp] += delta
		if m[tp] == 0 {
			delete(m, tp)
		}
	}
}

func (st *interPodState) updateExisting(ep *PodInfo, node *v1.Node, delta int64) {
	for i := range ep.RequiredAnti {
		t := &ep.RequiredAnti[i]
		if t.matches(st.pod.Pod, st.nsLabels) {
			addPair(st.existingAnti, node, t.topologyKey, delta)
		}
	}
}

func (st *interPodState) updateIncoming(s *Snapshot, ep *PodInfo, node *v1.Node, delta int64) {
	pi := st.pod
	if len(pi.RequiredAffinity) == 0 && len(pi.RequiredAnti) == 0 {
		return
	}
	epNS := s.nsLabels(ep.Pod.Namespace)
	if len(pi.RequiredAffinity) > 0 {
		all := true
		for i := range pi.RequiredAffinity {
			if !pi.RequiredAffinity[i].matches(ep.Pod, epNS) {
				all = false
				break
			}
		}
		if all {
			for i := range pi.RequiredAffinity {
				addPair(st.affinity, node, pi.RequiredAffinity[i].topologyKey, delta)
			}
		}
	}
	for i := range pi.RequiredAnti {
		if pi.RequiredAnti[i].matches(ep.Pod, epNS) {
			addPair(st.anti, node, pi.RequiredAnti[i].topologyKey, delta)
		}
	}
}

func (st *interPodState) filter(node *v1.Node) *Status {
	pi := st.pod
	// Required affinity.
	if len(pi.RequiredAffinity) > 0 {
		podsExist := true
		for i := range pi.RequiredAffinity {
			v, ok := node.Labels[pi.RequiredAffinity[i].topologyKey]
			if !ok {
				return newStatus(UnschedulableAndUnresolvable, PluginInterPodAffinity, ReasonAffinityRulesNotMatch)
			}
			if st.affinity[topologyPair{pi.RequiredAffinity[i].topologyKey, v}] <= 0 {
				podsExist = false
			}
		}
		if !podsExist {
			// The first pod of a group that has affinity to itself may go
			// anywhere the topology keys exist, if no pod matches yet.
			self := len(st.affinity) == 0
			for i := range pi.RequiredAffinity {
				if !self || !pi.RequiredAffinity[i].matches(pi.Pod, st.nsLabels) {
					self = false
					break
				}
			}
			if !self {
				return newStatus(UnschedulableAndUnresolvable, PluginInterPodAffinity, ReasonAffinityRulesNotMatch)
			}
		}
	}
	// Required anti-affinity of the incoming pod.
	for i := range pi.RequiredAnti {
		if v, ok := node.Labels[pi.RequiredAnti[i].topologyKey]; ok && st.anti[topologyPair{pi.RequiredAnti[i].topologyKey, v}] > 0 {
			return newStatus(Unschedulable, PluginInterPodAffinity, ReasonAntiAffinityRulesNotMatch)
		}
	}
	// Existing pods' anti-affinity.
	if len(st.existingAnti) > 0 {
		for k, v := range node.Labels {
			if st.existingAnti[topologyPair{k, v}] > 0 {
				return newStatus(Unschedulable, PluginInterPodAffinity, ReasonExistingAntiAffinityRules)
			}
		}
	}
	return nil
}

// ---- PodTopologySpread ----

type spreadConstraint struct {
	maxSkew       int32
	key           string
	selector      labels.Selector
	minDomains    int32
	honorAffinity bool
	honorTaints   bool
}

// compileSpread returns the pod's constraints with the given action.
func compileSpread(pod *v1.Pod, action v1.UnsatisfiableConstraintAction) ([]spreadConstraint, error) {
	var out []spreadConstraint
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if c.WhenUnsatisfiable != action {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("obtaining pod's hard topology spread constraints: %w", err)
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				r, err := labels.NewRequirement(k, selection.In, []string{v})
				if err != nil {
					return nil, err
				}
				sel = sel.Add(*r)
			}
		}
		sc := spreadConstraint{maxSkew: c.MaxSkew, key: c.TopologyKey, selector: sel, minDomains: 1,
			honorAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor,
			honorTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor}
		if c.MinDomains != nil {
			sc.minDomains = *c.MinDomains
		}
		out = append(out, sc)
	}
	return out, nil
}

func (c *spreadConstraint) nodeIncluded(pi *PodInfo, node *v1.Node) bool {
	if c.honorAffinity && !pi.requiredNodeAff.match(node) {
		return false
	}
	if c.honorTaints {
		if _, bad := firstUntoleratedTaint(node.Spec.Taints, pi.Pod.Spec.Tolerations); bad {
			return false
		}
	}
	return true
}

func hasAllKeys(node *v1.Node, cs []spreadConstraint) bool {
	for i := range cs {
		if _, ok := node.Labels[cs[i].key]; !ok {
			return false
		}
	}
	return true
}

// countMatching counts non-terminating pods in ns matching sel.
func countMatching(pods []*PodInfo, sel labels.Selector, ns string) int {
	n := 0
	for _, p := range pods {
		if p.Pod.Namespace == ns && p.Pod.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Pod.Labels)) {
			n++
		}
	}
	return n
}

type spreadState struct {
	pod       *PodInfo
	cs        []spreadConstraint
	counts    []map[string]int // per constraint: domain value -> matching pods
	mins      []int
	selfMatch []int
}

func (s *Snapshot) newSpreadState(pi *PodInfo, cs []spreadConstraint) *spreadState {
	st := &spreadState{pod: pi, cs: cs, counts: make([]map[string]int, len(cs)), mins: make([]int, len(cs)), selfMatch: make([]int, len(cs))}
	for i := range cs {
		st.counts[i] = map[string]int{}
		if cs[i].selector.Matches(labels.Set(pi.Pod.Labels)) {
			st.selfMatch[i] = 1
		}
	}
	// Every eligible node defines a domain, even with no matching pod.
	eligible := make(map[*NodeInfo][]bool, len(s.list))
	for _, ni := range s.list {
		node := ni.Node
		if !hasAllKeys(node, cs) {
			continue
		}
		inc := make([]bool, len(cs))
		for i := range cs {
			if cs[i].nodeIncluded(pi, node) {
				inc[i] = true
				st.counts[i][node.Labels[cs[i].key]] += 0
			}
		}
		eligible[ni] = inc
	}
	for _, g := range s.groups {
		if g.namespace != pi.Pod.Namespace || g.terminating {
			continue
		}
		for i := range cs {
			if !cs[i].selector.Matches(g.labels) {
				continue
			}
			for ni, n := range g.nodes {
				if inc, ok := eligible[ni]; ok && inc[i] {
					st.counts[i][ni.Node.Labels[cs[i].key]] += n
				}
			}
		}
	}
	st.computeMins()
	return st
}

func (st *spreadState) computeMins() {
	for i, m := range st.counts {
		minV := math.MaxInt32
		for _, v := range m {
			if v < minV {
				minV = v
			}
		}
		if len(m) < int(st.cs[i].minDomains) {
			minV = 0
		}
		st.mins[i] = minV
	}
}

func (st *spreadState) clone() *spreadState {
	c := *st
	c.counts = make([]map[string]int, len(st.counts))
	for i, m := range st.counts {
		c.counts[i] = make(map[string]int, len(m))
		for k, v := range m {
			c.counts[i][k] = v
		}
	}
	c.mins = append([]int(nil), st.mins...)
	return &c
}

func (st *spreadState) update(p *PodInfo, node *v1.Node, delta int) {
	if node == nil || p.Pod.Namespace != st.pod.Pod.Namespace || p.Pod.DeletionTimestamp != nil || !hasAllKeys(node, st.cs) {
		return
	}
	changed := false
	for i := range st.cs {
		c := &st.cs[i]
		if !c.nodeIncluded(st.pod, node) || !c.selector.Matches(labels.Set(p.Pod.Labels)) {
			continue
		}
		st.counts[i][node.Labels[c.key]] += delta
		changed = true
	}
	if changed {
		st.computeMins()
	}
}

func (st *spreadState) filter(node *v1.Node) *Status {
	for i := range st.cs {
		c := &st.cs[i]
		v, ok := node.Labels[c.key]
		if !ok {
			return newStatus(UnschedulableAndUnresolvable, PluginPodTopologySpread, ReasonSpreadMissingLabel)
		}
		skew := st.counts[i][v] + st.selfMatch[i] - st.mins[i]
		if skew > int(c.maxSkew) {
			return newStatus(Unschedulable, PluginPodTopologySpread, ReasonSpreadConstraints)
		}
	}
	return nil
}
