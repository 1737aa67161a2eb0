package printers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// nodeLostReason is the pod status reason the node lifecycle controller sets on pods of an unreachable
// node; such pods, once being deleted, print as "Unknown".
const nodeLostReason = "NodeLost"

func podPrinter() Printer {
	podStatus := corev1.PodStatus{}.SwaggerDoc()
	podSpec := corev1.PodSpec{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
		column("Status", "string", "The aggregate status of the containers in this pod."),
		column("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
		ageColumn(),
		wideColumn("IP", "string", podStatus["podIP"]),
		wideColumn("Node", "string", podSpec["nodeName"]),
		wideColumn("Nominated Node", "string", podStatus["nominatedNodeName"]),
		wideColumn("Readiness Gates", "string", podSpec["readinessGates"]),
	}, podCells)
}

func podCells(pod *corev1.Pod, now time.Time) []interface{} {
	s := summarizePod(pod)

	restarts := strconv.Itoa(s.restarts)
	if s.restarts != 0 && !s.lastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.restarts, since(s.lastRestart, now))
	}

	ip := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}

	return []interface{}{
		pod.Name,
		fmt.Sprintf("%d/%d", s.ready, s.total),
		s.reason,
		restarts,
		since(pod.CreationTimestamp, now),
		orNone(ip),
		orNone(pod.Spec.NodeName),
		orNone(pod.Status.NominatedNodeName),
		readinessGates(pod),
	}
}

// podSummary is what the Ready, Status and Restarts columns say about a pod.
type podSummary struct {
	ready, total int
	reason       string
	restarts     int
	lastRestart  metav1.Time
}

// restartCounter sums container restarts and remembers when the most recent one ended.
type restartCounter struct {
	count int
	last  metav1.Time
}

func (r *restartCounter) add(cs *corev1.ContainerStatus) {
	r.count += int(cs.RestartCount)
	if t := cs.LastTerminationState.Terminated; t != nil && r.last.Before(&t.FinishedAt) {
		r.last = t.FinishedAt
	}
}

// summarizePod works out the pod's readiness, status reason and restarts. The status starts from the
// phase (or the pod's reason); a pod still running its init containers reports "Init:..."; otherwise the
// last container with something to say (waiting or terminated) gives the reason.
func summarizePod(pod *corev1.Pod) podSummary {
	s := podSummary{total: len(pod.Spec.Containers), reason: string(pod.Status.Phase)}
	if pod.Status.Reason != "" {
		s.reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.reason = corev1.PodReasonSchedulingGated
		}
	}

	// Sidecars (init containers that keep running) count as containers of the pod.
	sidecars := map[string]bool{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			s.total++
		}
	}

	var all, sidecarOnly restartCounter
	initializing := false
	for i := range pod.Status.InitContainerStatuses {
		cs := &pod.Status.InitContainerStatuses[i]
		all.add(cs)
		sidecar := sidecars[cs.Name]
		if sidecar {
			sidecarOnly.add(cs)
		}
		if cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
			continue // finished successfully
		}
		if sidecar && cs.Started != nil && *cs.Started {
			if cs.Ready {
				s.ready++
			}
			continue // a started sidecar does not hold up initialization
		}
		// This init container is where initialization stands.
		initializing = true
		switch {
		case cs.State.Terminated != nil:
			s.reason = "Init:" + terminatedReason(cs.State.Terminated)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			s.reason = "Init:" + cs.State.Waiting.Reason
		default:
			s.reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		break
	}
	s.restarts, s.lastRestart = all.count, all.last

	if !initializing || podConditionTrue(pod.Status.Conditions, corev1.PodInitialized) {
		counter := sidecarOnly
		running := false
		failure := ""
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := &pod.Status.ContainerStatuses[i]
			counter.add(cs)
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				s.reason = cs.State.Waiting.Reason
			case cs.State.Terminated != nil:
				s.reason = terminatedReason(cs.State.Terminated)
				if cs.State.Terminated.ExitCode != 0 {
					failure = s.reason
				}
			case cs.Ready && cs.State.Running != nil:
				running = true
				s.ready++
			}
		}
		s.restarts, s.lastRestart = counter.count, counter.last

		// A "Completed" container does not make the pod completed while others still run.
		if s.reason == "Completed" {
			switch {
			case running && podConditionTrue(pod.Status.Conditions, corev1.PodReady):
				s.reason = "Running"
			case failure != "":
				s.reason = failure
			case running:
				s.reason = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		switch {
		case pod.Status.Reason == nodeLostReason:
			s.reason = "Unknown"
		case pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed:
			s.reason = "Terminating"
		}
	}
	return s
}

// terminatedReason names a terminated container's end: its reason, else the signal, else the exit code.
func terminatedReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

// podConditionTrue reports whether the first condition of type t is True.
func podConditionTrue(conditions []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readinessGates renders "passed/total" for the pod's readiness gates, "<none>" without gates.
func readinessGates(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return none
	}
	passed := 0
	for _, gate := range pod.Spec.ReadinessGates {
		if podConditionTrue(pod.Status.Conditions, gate.ConditionType) {
			passed++
		}
	}
	return fmt.Sprintf("%d/%d", passed, len(pod.Spec.ReadinessGates))
}

func podTemplatePrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Containers", "string", "Names of each container in the template."),
		column("Images", "string", "Images referenced by each container in the template."),
		column("Pod Labels", "string", "The labels for the pod template."),
	}, func(t *corev1.PodTemplate, _ time.Time) []interface{} {
		names, images := containerCells(t.Template.Spec.Containers)
		return []interface{}{t.Name, names, images, labels.FormatLabels(t.Template.Labels)}
	})
}
