package scheduler

import (
	"strconv"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// affinityTerm is a compiled pod (anti-)affinity term.
type affinityTerm struct {
	namespaces  sets.Set[string]
	nsSelector  labels.Selector // labels.Nothing() when unset
	selector    labels.Selector
	topologyKey string
	weight      int32
}

// matches reports whether pod (with namespace labels nsLabels) matches the term.
func (t *affinityTerm) matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if !t.namespaces.Has(pod.Namespace) && !t.nsSelector.Matches(nsLabels) {
		return false
	}
	return t.selector.Matches(labels.Set(pod.Labels))
}

func compileTerm(owner *v1.Pod, term *v1.PodAffinityTerm, weight int32) (affinityTerm, bool) {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return affinityTerm{}, false
	}
	t := affinityTerm{selector: sel, topologyKey: term.TopologyKey, weight: weight, namespaces: sets.New(term.Namespaces...)}
	t.nsSelector = labels.Nothing()
	if term.NamespaceSelector != nil {
		ns, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
		if err != nil {
			return affinityTerm{}, false
		}
		t.nsSelector = ns
	} else if len(term.Namespaces) == 0 {
		t.namespaces.Insert(owner.Namespace)
	}
	return t, true
}

// PodInfo is a pod with everything the filters and scores need precomputed.
type PodInfo struct {
	Pod        *v1.Pod
	Requests   Resource
	NonZeroCPU int64
	NonZeroMem int64
	Priority   int32
	Ports      []hostPort

	RequiredAffinity   []affinityTerm
	RequiredAnti       []affinityTerm
	PreferredAffinity  []affinityTerm
	PreferredAnti      []affinityTerm
	requiredNodeAff    *requiredNodeAffinity
	tolerUnschedulable bool
	hasPreferNoSched   []v1.Toleration
	groupKey           string
	affKey             string
}

func (p *PodInfo) hasAffinity() bool {
	return len(p.RequiredAffinity)+len(p.RequiredAnti)+len(p.PreferredAffinity)+len(p.PreferredAnti) > 0
}

// podPriority is spec.priority, 0 when unset.
func podPriority(pod *v1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}

// NewPodInfo precomputes a pod's requests, ports, affinity terms and
// node-affinity matcher. Invalid selectors make a term match nothing.
func NewPodInfo(pod *v1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod, Requests: PodRequests(pod), Priority: podPriority(pod)}
	pi.NonZeroCPU, pi.NonZeroMem = podNonZeroRequests(pod)
	pi.Ports = podHostPorts(pod)
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				if t, ok := compileTerm(pod, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 0); ok {
					pi.RequiredAffinity = append(pi.RequiredAffinity, t)
				}
			}
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				if t, ok := compileTerm(pod, &w.PodAffinityTerm, w.Weight); ok {
					pi.PreferredAffinity = append(pi.PreferredAffinity, t)
				}
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				if t, ok := compileTerm(pod, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 0); ok {
					pi.RequiredAnti = append(pi.RequiredAnti, t)
				}
			}
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				if t, ok := compileTerm(pod, &w.PodAffinityTerm, w.Weight); ok {
					pi.PreferredAnti = append(pi.PreferredAnti, t)
				}
			}
		}
	}
	return pi
}

// prepareIncoming computes what is only needed for the pod being scheduled.
func (p *PodInfo) prepareIncoming() {
	if p.requiredNodeAff != nil {
		return
	}
	p.requiredNodeAff = newRequiredNodeAffinity(p.Pod)
	p.tolerUnschedulable = tolerationsTolerate(p.Pod.Spec.Tolerations,
		&v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule})
	for _, t := range p.Pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			p.hasPreferNoSched = append(p.hasPreferNoSched, t)
		}
	}
}

// hostPort is one (ip, protocol, port) a pod binds on its node.
type hostPort struct {
	ip       string
	protocol v1.Protocol
	port     int32
}

const anyIP = "0.0.0.0"

func podHostPorts(pod *v1.Pod) []hostPort {
	var out []hostPort
	add := func(cs []v1.Container, sidecarsOnly bool) {
		for i := range cs {
			c := &cs[i]
			if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != v1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
				if hp.ip == "" {
					hp.ip = anyIP
				}
				if hp.protocol == "" {
					hp.protocol = v1.ProtocolTCP
				}
				out = append(out, hp)
			}
		}
	}
	add(pod.Spec.InitContainers, true)
	add(pod.Spec.Containers, false)
	return out
}

