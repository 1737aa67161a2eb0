package scheduler

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Plugin names, as upstream reports them.
const (
	PluginNodeUnschedulable     = "NodeUnschedulable"
	PluginNodeName              = "NodeName"
	PluginTaintToleration       = "TaintToleration"
	PluginNodeAffinity          = "NodeAffinity"
	PluginNodePorts             = "NodePorts"
	PluginNodeResourcesFit      = "NodeResourcesFit"
	PluginPodTopologySpread     = "PodTopologySpread"
	PluginInterPodAffinity      = "InterPodAffinity"
	PluginBalancedAllocation    = "NodeResourcesBalancedAllocation"
	PluginDefaultPreemption     = "DefaultPreemption"
	pluginAnyForQueueingPurpose = ""
)

// Filter failure reasons, worded exactly like upstream v1.37.
const (
	ReasonNodeUnschedulable          = "node(s) were unschedulable"
	ReasonNodeName                   = "node(s) didn't match the requested node name"
	ReasonUntoleratedTaint           = "node(s) had untolerated taint(s)"
	ReasonNodeAffinity               = "node(s) didn't match Pod's node affinity/selector"
	ReasonNodePorts                  = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods                = "Too many pods"
	ReasonSpreadConstraints          = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingLabel         = ReasonSpreadConstraints + " (missing required label)"
	ReasonAffinityRulesNotMatch      = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinityRulesNotMatch  = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinityRules  = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonNoPreemptionVictims        = "No preemption victims found for incoming pod"
	ReasonPreemptionNotHelpful       = "Preemption is not helpful for scheduling"
	ReasonNotEligiblePreemptNever    = "not eligible due to preemptionPolicy=Never."
	ReasonNotEligibleTerminatingPods = "not eligible due to a terminating pod on the nominated node."
)

// ErrNoNodesAvailable is returned by Schedule when the snapshot has no nodes
// (upstream: ErrNoNodesAvailable, surfaced as a SchedulerError, not a FitError).
var errNoNodesAvailable = errors.New("no nodes available to schedule pods")

// ErrNoNodesAvailable reports whether err means the snapshot had no nodes.
func ErrNoNodesAvailable(err error) bool { return errors.Is(err, errNoNodesAvailable) }

// Code is a filter outcome.
type Code int

const (
	// Success: the node fits.
	Success Code = iota
	// Unschedulable: the node does not fit, preemption may help.
	Unschedulable
	// UnschedulableAndUnresolvable: the node does not fit and preemption cannot help.
	UnschedulableAndUnresolvable
)

// Status is the result of running the filters against one node.
type Status struct {
	Code    Code
	Reasons []string
	Plugin  string
}

func newStatus(code Code, plugin string, reasons ...string) *Status {
	return &Status{Code: code, Plugin: plugin, Reasons: reasons}
}

// IsSuccess is true for a nil or Success status.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

// Message joins the reasons like upstream Status.Message.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.Reasons, ", ")
}

// FitError describes why a pod fits no node; Error() is the exact upstream
// FailedScheduling message.
type FitError struct {
	Pod          *v1.Pod
	NumAllNodes  int
	NodeToStatus map[string]*Status
	// AbsentStatus applies to nodes that are not in NodeToStatus.
	AbsentStatus *Status
	// PreFilterMsg is set when a pre-filter rejected the pod outright.
	PreFilterMsg string
	// PostFilterMsg is the preemption outcome ("preemption: ...") or empty.
	PostFilterMsg string
	// UnschedulablePlugins are the plugins that rejected some node; the queue
	// uses them to decide which cluster events may make the pod schedulable.
	UnschedulablePlugins sets.Set[string]
}

// Error formats "0/N nodes are available: <sorted histogram>. <postfilter>."
func (f *FitError) Error() string {
	msg := fmt.Sprintf("0/%v nodes are available:", f.NumAllNodes)
	if f.PreFilterMsg != "" {
		msg += fmt.Sprintf(" %v.", f.PreFilterMsg)
	} else {
		reasons := map[string]int{}
		for _, st := range f.NodeToStatus {
			for _, r := range st.Reasons {
				reasons[r]++
			}
		}
		if absent := f.NumAllNodes - len(f.NodeToStatus); absent > 0 && f.AbsentStatus != nil {
			for _, r := range f.AbsentStatus.Reasons {
				reasons[r] += absent
			}
		}
		list := make([]string, 0, len(reasons))
		for r, n := range reasons {
			list = append(list, fmt.Sprintf("%v %v", n, r))
		}
		sort.Strings(list)
		if len(list) > 0 {
			msg += fmt.Sprintf(" %v.", strings.Join(list, ", "))
		}
	}
	if f.PostFilterMsg != "" {
		msg += " " + f.PostFilterMsg
	}
	return msg
}
