package scheduler

import (
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// labelGroup aggregates bound pods that share namespace, labels and
// terminating state, with their count per node. Pods of one workload share a
// group, so selector matching (spread, pod affinity) costs one match per
// group instead of one per pod.
type labelGroup struct {
	namespace   string
	labels      labels.Set
	terminating bool
	nodes       map[*NodeInfo]int
	total       int
}

func groupKey(p *v1.Pod) string {
	var b strings.Builder
	b.WriteString(p.Namespace)
	if p.DeletionTimestamp != nil {
		b.WriteString("\x00T")
	} else {
		b.WriteString("\x00L")
	}
	keys := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(p.Labels[k])
	}
	return b.String()
}

func (s *Snapshot) groupAdd(pi *PodInfo, ni *NodeInfo) {
	pi.groupKey = groupKey(pi.Pod)
	g := s.groups[pi.groupKey]
	if g == nil {
		g = &labelGroup{namespace: pi.Pod.Namespace, labels: labels.Set(pi.Pod.Labels),
			terminating: pi.Pod.DeletionTimestamp != nil, nodes: map[*NodeInfo]int{}}
		s.groups[pi.groupKey] = g
	}
	g.nodes[ni]++
	g.total++
}

func (s *Snapshot) groupRemove(pi *PodInfo, ni *NodeInfo) {
	g := s.groups[pi.groupKey]
	if g == nil {
		return
	}
	if g.nodes[ni]--; g.nodes[ni] <= 0 {
		delete(g.nodes, ni)
	}
	if g.total--; g.total <= 0 {
		delete(s.groups, pi.groupKey)
	}
}

// matchesGroup is affinityTerm.matches for a label group.
func (t *affinityTerm) matchesGroup(g *labelGroup, nsLabels labels.Set) bool {
	if !t.namespaces.Has(g.namespace) && !t.nsSelector.Matches(nsLabels) {
		return false
	}
	return t.selector.Matches(g.labels)
}

// affinityGroup aggregates bound pods with identical pod (anti-)affinity in
// one namespace (typically one workload): their terms are evaluated once
// against the incoming pod, then applied to every node the group occupies.
type affinityGroup struct {
	rep   *PodInfo
	nodes map[*NodeInfo]int
	total int
}

func affinityKey(p *v1.Pod) string {
	return p.Namespace + "\x00" + p.Spec.Affinity.PodAffinity.String() + "\x00" + p.Spec.Affinity.PodAntiAffinity.String()
}

func (s *Snapshot) affinityGroupAdd(pi *PodInfo, ni *NodeInfo) {
	pi.affKey = affinityKey(pi.Pod)
	g := s.affGroups[pi.affKey]
	if g == nil {
		g = &affinityGroup{rep: pi, nodes: map[*NodeInfo]int{}}
		s.affGroups[pi.affKey] = g
		if len(pi.RequiredAnti) > 0 {
			s.antiGroups[pi.affKey] = g
		}
	}
	g.nodes[ni]++
	g.total++
}

func (s *Snapshot) affinityGroupRemove(pi *PodInfo, ni *NodeInfo) {
	g := s.affGroups[pi.affKey]
	if g == nil {
		return
	}
	if g.nodes[ni]--; g.nodes[ni] <= 0 {
		delete(g.nodes, ni)
	}
	if g.total--; g.total <= 0 {
		delete(s.affGroups, pi.affKey)
		delete(s.antiGroups, pi.affKey)
	}
}
