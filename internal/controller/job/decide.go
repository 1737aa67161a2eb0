package job

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

const (
	// DefaultBackoff is the delay before recreating a pod after the first failure; it
	// doubles with each further failure since the last success.
	DefaultBackoff = 10 * time.Second
	// MaxBackoff caps the recreation delay.
	MaxBackoff = 6 * time.Minute
	// maxPodCreateDeletePerSync caps the pods created or deleted in one sync.
	maxPodCreateDeletePerSync = 500
	// maxUncountedPods caps the UIDs in status.uncountedTerminatedPods, which bounds the
	// size of the status and the finalizer removals per sync.
	maxUncountedPods = 500
	// defaultBackoffLimit is what the API server defaults spec.backoffLimit to.
	defaultBackoffLimit = 6
	// controllerName is the spec.managedBy value that means "this controller".
	controllerName = "kubernetes.io/job-controller"
	// maxGeneratedNameLength is the longest generateName the API server keeps whole.
	maxGeneratedNameLength = 63 - 5
	// completionIndexEnv is the environment variable holding the index of an Indexed Job pod.
	completionIndexEnv = "JOB_COMPLETION_INDEX"
)

// Condition reasons and messages, as Kubernetes writes them.
const (
	msgBackoffLimit       = "Job has reached the specified backoff limit"
	msgDeadline           = "Job was active longer than specified deadline"
	msgCompletionsReached = "Reached expected number of succeeded pods"
	msgMaxFailedIndexes   = "Job has exceeded the specified maximal number of failed indexes"
	msgFailedIndexes      = "Job has failed indexes"
	reasonSuspended       = "JobSuspended"
	msgSuspended          = "Job suspended"
	reasonResumed         = "JobResumed"
	msgResumed            = "Job resumed"
)

func isSuspended(job *batchv1.Job) bool { return ptr.Deref(job.Spec.Suspend, false) }

func isIndexed(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
}

// backoffLimit is spec.backoffLimit, defaulted as the API server does: 6, or no limit
// (MaxInt32) with backoffLimitPerIndex.
func backoffLimit(job *batchv1.Job) int32 {
	if job.Spec.BackoffLimit == nil && job.Spec.BackoffLimitPerIndex != nil {
		return math.MaxInt32
	}
	return ptr.Deref(job.Spec.BackoffLimit, defaultBackoffLimit)
}

// hasBackoffLimitPerIndex reports whether the Indexed Job counts failures per index.
func hasBackoffLimitPerIndex(job *batchv1.Job) bool {
	return isIndexed(job) && job.Spec.BackoffLimitPerIndex != nil
}

func parallelism(job *batchv1.Job) int32 { return ptr.Deref(job.Spec.Parallelism, 1) }

func hasTrackingFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
}

// findCondition returns the condition of type t, or nil.
func findCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func hasTrueCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	c := findCondition(job.Status.Conditions, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// finishedCondition returns the Job's true Complete or Failed condition, or nil.
func finishedCondition(job *batchv1.Job) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// isFinished reports whether the Job has a true Complete or Failed condition.
func isFinished(job *batchv1.Job) bool { return finishedCondition(job) != nil }

func newCondition(t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) batchv1.JobCondition {
	return batchv1.JobCondition{
		Type: t, Status: status, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
}

// ensureCondition makes the condition of type t have the given status, reason and message;
// a missing condition is only added when its status is not False. It reports whether
// anything changed.
func ensureCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) ([]batchv1.JobCondition, bool) {
	if c := findCondition(conds, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == message {
			return conds, false
		}
		*c = newCondition(t, status, reason, message, now)
		return conds, true
	}
	if status == corev1.ConditionFalse {
		return conds, false
	}
	return append(conds, newCondition(t, status, reason, message, now)), true
}

// onlyReplaceFailedPods reports whether replacement pods wait for terminating pods to
// reach the Failed phase (podReplacementPolicy Failed, implied by a podFailurePolicy).
func onlyReplaceFailedPods(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.PodReplacementPolicy, "") == batchv1.Failed || job.Spec.PodFailurePolicy != nil
}

