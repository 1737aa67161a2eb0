package scheduler

import (
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
)

// PreemptionResult is the outcome of DefaultPreemption's PostFilter.
type PreemptionResult struct {
	// NominatedNode is where the preemptor should go once the victims are gone
	// ("" when preemption found nothing).
	NominatedNode string
	// Victims are the pods to delete, highest priority first.
	Victims []*v1.Pod
	// ClearNomination are lower-priority pods nominated to NominatedNode whose
	// nomination must be cleared.
	ClearNomination []*v1.Pod
	// Message is the PostFilter message ("preemption: ...") when no node was
	// found; it becomes FitError.PostFilterMsg.
	Message string
}

type candidate struct {
	node    string
	victims []*PodInfo
}

// Preempt looks for a node where deleting lower-priority pods lets pod fit
// (upstream DefaultPreemption). fe is the FitError Schedule returned. The
// snapshot is not changed.
func (s *Snapshot) Preempt(pod *v1.Pod, fe *FitError) PreemptionResult {
	pi := NewPodInfo(pod)
	if ok, msg := s.eligibleToPreempt(pi); !ok {
		return PreemptionResult{Message: "preemption: " + msg}
	}
	st, msg := s.preFilter(pi)
	if msg != "" {
		return PreemptionResult{Message: "preemption: " + msg}
	}
	notHelpful := newStatus(UnschedulableAndUnresolvable, PluginDefaultPreemption, ReasonPreemptionNotHelpful)
	var potential []*NodeInfo
	for _, ni := range s.list {
		if r := fe.NodeToStatus[ni.Node.Name]; r != nil && r.Code == UnschedulableAndUnresolvable {
			continue
		}
		if fe.PreFilterMsg != "" {
			continue
		}
		potential = append(potential, ni)
	}
	statuses := map[string]*Status{}
	var cands []candidate
	if len(potential) > 0 {
		numCandidates := max(len(potential)*10/100, 100)
		numCandidates = min(numCandidates, len(potential))
		offset := s.rng.IntN(len(potential))
		for i := 0; i < len(potential) && len(cands) < numCandidates; i++ {
			ni := potential[(offset+i)%len(potential)]
			victims, r := s.selectVictimsOnNode(st, ni)
			if r.IsSuccess() {
				cands = append(cands, candidate{node: ni.Node.Name, victims: victims})
			} else {
				statuses[ni.Node.Name] = r
			}
		}
	}
	if len(cands) == 0 {
		pfe := &FitError{Pod: pod, NumAllNodes: len(s.list), NodeToStatus: statuses, AbsentStatus: notHelpful}
		return PreemptionResult{Message: "preemption: " + pfe.Error()}
	}
	best := pickOneNodeForPreemption(cands)
	res := PreemptionResult{NominatedNode: best.node}
	for _, v := range best.victims {
		res.Victims = append(res.Victims, v.Pod)
	}
	for _, np := range s.nominated[best.node] {
		if np.Pod.UID != pod.UID && np.Priority < pi.Priority {
			res.ClearNomination = append(res.ClearNomination, np.Pod)
		}
	}
	sort.Slice(res.ClearNomination, func(i, j int) bool { return res.ClearNomination[i].Name < res.ClearNomination[j].Name })
	return res
}

// eligibleToPreempt is upstream PodEligibleToPreemptOthers.
func (s *Snapshot) eligibleToPreempt(pi *PodInfo) (bool, string) {
	pod := pi.Pod
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever {
		return false, ReasonNotEligiblePreemptNever
	}
	if nn := pod.Status.NominatedNodeName; nn != "" {
		if ni := s.nodes[nn]; ni != nil {
			for _, p := range ni.pods {
				if p.Pod.DeletionTimestamp != nil && p.Priority < pi.Priority {
					return false, ReasonNotEligibleTerminatingPods
				}
			}
		}
	}
	return true, ""
}

// moreImportant: higher priority first, then earlier start time.
func moreImportant(a, b *PodInfo) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	return startTime(a.Pod).Before(startTime(b.Pod))
}

func startTime(p *v1.Pod) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}

// selectVictimsOnNode removes every lower-priority pod, checks the pod fits,
// then reprieves as many victims as possible, most important first.
func (s *Snapshot) selectVictimsOnNode(st *cycleState, orig *NodeInfo) ([]*PodInfo, *Status) {
	pi := st.pod
	ni := orig.clone()
	st = st.clone()
	var potential []*PodInfo
	for _, p := range orig.pods {
		if p.Priority < pi.Priority {
			potential = append(potential, p)
			ni.removePod(p.Pod.UID)
			st.updateWithPod(s, p, ni, -1)
		}
	}
	if len(potential) == 0 {
		return nil, newStatus(UnschedulableAndUnresolvable, PluginDefaultPreemption, ReasonNoPreemptionVictims)
	}
	if r := s.runFilters(st, ni); r != nil {
		return nil, r
	}
	sort.SliceStable(potential, func(i, j int) bool { return moreImportant(potential[i], potential[j]) })
	var victims []*PodInfo
	for _, p := range potential {
		ni.addPod(p)
		st.updateWithPod(s, p, ni, 1)
		if r := s.runFilters(st, ni); r != nil {
			ni.removePod(p.Pod.UID)
			st.updateWithPod(s, p, ni, -1)
			victims = append(victims, p)
		}
	}
	return victims, nil
}

// pickOneNodeForPreemption applies upstream's criteria in order: no victims;
// lowest highest-victim priority; lowest priority sum; fewest victims; latest
// start of the highest-priority victims; first.
func pickOneNodeForPreemption(cands []candidate) candidate {
	for _, c := range cands {
		if len(c.victims) == 0 {
			return c
		}
	}
	filter := func(in []candidate, score func(c candidate) int64) []candidate {
		best := int64(0)
		var out []candidate
		for i, c := range in {
			v := score(c)
			if i == 0 || v > best {
				best = v
				out = []candidate{c}
			} else if v == best {
				out = append(out, c)
			}
		}
		return out
	}
	cs := filter(cands, func(c candidate) int64 { return -int64(c.victims[0].Priority) })
	if len(cs) > 1 {
		cs = filter(cs, func(c candidate) int64 {
			var sum int64
			for _, v := range c.victims {
				sum += int64(v.Priority) + 1<<31 // offset keeps negative priorities ordered
			}
			return -sum
		})
	}
	if len(cs) > 1 {
		cs = filter(cs, func(c candidate) int64 { return -int64(len(c.victims)) })
	}
	if len(cs) > 1 {
		cs = filter(cs, func(c candidate) int64 {
			top := c.victims[0].Priority
			earliest := startTime(c.victims[0].Pod)
			for _, v := range c.victims {
				if v.Priority == top && startTime(v.Pod).Before(earliest) {
					earliest = startTime(v.Pod)
				}
			}
			return earliest.UnixNano()
		})
	}
	return cs[0]
}
