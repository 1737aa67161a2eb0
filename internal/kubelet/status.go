package kubelet

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
)

// maxTerminationMessage is how much of a termination message is kept, as upstream.
const maxTerminationMessage = 4096

func labelsEverything() labels.Selector { return labels.Everything() }

func sortImages(images []corev1.ContainerImage) {
	sort.SliceStable(images, func(i, j int) bool { return images[i].SizeBytes > images[j].SizeBytes })
}

func ntime(ns int64) metav1.Time {
	if ns == 0 {
		return metav1.Time{}
	}
	return metav1.NewTime(time.Unix(0, ns)).Rfc3339Copy()
}

// containerStatus is the API status of container c from its runtime instances.
func (k *Kubelet) containerStatus(pod *corev1.Pod, c *corev1.Container, st *podState, res *syncResult, initDone bool, isInit bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(bool)}
	latest, prev := st.latest(c.Name), st.previous(c.Name)
	waitReason := "ContainerCreating"
	if !isInit && !initDone {
		waitReason = "PodInitializing"
	}
	var waitMsg string
	if w, ok := res.waiting[c.Name]; ok {
		waitReason, waitMsg = w[0], w[1]
	}
	// What the container is allocated, and what it runs with: until it runs, what it
	// will be started with (ephemeral containers have no resources).
	allocated, hasAlloc := k.allocatedOf(pod.UID, c.Name)
	if hasAlloc {
		rr := resizable(allocated)
		cs.Resources = &rr
		cs.AllocatedResources = rr.Requests
	}
	if latest == nil {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waitReason, Message: waitMsg}
		return cs
	}
	cs.ContainerID = "containerd://" + latest.Id
	cs.ImageID = latest.ImageRef
	cs.RestartCount = int32(latest.Metadata.Attempt)
	switch latest.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: ntime(latest.StartedAt)}
		if rr, ok := k.actuatedOf(pod.UID, c.Name, latest); ok {
			cs.Resources = &rr
			if !hasAlloc {
				cs.AllocatedResources = rr.Requests
			}
		}
		started := k.probes.started(latest.Id, c)
		cs.Started = &started
		cs.Ready = started && k.probes.ready(latest.Id, c)
		if prev != nil && prev.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			cs.LastTerminationState.Terminated = k.terminated(c, prev)
		}
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		term := k.terminated(c, latest)
		if w, ok := res.waiting[c.Name]; ok {
			// Exited and waiting to be restarted.
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w[0], Message: w[1]}
			cs.LastTerminationState.Terminated = term
		} else {
			cs.State.Terminated = term
			if prev != nil && prev.State == runtimeapi.ContainerState_CONTAINER_EXITED {
				cs.LastTerminationState.Terminated = k.terminated(c, prev)
			}
		}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waitReason, Message: waitMsg}
		if prev != nil && prev.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			cs.LastTerminationState.Terminated = k.terminated(c, prev)
		}
	}
	return cs
}

// terminated describes an exited instance.
func (k *Kubelet) terminated(c *corev1.Container, s *runtimeapi.ContainerStatus) *corev1.ContainerStateTerminated {
	reason := s.Reason
	if reason == "" {
		reason = "Error"
		if s.ExitCode == 0 {
			reason = "Completed"
		}
	}
	msg := s.Message
	if p := s.Annotations[cri.AnnotationTerminationMessage]; p != "" {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			if len(b) > maxTerminationMessage {
				b = b[:maxTerminationMessage]
			}
			msg = string(b)
		}
	}
	if msg == "" && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && s.ExitCode != 0 {
		msg = tailLog(s.LogPath, 80, 2048)
	}
	return &corev1.ContainerStateTerminated{
		ExitCode:    s.ExitCode,
		Reason:      reason,
		Message:     msg,
		StartedAt:   ntime(s.StartedAt),
		FinishedAt:  ntime(s.FinishedAt),
		ContainerID: "containerd://" + s.Id,
	}
}