// isPodFailed reports whether the pod counts as failed: it is Failed or, unless only
// Failed pods are replaced, being deleted without having succeeded (an orphan, say, that
// will never reach a terminal phase).
func isPodFailed(p *corev1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailedPods(job) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

// isPodTerminating reports whether the pod is being deleted and not yet terminal.
func isPodTerminating(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// wantActive is how many pods the Job should have running, given how many succeeded and
// how many are active: parallelism, but never more than the completions still missing;
// a Job without completions keeps what runs once a pod succeeded.
func wantActive(job *batchv1.Job, succeeded, active int32) int32 {
	par := parallelism(job)
	if job.Spec.Completions == nil {
		if succeeded > 0 {
			return active
		}
		return par
	}
	return max(0, min(*job.Spec.Completions-succeeded, par))
}

// isComplete reports whether enough pods succeeded and none are active.
func isComplete(job *batchv1.Job, succeeded, active int32) bool {
	if active > 0 {
		return false
	}
	if job.Spec.Completions == nil {
		return succeeded > 0
	}
	return succeeded >= *job.Spec.Completions
}

// podFinishTime is when the pod terminated: the latest container finish, else the last
// transition of its Ready condition, else its deletion or creation time.
func podFinishTime(p *corev1.Pod) time.Time {
	var t time.Time
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
				t = term.FinishedAt.Time
			}
		}
	}
	if !t.IsZero() {
		return t
	}
	if c := controllerutil.PodReadyCondition(p); c != nil && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime.Time
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Time
	}
	return p.CreationTimestamp.Time
}

// failuresSinceSuccess counts the failed pods (that count against the backoff limit) that
// finished after the last succeeded pod, and when the last of them finished.
func failuresSinceSuccess(job *batchv1.Job, pods []*corev1.Pod) (int, time.Time) {
	var lastSuccess time.Time
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded {
			if t := podFinishTime(p); t.After(lastSuccess) {
				lastSuccess = t
			}
		}
	}
	var (
		n           int
		lastFailure time.Time
	)
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || !isPodFailed(p, job) {
			continue
		}
		if _, count, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); !count {
			continue
		}
		t := podFinishTime(p)
		if !t.After(lastSuccess) {
			continue
		}
		n++
		if t.After(lastFailure) {
			lastFailure = t
		}
	}
	return n, lastFailure
}

// backoffDelay is how long to wait before creating pods after failures failures since the
// last success, the last at lastFailure: base doubled per failure after the first, capped
// at maxDelay, less the time already passed.
func backoffDelay(failures int, lastFailure, now time.Time, base, maxDelay time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := base
	for i := 1; i < failures && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	if elapsed := now.Sub(lastFailure); elapsed < d {
		return d - elapsed
	}
	return 0
}

// pastBackoffLimitOnFailure reports whether the container restarts of running pods of a
// restartPolicy OnFailure Job have used up its backoff limit.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += cs.RestartCount
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	limit := backoffLimit(job)
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// activeDeadline reports whether the Job has been active for its activeDeadlineSeconds at
// now, and otherwise how long it has left (0 without a running deadline).
func activeDeadline(job *batchv1.Job, now time.Time) (exceeded bool, left time.Duration) {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || isSuspended(job) {
		return false, 0
	}
	allowed := time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second
	elapsed := now.Sub(job.Status.StartTime.Time)
	if elapsed >= allowed {
		return true, 0
	}
	return false, allowed - elapsed
}

// matchPodFailurePolicy applies the Job's pod failure policy to a failed pod: it returns
// a message when the Job must fail (action FailJob), whether the failure counts against
// the backoff limit, and the action of the matching rule (nil if none matched).
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, p *corev1.Pod) (*string, bool, *batchv1.PodFailurePolicyAction) {
	if policy == nil || p.Status.Phase != corev1.PodFailed {
		return nil, true, nil
	}
	for i, rule := range policy.Rules {
		var msg string
		switch {
		case rule.OnExitCodes != nil:
			cs := matchExitCodes(rule.OnExitCodes, p)
			if cs == nil {
				continue
			}
			msg = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
				cs.Name, p.Namespace, p.Name, cs.State.Terminated.ExitCode, rule.Action, i)
		case len(rule.OnPodConditions) > 0:
			ct, ok := matchPodConditions(rule.OnPodConditions, p)
			if !ok {
				continue
			}
			msg = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d", p.Namespace, p.Name, ct, rule.Action, i)
		default:
			continue
		}
		action := rule.Action
		switch action {
		case batchv1.PodFailurePolicyActionIgnore:
			return nil, false, &action
		case batchv1.PodFailurePolicyActionFailJob:
			return &msg, true, &action
		default: // Count, FailIndex
			return nil, true, &action
		}
	}
	return nil, true, nil
}

