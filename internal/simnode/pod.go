package simnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// killedExitCode is the exit code of containers stopped because their pod was deleted.
const killedExitCode = 137

// syncPod brings one pod on a simulated node where it should be. It returns when to look at
// the pod again (0: only on its next change).
func (c *Cluster) syncPod(ctx context.Context, key string) (time.Duration, error) {
	obj, exists, err := c.pods.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return 0, err
	}
	pod := obj.(*corev1.Pod)
	n := c.nodes[pod.Spec.NodeName]
	if n == nil || n.isPaused() {
		return 0, nil
	}
	if pod.DeletionTimestamp != nil {
		return 0, c.finishTerminating(ctx, pod, n)
	}
	if terminal(pod.Status.Phase) {
		c.releasePod(pod.UID)
		return 0, nil
	}
	st, err := c.podStateFor(pod, n)
	if err != nil {
		return 0, err
	}
	status, wait := c.desiredPodStatus(pod, n, st, c.cfg.Clock.Now())
	if !apiequality.Semantic.DeepEqual(&pod.Status, &status) {
		p := pod.DeepCopy()
		p.Status = status
		if _, err := c.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return 0, nil
			}
			return 0, err
		}
		c.log.Debug("pod status updated", "pod", key, "node", n.name, "phase", status.Phase)
		if terminal(status.Phase) {
			c.releasePod(pod.UID)
		}
	}
	return wait, nil
}

// finishTerminating completes the deletion of a pod the API server marked for deletion, as
// the kubelet does once its containers are stopped: a grace-period-0 delete for that very
// pod. A pod with finalizers is first given a terminal status, so that whoever holds a
// finalizer (the Job controller, say) sees it finished.
func (c *Cluster) finishTerminating(ctx context.Context, pod *corev1.Pod, n *node) error {
	pods := c.cfg.Client.CoreV1().Pods(pod.Namespace)
	if len(pod.Finalizers) > 0 {
		if !terminal(pod.Status.Phase) {
			st, err := c.podStateFor(pod, n)
			if err != nil {
				return err
			}
			p := pod.DeepCopy()
			p.Status = c.terminalPodStatus(pod, n, st, c.cfg.Clock.Now(), killedExitCode)
			if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				if apierrors.IsNotFound(err) {
					return nil
				}
				return err
			}
		}
		if g := pod.DeletionGracePeriodSeconds; g != nil && *g == 0 {
			return nil // done here; the pod goes when its finalizers do
		}
	}
	err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: ptr.To(pod.UID)},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	c.log.Debug("pod deleted", "pod", pod.Namespace+"/"+pod.Name, "node", n.name)
	c.releasePod(pod.UID)
	return nil
}