// tailLog returns the last lines of a CRI log file's text, at most maxBytes.
func tailLog(path string, lines, maxBytes int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		// <time> <stream> <tag> <text>
		parts := strings.SplitN(l, " ", 4)
		if len(parts) == 4 {
			out = append(out, parts[3])
		}
	}
	if len(out) > lines {
		out = out[len(out)-lines:]
	}
	s := strings.Join(out, "\n")
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
	}
	return s
}

// podStatus derives the pod's status from what the runtime reports.
func (k *Kubelet) podStatus(ctx context.Context, pod *corev1.Pod, st *podState, res *syncResult) corev1.PodStatus {
	old := &pod.Status
	status := corev1.PodStatus{
		QOSClass:              old.QOSClass,
		NominatedNodeName:     old.NominatedNodeName,
		StartTime:             old.StartTime,
		HostIP:                k.cfg.NodeIP.String(),
		HostIPs:               []corev1.HostIP{{IP: k.cfg.NodeIP.String()}},
		ResourceClaimStatuses: old.ResourceClaimStatuses,
	}
	if status.StartTime == nil {
		now := metav1.NewTime(k.cfg.Clock.Now()).Rfc3339Copy()
		status.StartTime = &now
	}
	sandboxReady := false
	if sb := st.readySandbox(); sb != nil {
		sandboxReady = true
		var ips []string
		if res.podIPsRead && res.podIPsOf == sb.Id {
			ips = res.podIPs
		} else {
			ips = k.sandboxIPs(ctx, sb.Id)
		}
		if pod.Spec.HostNetwork {
			ips = []string{k.cfg.NodeIP.String()}
		}
		for _, ip := range ips {
			status.PodIPs = append(status.PodIPs, corev1.PodIP{IP: ip})
		}
	} else if len(old.PodIPs) > 0 && len(st.sandboxes) > 0 {
		status.PodIPs = old.PodIPs // a finished pod keeps its address in the status
	}
	if len(status.PodIPs) > 0 {
		status.PodIP = status.PodIPs[0].IP
	}

	// Init containers.
	initDone := true
	initFailed := false
	var pendingInit []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := k.containerStatus(pod, c, st, res, true, true)
		status.InitContainerStatuses = append(status.InitContainerStatuses, cs)
		if isSidecar(c) {
			if cs.Started == nil || !*cs.Started {
				initDone = false
				pendingInit = append(pendingInit, c.Name)
			}
			continue
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		initDone = false
		pendingInit = append(pendingInit, c.Name)
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			initFailed = true
		}
	}
	// Ephemeral containers: reported, never part of the pod's phase or readiness.
	for i := range pod.Spec.EphemeralContainers {
		c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		cs := k.containerStatus(pod, &c, st, res, true, false)
		cs.Ready, cs.Started = false, nil
		if cs.State.Running != nil {
			started := true
			cs.Started = &started
		}
		status.EphemeralContainerStatuses = append(status.EphemeralContainerStatuses, cs)
	}
	// App containers.
	var running, waiting, stopped, succeeded int
	var unready []string
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := k.containerStatus(pod, c, st, res, initDone, false)
		status.ContainerStatuses = append(status.ContainerStatuses, cs)
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
		if !cs.Ready {
			unready = append(unready, c.Name)
		}
	}
	switch {
	case initFailed:
		status.Phase = corev1.PodFailed
	case !initDone:
		status.Phase = corev1.PodPending
	case waiting > 0:
		status.Phase = corev1.PodPending
	case running > 0:
		status.Phase = corev1.PodRunning
	case stopped > 0:
		switch {
		case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
			status.Phase = corev1.PodRunning
		case stopped == succeeded:
			status.Phase = corev1.PodSucceeded
		case pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure:
			status.Phase = corev1.PodRunning
		default:
			status.Phase = corev1.PodFailed
		}
	default:
		status.Phase = corev1.PodPending
	}
	if pod.DeletionTimestamp != nil && running == 0 && status.Phase == corev1.PodRunning {
		status.Phase = old.Phase
	}

	// Conditions.
	terminal := status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
		if !ok {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, msg
		}
		return c
	}
	conds := []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		cond(corev1.PodInitialized, initDone, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(pendingInit, " "))),
	}
	readyReason, readyMsg := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	if terminal {
		readyReason, readyMsg = "PodCompleted", ""
	}
	containersReady := len(unready) == 0 && !terminal
	conds = append(conds, cond(corev1.ContainersReady, containersReady, readyReason, readyMsg))
	podReady := containersReady
	if containersReady {
		var missing []string
		for _, g := range pod.Spec.ReadinessGates {
			gc := findPodCondition(old.Conditions, g.ConditionType)
			if gc == nil || gc.Status != corev1.ConditionTrue {
				missing = append(missing, string(g.ConditionType))
			}
		}
		if len(missing) > 0 {
			podReady = false
			readyReason, readyMsg = "ReadinessGatesNotReady", fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", missing[0])
		}
	}
	conds = append(conds, cond(corev1.PodReady, podReady, readyReason, readyMsg))
	now := metav1.NewTime(k.cfg.Clock.Now()).Rfc3339Copy()
	for i := range conds {
		conds[i].LastTransitionTime = now
		if o := findPodCondition(old.Conditions, conds[i].Type); o != nil && o.Status == conds[i].Status {
			conds[i].LastTransitionTime = o.LastTransitionTime
		}
	}
	// The resize conditions: PodResizePending while the kubelet cannot admit a resize,
	// PodResizeInProgress while a running container does not yet run with what it is
	// allocated (reason Error when applying it failed).
	if d := res.resizePending; d.Reason != "" {
		conds = append(conds, resizeCondition(old.Conditions, corev1.PodResizePending, d.Reason, d.Message, now))
	}
	if res.resizeError != "" {
		conds = append(conds, resizeCondition(old.Conditions, corev1.PodResizeInProgress, corev1.PodReasonError, res.resizeError, now))
	} else if k.resizeInProgress(pod, &status) {
		conds = append(conds, resizeCondition(old.Conditions, corev1.PodResizeInProgress, "", "", now))
	}
	// Conditions others own (PodScheduled, DisruptionTarget, readiness gates...) stay; the
	// resize conditions are the kubelet's.
	for _, o := range old.Conditions {
		if o.Type == corev1.PodResizePending || o.Type == corev1.PodResizeInProgress {
			continue
		}
		if findPodCondition(conds, o.Type) == nil {
			conds = append(conds, o)
		}
	}
	status.Conditions = conds
	return status
}

