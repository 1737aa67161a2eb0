package scheduler

import (
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// Binding is a decision recorded by the Harness.
type Binding struct {
	Pod  string // namespace/name
	Node string
}

// HarnessEvent is an event the Harness would have emitted.
type HarnessEvent struct {
	Pod     string
	Type    string
	Reason  string
	Message string
}

// Harness drives the pure core over an in-memory Snapshot the way the
// Scheduler drives it over the API: successful decisions are assumed and
// recorded as Bindings, failures run preemption and are recorded as
// FailedScheduling events (with the exact upstream message); preemption
// victims are removed from the snapshot immediately (as if deleted) and the
// preemptor is nominated.
type Harness struct {
	Snap      *Snapshot
	Bindings  []Binding
	Events    []HarnessEvent
	Preempted []string // namespace/name of victims, in deletion order
}

// NewHarness returns a harness over an empty, deterministically seeded snapshot.
func NewHarness(seed uint64) *Harness { return &Harness{Snap: NewSnapshot(seed)} }

// AddNode adds nodes.
func (h *Harness) AddNode(nodes ...*v1.Node) {
	for _, n := range nodes {
		h.Snap.SetNode(n)
	}
}

// AddPod adds already-bound pods (spec.nodeName set).
func (h *Harness) AddPod(pods ...*v1.Pod) {
	for _, p := range pods {
		h.Snap.AddPod(p)
	}
}

// Schedule schedules one pending pod. It returns the chosen node, or "" and
// the FailedScheduling message as an error. On successful preemption the
// returned error still carries the message and NominatedNode() tells where
// the pod was nominated.
func (h *Harness) Schedule(pod *v1.Pod) (string, error) {
	key := pod.Namespace + "/" + pod.Name
	res, err := h.Snap.Schedule(pod)
	if err == nil {
		h.Snap.Assume(pod, res.NodeName)
		h.Snap.RemoveNominated(pod.UID)
		h.Bindings = append(h.Bindings, Binding{Pod: key, Node: res.NodeName})
		return res.NodeName, nil
	}
	var fe *FitError
	if errors.As(err, &fe) {
		pr := h.Snap.Preempt(pod, fe)
		fe.PostFilterMsg = pr.Message
		if pr.NominatedNode != "" {
			for _, v := range pr.Victims {
				h.Snap.RemovePod(v.UID)
				h.Preempted = append(h.Preempted, v.Namespace+"/"+v.Name)
			}
			for _, p := range pr.ClearNomination {
				h.Snap.RemoveNominated(p.UID)
			}
			np := pod.DeepCopy()
			np.Status.NominatedNodeName = pr.NominatedNode
			h.Snap.SetNominated(np, pr.NominatedNode)
		}
	}
	h.Events = append(h.Events, HarnessEvent{Pod: key, Type: v1.EventTypeWarning, Reason: "FailedScheduling", Message: err.Error()})
	return "", fmt.Errorf("%s", err.Error())
}

// Placement returns how many recorded bindings went to each node.
func (h *Harness) Placement() map[string]int {
	m := map[string]int{}
	for _, b := range h.Bindings {
		m[b.Node]++
	}
	return m
}