// matchExitCodes returns the first terminated container (regular containers first, as
// Kubernetes looks) whose non-zero exit code matches the requirement.
func matchExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, p *corev1.Pod) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for i := range list {
			cs := &list[i]
			if req.ContainerName != nil && *req.ContainerName != cs.Name {
				continue
			}
			term := cs.State.Terminated
			if term == nil || term.ExitCode == 0 {
				continue
			}
			in := slices.Contains(req.Values, term.ExitCode)
			if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
				return cs
			}
		}
	}
	return nil
}

func matchPodConditions(reqs []batchv1.PodFailurePolicyOnPodConditionsPattern, p *corev1.Pod) (corev1.PodConditionType, bool) {
	for _, req := range reqs {
		want := req.Status
		if want == "" {
			want = corev1.ConditionTrue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == req.Type && c.Status == want {
				return c.Type, true
			}
		}
	}
	return "", false
}

// failJobMessage returns the message of the first FailJob rule a failed pod matches.
func failJobMessage(job *batchv1.Job, pods []*corev1.Pod) *string {
	if job.Spec.PodFailurePolicy == nil {
		return nil
	}
	for _, p := range pods {
		if !isPodFailed(p, job) {
			continue
		}
		if msg, _, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); msg != nil {
			return msg
		}
	}
	return nil
}

// podsToDelete picks the active pods to delete: for an Indexed Job first those with an
// invalid or already succeeded index and all but one of those sharing an index, then,
// until at least rmAtLeast are picked, the least valuable of the others.
func podsToDelete(job *batchv1.Job, active []*corev1.Pod, rmAtLeast int, succeeded intervals) []*corev1.Pod {
	var out, rest []*corev1.Pod
	if isIndexed(job) {
		completions := int(ptr.Deref(job.Spec.Completions, 0))
		seen := map[int]bool{}
		sorted := slices.Clone(active)
		slices.SortStableFunc(sorted, func(a, b *corev1.Pod) int { return comparePodsForDeletion(b, a) }) // keep the best
		for _, p := range sorted {
			ix := completionIndex(p)
			if !validIndex(ix, completions) || succeeded.has(ix) || seen[ix] {
				out = append(out, p)
				continue
			}
			seen[ix] = true
			rest = append(rest, p)
		}
	} else {
		rest = slices.Clone(active)
	}
	if more := rmAtLeast - len(out); more > 0 {
		slices.SortStableFunc(rest, comparePodsForDeletion)
		out = append(out, rest[:min(more, len(rest))]...)
	}
	return out
}

// comparePodsForDeletion orders pods so that those to delete first come first:
// unscheduled before scheduled, Pending before Running, not ready before ready, newer
// before older.
func comparePodsForDeletion(a, b *corev1.Pod) int {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		if a.Spec.NodeName == "" {
			return -1
		}
		return 1
	}
	rank := func(p corev1.PodPhase) int {
		switch p {
		case corev1.PodPending:
			return 0
		case corev1.PodUnknown:
			return 1
		}
		return 2
	}
	if ra, rb := rank(a.Status.Phase), rank(b.Status.Phase); ra != rb {
		return ra - rb
	}
	if ra, rb := controllerutil.IsPodReady(a), controllerutil.IsPodReady(b); ra != rb {
		if !ra {
			return -1
		}
		return 1
	}
	return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
}

// podTemplate returns the pod to create for the Job (index unknownIndex for a NonIndexed
// Job): the Job's template with the tracking finalizer and a controller reference; in
// Indexed mode also the completion index annotation and label, the JOB_COMPLETION_INDEX
// environment variable, hostname <job>-<index> and generateName <job>-<index>-.
func podTemplate(job *batchv1.Job, index int) *corev1.Pod {
	t := job.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    generateName(job.Name + "-"),
			Namespace:       job.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
		},
		Spec: t.Spec,
	}
	if !slices.Contains(pod.Finalizers, batchv1.JobTrackingFinalizer) {
		pod.Finalizers = append(pod.Finalizers, batchv1.JobTrackingFinalizer)
	}
	if index == unknownIndex {
		return pod
	}
	ix := strconv.Itoa(index)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = ix
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = ix
	pod.Spec.Hostname = job.Name + "-" + ix
	suffix := "-" + ix + "-"
	pod.GenerateName = job.Name[:min(len(job.Name), maxGeneratedNameLength-len(suffix))] + suffix
	addIndexEnv(pod.Spec.InitContainers)
	addIndexEnv(pod.Spec.Containers)
	return pod
}