// resizeCondition is a resize condition that keeps its transition time while its reason
// stays the same.
func resizeCondition(old []corev1.PodCondition, t corev1.PodConditionType, reason, msg string, now metav1.Time) corev1.PodCondition {
	c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: now}
	if o := findPodCondition(old, t); o != nil && o.Status == c.Status && o.Reason == reason {
		c.LastTransitionTime = o.LastTransitionTime
	}
	return c
}

// resizeInProgress reports whether a running container of the pod (as status reports
// it) does not yet run with what it is allocated.
func (k *Kubelet) resizeInProgress(pod *corev1.Pod, status *corev1.PodStatus) bool {
	alloc, ok := k.allocs.allocated(pod.UID)
	if !ok {
		return false
	}
	for _, l := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses} {
		for i := range l {
			cs := &l[i]
			rr, ok := alloc[cs.Name]
			if ok && cs.State.Running != nil && cs.Resources != nil && !sameResources(resizable(*cs.Resources), resizable(rr)) {
				return true
			}
		}
	}
	return false
}

func findPodCondition(conds []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// writeStatus writes status through the status subresource when it differs from what
// the API has. It returns the pod the API now has when it wrote one.
func (k *Kubelet) writeStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) (*corev1.Pod, error) {
	if apiequality.Semantic.DeepEqual(pod.Status, status) {
		return nil, nil
	}
	p := pod.DeepCopy()
	p.Status = status
	out, err := k.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		fresh, gerr := k.cfg.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if fresh.UID != pod.UID {
			return nil, nil
		}
		// Keep conditions others wrote meanwhile.
		for _, o := range fresh.Status.Conditions {
			if findPodCondition(status.Conditions, o.Type) == nil {
				status.Conditions = append(status.Conditions, o)
			}
		}
		fresh.Status = status
		out, err = k.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