func terminal(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

// podStateFor returns what the node remembers of pod, allocating its IP the first time.
func (c *Cluster) podStateFor(pod *corev1.Pod, n *node) (podState, error) {
	c.mu.Lock()
	st := c.podState[pod.UID]
	c.mu.Unlock()
	if st != nil {
		return *st, nil
	}
	cidr := n.podRange
	if obj, ok, _ := c.nodeS.GetIndexer().GetByKey(n.name); ok {
		if s := obj.(*corev1.Node).Spec.PodCIDR; s != "" {
			if _, ipnet, err := net.ParseCIDR(s); err == nil {
				cidr = ipnet
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.podState[pod.UID]; st != nil { // raced with another worker
		return *st, nil
	}
	st = &podState{node: n.name, started: c.cfg.Clock.Now()}
	if pod.Status.StartTime != nil {
		st.started = pod.Status.StartTime.Time
	}
	switch {
	case pod.Spec.HostNetwork:
		st.ip = n.internalIP
	case pod.Status.PodIP != "":
		st.ip = pod.Status.PodIP
		if _, taken := n.usedIPs[st.ip]; !taken {
			n.usedIPs[st.ip] = pod.UID
		}
	default:
		ip, err := allocateIP(cidr, n.usedIPs)
		if err != nil {
			return podState{}, fmt.Errorf("node %s: %w", n.name, err)
		}
		st.ip = ip
		n.usedIPs[ip] = pod.UID
	}
	c.podState[pod.UID] = st
	return *st, nil
}

// releasePod forgets a pod and frees its IP.
func (c *Cluster) releasePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.podState[uid]
	if st == nil {
		return
	}
	delete(c.podState, uid)
	if n := c.nodes[st.node]; n != nil && n.usedIPs[st.ip] == uid {
		delete(n.usedIPs, st.ip)
	}
}

// allocateIP returns the lowest free host address of cidr, past the gateway (.1).
func allocateIP(cidr *net.IPNet, used map[string]types.UID) (string, error) {
	ones, bits := cidr.Mask.Size()
	size := int64(math.MaxInt32)
	if bits-ones < 31 {
		size = int64(1) << (bits - ones)
	}
	for off := int64(2); off < size-1; off++ {
		ip := offsetIP(cidr.IP, off).String()
		if _, taken := used[ip]; !taken {
			return ip, nil
		}
	}
	return "", fmt.Errorf("no free pod IP in %s", cidr)
}

// runTime is how long pod runs before its containers exit, if it does finish.
func (c *Cluster) runTime(pod *corev1.Pod) (time.Duration, bool) {
	job := slices.ContainsFunc(pod.OwnerReferences, func(r metav1.OwnerReference) bool { return r.Kind == "Job" })
	finite := job || pod.Spec.RestartPolicy == corev1.RestartPolicyNever || pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure
	if v, ok := pod.Annotations[AnnotationRunSeconds]; ok && finite {
		s, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err == nil && s >= 0 && s < 1e9 {
			return time.Duration(s * float64(time.Second)), true
		}
		c.log.Warn("ignoring invalid annotation", "pod", pod.Namespace+"/"+pod.Name, "annotation", AnnotationRunSeconds, "value", v)
	}
	if job {
		return c.cfg.JobRunTime, true
	}
	return 0, false
}

// exitCode is the exit code of a finishing pod's containers.
func (c *Cluster) exitCode(pod *corev1.Pod) int32 {
	code := int32(0)
	if list, ok := pod.Annotations[AnnotationFailIndexes]; ok {
		in, err := inIndexList(list, pod.Annotations["batch.kubernetes.io/job-completion-index"])
		if err != nil {
			c.log.Warn("ignoring invalid annotation", "pod", pod.Namespace+"/"+pod.Name, "annotation", AnnotationFailIndexes, "value", list)
		}
		if !in {
			return 0
		}
		code = 1
	}
	v, ok := pod.Annotations[AnnotationExitCode]
	if !ok {
		return code
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil {
		c.log.Warn("ignoring invalid annotation", "pod", pod.Namespace+"/"+pod.Name, "annotation", AnnotationExitCode, "value", v)
		return code
	}
	return int32(n)
}

// inIndexList reports whether index (a decimal number) is in list ("1,3-5").
func inIndexList(list, index string) (bool, error) {
	ix, err := strconv.Atoi(strings.TrimSpace(index))
	if err != nil {
		return false, nil // not a pod of an Indexed Job
	}
	for part := range strings.SplitSeq(list, ",") {
		first, last, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(first)
		if err != nil {
			return false, err
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(last); err != nil {
				return false, err
			}
		}
		if a <= ix && ix <= b {
			return true, nil
		}
	}
	return false, nil
}

// desiredPodStatus is the status of a pod that is running (or has just finished), and how
// long until it finishes (0: never, or already).
func (c *Cluster) desiredPodStatus(pod *corev1.Pod, n *node, st podState, now time.Time) (corev1.PodStatus, time.Duration) {
	if d, ok := c.runTime(pod); ok {
		end := st.started.Add(d)
		if !now.Before(end) {
			return c.terminalPodStatus(pod, n, st, end, c.exitCode(pod)), 0
		}
		return c.runningPodStatus(pod, n, st, now), end.Sub(now)
	}
	return c.runningPodStatus(pod, n, st, now), 0
}

func (c *Cluster) basePodStatus(pod *corev1.Pod, n *node, st podState, phase corev1.PodPhase) corev1.PodStatus {
	s := *pod.Status.DeepCopy()
	s.Phase = phase
	s.HostIP = n.internalIP
	s.HostIPs = []corev1.HostIP{{IP: n.internalIP}}
	s.PodIP = st.ip
	s.PodIPs = []corev1.PodIP{{IP: st.ip}}
	s.StartTime = ptr.To(metav1.NewTime(st.started).Rfc3339Copy())
	s.ObservedGeneration = pod.Generation
	return s
}

func (c *Cluster) runningPodStatus(pod *corev1.Pod, n *node, st podState, now time.Time) corev1.PodStatus {
	s := c.basePodStatus(pod, n, st, corev1.PodRunning)
	started := metav1.NewTime(st.started).Rfc3339Copy()
	t := metav1.NewTime(now).Rfc3339Copy()
	setPodConditions(&s, pod.Generation, t, "",
		corev1.PodReadyToStartContainers, corev1.ConditionTrue,
		corev1.PodInitialized, corev1.ConditionTrue,
		corev1.PodReady, corev1.ConditionTrue,
		corev1.ContainersReady, corev1.ConditionTrue,
		corev1.PodScheduled, corev1.ConditionTrue)
	s.InitContainerStatuses = nil
	for _, ctr := range pod.Spec.InitContainers {
		if ctr.RestartPolicy != nil && *ctr.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			s.InitContainerStatuses = append(s.InitContainerStatuses, runningContainer(pod, ctr, started))
		} else {
			s.InitContainerStatuses = append(s.InitContainerStatuses, terminatedContainer(pod, ctr, started, started, 0))
		}
	}
	s.ContainerStatuses = nil
	for _, ctr := range pod.Spec.Containers {
		s.ContainerStatuses = append(s.ContainerStatuses, runningContainer(pod, ctr, started))
	}
	sortContainerStatuses(s.ContainerStatuses)
	return s
}

// terminalPodStatus is the status of a pod whose containers all exited with code at end.
func (c *Cluster) terminalPodStatus(pod *corev1.Pod, n *node, st podState, end time.Time, code int32) corev1.PodStatus {
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	s := c.basePodStatus(pod, n, st, phase)
	started := metav1.NewTime(st.started).Rfc3339Copy()
	finished := metav1.NewTime(end).Rfc3339Copy()
	setPodConditions(&s, pod.Generation, finished, "PodCompleted",
		corev1.PodReadyToStartContainers, corev1.ConditionFalse,
		corev1.PodInitialized, corev1.ConditionTrue,
		corev1.PodReady, corev1.ConditionFalse,
		corev1.ContainersReady, corev1.ConditionFalse,
		corev1.PodScheduled, corev1.ConditionTrue)
	// The reason belongs to the False conditions only.
	for i := range s.Conditions {
		if s.Conditions[i].Type == corev1.PodScheduled || s.Conditions[i].Type == corev1.PodReadyToStartContainers {
			s.Conditions[i].Reason = ""
		}
	}
	s.InitContainerStatuses = nil
	for _, ctr := range pod.Spec.InitContainers {
		ec := int32(0)
		if ctr.RestartPolicy != nil && *ctr.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			ec = code
		}
		s.InitContainerStatuses = append(s.InitContainerStatuses, terminatedContainer(pod, ctr, started, finished, ec))
	}
	s.ContainerStatuses = nil
	for _, ctr := range pod.Spec.Containers {
		s.ContainerStatuses = append(s.ContainerStatuses, terminatedContainer(pod, ctr, started, finished, code))
	}
	sortContainerStatuses(s.ContainerStatuses)
	return s
}

// setPodConditions sets the given (type, status) pairs, in that order and before any other
// condition, keeping the transition time of a condition whose status is unchanged.
func setPodConditions(s *corev1.PodStatus, gen int64, now metav1.Time, falseReason string, pairs ...any) {
	var conds []corev1.PodCondition
	var owned []corev1.PodConditionType
	for i := 0; i+1 < len(pairs); i += 2 {
		t, status := pairs[i].(corev1.PodConditionType), pairs[i+1].(corev1.ConditionStatus)
		owned = append(owned, t)
		cond := corev1.PodCondition{Type: t, Status: status, LastTransitionTime: now, ObservedGeneration: gen}
		if status == corev1.ConditionFalse {
			cond.Reason = falseReason
		}
		for _, o := range s.Conditions {
			if o.Type == t && o.Status == status && !o.LastTransitionTime.IsZero() {
				cond.LastTransitionTime = o.LastTransitionTime
			}
		}
		conds = append(conds, cond)
	}
	for _, o := range s.Conditions {
		if !slices.Contains(owned, o.Type) {
			conds = append(conds, o)
		}
	}
	s.Conditions = conds
}

func sortContainerStatuses(s []corev1.ContainerStatus) {
	slices.SortStableFunc(s, func(a, b corev1.ContainerStatus) int { return strings.Compare(a.Name, b.Name) })
}

func runningContainer(pod *corev1.Pod, ctr corev1.Container, started metav1.Time) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name:        ctr.Name,
		Image:       ctr.Image,
		ImageID:     imageID(ctr.Image),
		ContainerID: containerID(pod, ctr.Name),
		Ready:       true,
		Started:     ptr.To(true),
		State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
	}
}

func terminatedContainer(pod *corev1.Pod, ctr corev1.Container, started, finished metav1.Time, code int32) corev1.ContainerStatus {
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	return corev1.ContainerStatus{
		Name:        ctr.Name,
		Image:       ctr.Image,
		ImageID:     imageID(ctr.Image),
		ContainerID: containerID(pod, ctr.Name),
		Ready:       false,
		Started:     ptr.To(false),
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode:    code,
			Reason:      reason,
			StartedAt:   started,
			FinishedAt:  finished,
			ContainerID: containerID(pod, ctr.Name),
		}},
	}
}

func containerID(pod *corev1.Pod, name string) string {
	return fmt.Sprintf("sim://%s-%s", pod.UID, name)
}

// imageID is a digest reference for image, as a runtime reports after pulling it.
func imageID(image string) string {
	if strings.Contains(image, "@sha256:") {
		return image
	}
	repo := image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	sum := sha256.Sum256([]byte(image))
	return repo + "@sha256:" + hex.EncodeToString(sum[:])
}