func generateName(prefix string) string {
	if len(prefix) > maxGeneratedNameLength {
		return prefix[:maxGeneratedNameLength]
	}
	return prefix
}

// addIndexEnv gives every container JOB_COMPLETION_INDEX from the index label (as
// Kubernetes does since PodIndexLabel went GA), unless it defines the variable itself.
func addIndexEnv(containers []corev1.Container) {
	for i := range containers {
		c := &containers[i]
		if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == completionIndexEnv }) {
			continue
		}
		c.Env = append(c.Env, corev1.EnvVar{
			Name: completionIndexEnv,
			ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
				FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation),
			}},
		})
	}
}

// ttlExpiry returns when a finished Job with ttlSecondsAfterFinished expires.
func ttlExpiry(job *batchv1.Job) (time.Time, bool) {
	c := finishedCondition(job)
	if c == nil || job.Spec.TTLSecondsAfterFinished == nil {
		return time.Time{}, false
	}
	finished := c.LastTransitionTime.Time
	if job.Status.CompletionTime != nil && c.Type == batchv1.JobComplete {
		finished = job.Status.CompletionTime.Time
	}
	return finished.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second), true
}

// --- backoffLimitPerIndex and maxFailedIndexes (Indexed Jobs).

// isIndexFailed reports whether a pod fails its index for good: it failed matching a
// FailIndex rule of the podFailurePolicy, or its failure counts and its index had already
// failed backoffLimitPerIndex times before it.
func isIndexFailed(job *batchv1.Job, p *corev1.Pod) bool {
	if !isPodFailed(p, job) {
		return false
	}
	_, count, action := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p)
	if action != nil && *action == batchv1.PodFailurePolicyActionFailIndex {
		return true
	}
	return count && indexFailureCount(p) >= ptr.Deref(job.Spec.BackoffLimitPerIndex, 0)
}

// failedIndexes returns status.failedIndexes plus the indexes failed for good by pods not
// counted yet (still carrying the tracking finalizer). Indexes already succeeded are
// left out: the two lists never overlap.
func failedIndexes(job *batchv1.Job, pods []*corev1.Pod, succeeded intervals) intervals {
	completions := int(ptr.Deref(job.Spec.Completions, 0))
	prev := parseIntervals(ptr.Deref(job.Status.FailedIndexes, ""), completions)
	var idx []int
	for _, p := range pods {
		ix := completionIndex(p)
		if validIndex(ix, completions) && !succeeded.has(ix) && hasTrackingFinalizer(p) && isIndexFailed(job, p) {
			idx = append(idx, ix)
		}
	}
	return prev.with(idx)
}

// failedIndexesOutcome decides whether failed indexes fail the Job: more than
// maxFailedIndexes of them (MaxFailedIndexesExceeded), or some once every index has
// finished (FailedIndexes). It returns the reason and message of the FailureTarget
// condition, or ok false.
func failedIndexesOutcome(job *batchv1.Job, failed, succeeded intervals) (reason, message string, ok bool) {
	nFailed := failed.total()
	if m := job.Spec.MaxFailedIndexes; m != nil && nFailed > int(*m) {
		return batchv1.JobReasonMaxFailedIndexesExceeded, msgMaxFailedIndexes, true
	}
	if nFailed > 0 && nFailed+succeeded.total() >= int(ptr.Deref(job.Spec.Completions, 0)) {
		return batchv1.JobReasonFailedIndexes, msgFailedIndexes, true
	}
	return "", "", false
}