// tolerates reports whether toleration t tolerates taint (upstream ToleratesTaint).
func tolerates(t *v1.Toleration, taint *v1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "", v1.TolerationOpEqual:
		return t.Value == taint.Value
	case v1.TolerationOpExists:
		return true
	}
	return false
}

func tolerationsTolerate(ts []v1.Toleration, taint *v1.Taint) bool {
	for i := range ts {
		if tolerates(&ts[i], taint) {
			return true
		}
	}
	return false
}

// firstUntoleratedTaint returns the first NoSchedule/NoExecute taint the
// tolerations do not tolerate.
func firstUntoleratedTaint(taints []v1.Taint, ts []v1.Toleration) (*v1.Taint, bool) {
	for i := range taints {
		t := &taints[i]
		if t.Effect != v1.TaintEffectNoSchedule && t.Effect != v1.TaintEffectNoExecute {
			continue
		}
		if !tolerationsTolerate(ts, t) {
			return t, true
		}
	}
	return nil, false
}

// requiredNodeAffinity is nodeSelector AND required node affinity terms.
type requiredNodeAffinity struct {
	selector map[string]string
	terms    []v1.NodeSelectorTerm // ORed; nil means no constraint
	hasTerms bool
}

func newRequiredNodeAffinity(pod *v1.Pod) *requiredNodeAffinity {
	r := &requiredNodeAffinity{selector: pod.Spec.NodeSelector}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		r.terms = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		r.hasTerms = true
	}
	return r
}

func (r *requiredNodeAffinity) match(node *v1.Node) bool {
	for k, v := range r.selector {
		if lv, ok := node.Labels[k]; !ok || lv != v {
			return false
		}
	}
	if !r.hasTerms {
		return true
	}
	return matchNodeSelectorTerms(r.terms, node)
}

// matchNodeSelectorTerms: terms are ORed; an empty or invalid term matches nothing.
func matchNodeSelectorTerms(terms []v1.NodeSelectorTerm, node *v1.Node) bool {
	for i := range terms {
		if matchNodeSelectorTerm(&terms[i], node) {
			return true
		}
	}
	return false
}

func matchNodeSelectorTerm(t *v1.NodeSelectorTerm, node *v1.Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for i := range t.MatchExpressions {
		r := &t.MatchExpressions[i]
		v, ok := node.Labels[r.Key]
		if !matchRequirement(r, v, ok) {
			return false
		}
	}
	for i := range t.MatchFields {
		r := &t.MatchFields[i]
		if r.Key != "metadata.name" || (r.Operator != v1.NodeSelectorOpIn && r.Operator != v1.NodeSelectorOpNotIn) || len(r.Values) != 1 {
			return false
		}
		if !matchRequirement(r, node.Name, true) {
			return false
		}
	}
	return true
}

func matchRequirement(r *v1.NodeSelectorRequirement, v string, present bool) bool {
	switch r.Operator {
	case v1.NodeSelectorOpIn:
		if !present {
			return false
		}
		for _, x := range r.Values {
			if x == v {
				return true
			}
		}
		return false
	case v1.NodeSelectorOpNotIn:
		if !present {
			return true
		}
		for _, x := range r.Values {
			if x == v {
				return false
			}
		}
		return true
	case v1.NodeSelectorOpExists:
		return present
	case v1.NodeSelectorOpDoesNotExist:
		return !present
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if !present || len(r.Values) != 1 {
			return false
		}
		want, err1 := strconv.ParseInt(r.Values[0], 10, 64)
		have, err2 := strconv.ParseInt(v, 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == v1.NodeSelectorOpGt {
			return have > want
		}
		return have < want
	}
	return false
}

// preferredNodeAffinityScore sums the weights of matching preferred terms.
func preferredNodeAffinityScore(pod *v1.Pod, node *v1.Node) int64 {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return 0
	}
	var s int64
	for i := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		p := &a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[i]
		if p.Weight != 0 && matchNodeSelectorTerm(&p.Preference, node) {
			s += int64(p.Weight)
		}
	}
	return s
}