// podsAwaitingReplacement returns, per index, the failed pod whose counting (and so
// deletion) waits until a replacement pod of its index exists, because the replacement
// takes its failure count from it. Only indexes neither succeeded, failed nor active
// have one; of several failed pods of an index, the one with the highest count (and,
// among equals, the latest to finish) is kept. Pods in rmPending are counted already.
func podsAwaitingReplacement(job *batchv1.Job, pods, active []*corev1.Pod, succeeded, failed intervals, rmPending sets.Set[string]) map[int]*corev1.Pod {
	completions := int(ptr.Deref(job.Spec.Completions, 0))
	activeIdx := sets.New(indexesOf(active, completions)...)
	out := map[int]*corev1.Pod{}
	for _, p := range pods {
		if !hasTrackingFinalizer(p) || rmPending.Has(string(p.UID)) || !isPodFailed(p, job) {
			continue
		}
		ix := completionIndex(p)
		if !validIndex(ix, completions) || succeeded.has(ix) || failed.has(ix) || activeIdx.Has(ix) {
			continue
		}
		if last, ok := out[ix]; ok {
			if absoluteFailureCount(last) > absoluteFailureCount(p) || podFinishTime(p).Before(podFinishTime(last)) {
				continue
			}
		}
		out[ix] = p
	}
	return out
}

func absoluteFailureCount(p *corev1.Pod) int32 {
	return indexFailureCount(p) + indexIgnoredFailureCount(p)
}

// newIndexFailureCounts returns the failure counts (counted, ignored) for the pod that
// replaces the failed pod replaced of its index (nil: the index's first pod).
func newIndexFailureCounts(job *batchv1.Job, replaced *corev1.Pod) (int32, int32) {
	if replaced == nil {
		return 0, 0
	}
	failures, ignored := indexFailureCount(replaced), indexIgnoredFailureCount(replaced)
	if _, count, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, replaced); count {
		failures++
	} else {
		ignored++
	}
	return failures, ignored
}

// setIndexFailureCounts records on a new pod of a Job with backoffLimitPerIndex how often
// its index failed before, from the failed pod it replaces.
func setIndexFailureCounts(pod *corev1.Pod, job *batchv1.Job, replaced *corev1.Pod) {
	failures, ignored := newIndexFailureCounts(job, replaced)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(failures))
	if ignored > 0 {
		pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
	}
}

// indexBackoff is how long to wait before replacing the failed pod last of an index (nil:
// no wait): base doubled per earlier failure of the index, capped at maxDelay, less the
// time since it finished.
func indexBackoff(last *corev1.Pod, now time.Time, base, maxDelay time.Duration) time.Duration {
	if last == nil {
		return 0
	}
	return backoffDelay(int(absoluteFailureCount(last))+1, podFinishTime(last), now, base, maxDelay)
}

// readyIndexes splits the indexes to create pods for into those whose backoff has passed
// and, when there is none, the shortest wait.
func readyIndexes(indexes []int, awaiting map[int]*corev1.Pod, now time.Time, base, maxDelay time.Duration) ([]int, time.Duration) {
	var (
		ready   []int
		minWait time.Duration
	)
	for _, ix := range indexes {
		wait := indexBackoff(awaiting[ix], now, base, maxDelay)
		if wait == 0 {
			ready = append(ready, ix)
		} else if minWait == 0 || wait < minWait {
			minWait = wait
		}
	}
	if len(ready) > 0 {
		return ready, 0
	}
	return nil, minWait
}

// --- successPolicy (Indexed Jobs).

// matchSuccessPolicy returns the message of the SuccessCriteriaMet condition when a rule
// of the policy is met by the succeeded indexes: all its succeededIndexes succeeded, or
// succeededCount of them (of all indexes without succeededIndexes).
func matchSuccessPolicy(policy *batchv1.SuccessPolicy, completions int, succeeded intervals) (string, bool) {
	if policy == nil || len(succeeded) == 0 {
		return "", false
	}
	for i, rule := range policy.Rules {
		matched := false
		if rule.SucceededIndexes != nil {
			want := parseIntervals(*rule.SucceededIndexes, completions)
			if len(want) == 0 {
				continue
			}
			have := overlap(want, succeeded)
			matched = have == want.total() || rule.SucceededCount != nil && have >= int(*rule.SucceededCount)
		} else if rule.SucceededCount != nil {
			matched = succeeded.total() >= int(*rule.SucceededCount)
		}
		if matched {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}

// overlap counts the indexes in both interval lists.
func overlap(a, b intervals) int {
	n := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		if o := min(a[i].last, b[j].last) - max(a[i].first, b[j].first) + 1; o > 0 {
			n += o
		}
		if a[i].last < b[j].last {
			i++
		} else {
			j++
		}
	}
	return n
}
