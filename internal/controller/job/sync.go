package job

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// syncState is what one sync of a Job works out.
type syncState struct {
	job       *batchv1.Job
	pods      []*corev1.Pod
	active    []*corev1.Pod
	ready     int32
	succeeded int32
	failed    int32
	// terminating counts pods being deleted that have not reached a terminal phase.
	terminating int32
	// uncountedSucceeded and uncountedFailed are the UIDs in status.uncountedTerminatedPods.
	uncountedSucceeded, uncountedFailed sets.Set[types.UID]
	// rmPending are pods whose finalizer removal the informer has not shown yet.
	rmPending sets.Set[string]
	// For Indexed Jobs: the completed indexes in status, and with the succeeded pods not
	// yet counted.
	prevSucceededIndexes, succeededIndexes intervals
	// For Indexed Jobs with backoffLimitPerIndex: the failed indexes (status and new), and
	// per index the failed pod awaiting its replacement (see podsAwaitingReplacement).
	failedIndexes *intervals
	awaiting      map[int]*corev1.Pod
	// finished is the condition the Job is heading to (SuccessCriteriaMet, FailureTarget,
	// or, when the interim one is already recorded, Complete/Failed), or nil.
	finished *batchv1.JobCondition
}

// sync brings the Job named by key closer to completion and records its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.jobLister.Jobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		c.finalizers.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if m := shared.Spec.ManagedBy; m != nil && *m != controllerName {
		return nil
	}
	if isFinished(shared) {
		c.releaseFinishedPods(shared)
		return c.syncTTL(ctx, key, shared)
	}
	if mode := ptr.Deref(shared.Spec.CompletionMode, batchv1.NonIndexedCompletion); mode != batchv1.NonIndexedCompletion && mode != batchv1.IndexedCompletion {
		c.recorder.Event(shared, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	if isIndexed(shared) && shared.Spec.Completions == nil {
		return nil // invalid; the API server does not allow it
	}
	job := shared.DeepCopy()
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	now := c.clock.Now()
	satisfied := c.expectations.Satisfied(key)
	pods, err := c.podsForJob(ctx, job)
	if err != nil {
		return err
	}

	st := &syncState{
		job:                job,
		pods:               pods,
		uncountedSucceeded: sets.New(job.Status.UncountedTerminatedPods.Succeeded...),
		uncountedFailed:    sets.New(job.Status.UncountedTerminatedPods.Failed...),
		rmPending:          c.finalizers.pending(key),
	}
	for _, p := range pods {
		if controllerutil.IsPodActive(p) {
			st.active = append(st.active, p)
			if controllerutil.IsPodReady(p) {
				st.ready++
			}
		}
		if isPodTerminating(p) {
			st.terminating++
		}
	}
	// Pods that finished but are not in the counters or the uncounted lists yet.
	var newSucceeded, newFailed int32
	for _, p := range pods {
		if !hasTrackingFinalizer(p) || st.rmPending.Has(string(p.UID)) {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded && !st.uncountedSucceeded.Has(p.UID) {
			newSucceeded++
		} else if isPodFailed(p, job) && !st.uncountedFailed.Has(p.UID) {
			if _, count, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); count {
				newFailed++
			}
		}
	}
	st.succeeded = job.Status.Succeeded + newSucceeded + int32(st.uncountedSucceeded.Len())
	st.failed = job.Status.Failed + newFailed + int32(st.uncountedFailed.Len())

	if job.Status.StartTime == nil && !isSuspended(job) {
		job.Status.StartTime = ptr.To(metav1.NewTime(now))
	}

	// Is the Job finished (or about to be)?
	if c := findCondition(job.Status.Conditions, batchv1.JobSuccessCriteriaMet); c != nil && c.Status == corev1.ConditionTrue {
		st.finished = c.DeepCopy()
	} else if c := findCondition(job.Status.Conditions, batchv1.JobFailureTarget); c != nil && c.Status == corev1.ConditionTrue {
		st.finished = ptr.To(newCondition(batchv1.JobFailed, corev1.ConditionTrue, c.Reason, c.Message, now))
	} else if msg := failJobMessage(job, pods); msg != nil {
		st.finished = ptr.To(newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonPodFailurePolicy, *msg, now))
	}
	if st.finished == nil {
		exceeded, left := activeDeadline(job, now)
		switch {
		case st.failed > backoffLimit(job) || pastBackoffLimitOnFailure(job, pods):
			st.finished = ptr.To(newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit, now))
		case exceeded:
			st.finished = ptr.To(newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, msgDeadline, now))
		case left > 0:
			c.queue.AddAfter(key, left)
		}
	}
	if isIndexed(job) {
		completions := int(*job.Spec.Completions)
		st.prevSucceededIndexes = parseIntervals(job.Status.CompletedIndexes, completions)
		// An index failed for good stays failed, even if a pod of it succeeds later.
		prevFailed := parseIntervals(ptr.Deref(job.Status.FailedIndexes, ""), completions)
		var idx []int
		for _, p := range pods {
			if ix := completionIndex(p); p.Status.Phase == corev1.PodSucceeded && validIndex(ix, completions) && hasTrackingFinalizer(p) && !prevFailed.has(ix) {
				idx = append(idx, ix)
			}
		}
		st.succeededIndexes = st.prevSucceededIndexes.with(idx)
		st.succeeded = int32(st.succeededIndexes.total())
		if hasBackoffLimitPerIndex(job) {
			failed := failedIndexes(job, pods, st.succeededIndexes)
			st.failedIndexes = &failed
			if st.finished == nil {
				if reason, msg, ok := failedIndexesOutcome(job, failed, st.succeededIndexes); ok {
					st.finished = ptr.To(newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, reason, msg, now))
				}
			}
			st.awaiting = podsAwaitingReplacement(job, pods, st.active, st.succeededIndexes, failed, st.rmPending)
		}
		if st.finished == nil {
			if msg, ok := matchSuccessPolicy(job.Spec.SuccessPolicy, completions, st.succeededIndexes); ok {
				st.finished = ptr.To(newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonSuccessPolicy, msg, now))
			}
		}
	}

	active := int32(len(st.active))
	var manageErr error
	suspendChanged := false
	if st.finished != nil {
		// Failing (or met success criteria): stop what still runs, keeping the finalizers
		// so that the pods are counted.
		deletedReady, deleted, err := c.deleteActivePods(ctx, job, st.active)
		if deleted != active || !satisfied {
			st.finished = nil // not yet: there may be pods we do not see
		}
		active -= deleted
		st.terminating += deleted
		st.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manageJob(ctx, key, st)
			managed = true
		}
		if isComplete(job, st.succeeded, active) {
			st.finished = ptr.To(newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletionsReached, now))
		} else if managed {
			if isSuspended(job) {
				if job.Status.Conditions, suspendChanged = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, reasonSuspended, msgSuspended, now); suspendChanged {
					c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", msgSuspended)
				}
			} else if job.Status.Conditions, suspendChanged = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, reasonResumed, msgResumed, now); suspendChanged {
				c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", msgResumed)
				// activeDeadlineSeconds counts continuous activity: start afresh.
				job.Status.StartTime = ptr.To(metav1.NewTime(now))
			}
		}
	}

	needsUpdate := suspendChanged || active != job.Status.Active || !ptr.Equal(&st.ready, job.Status.Ready) ||
		!ptr.Equal(&st.terminating, job.Status.Terminating) || !ptr.Equal(job.Status.StartTime, shared.Status.StartTime)
	job.Status.Active = active
	job.Status.Ready = ptr.To(st.ready)
	job.Status.Terminating = ptr.To(st.terminating)
	if err := c.trackStatus(ctx, key, st, needsUpdate); err != nil {
		return fmt.Errorf("tracking status: %w", err)
	}
	return manageErr
}

// podsForJob claims the Job's pods: adopting matching orphans (adding the tracking
// finalizer to them) and releasing owned pods that stopped matching.
func (c *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("invalid Job selector: %w", err)
	}
	all, err := c.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	owned := sets.New[types.UID]()
	for _, p := range all {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.UID == job.UID {
			owned.Insert(p.UID)
		}
	}
	pods, err := controllerutil.Claim(ctx, controllerutil.Claimer{
		Owner:     job,
		OwnerKind: controllerKind,
		Selector:  selector,
		CanAdopt: controllerutil.RecheckOwner(job, func(ctx context.Context) (metav1.Object, error) {
			return c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, namespace, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}, all)
	for i, p := range pods {
		if owned.Has(p.UID) || hasTrackingFinalizer(p) {
			continue
		}
		// Just adopted: track it from now on, as if we had created it.
		patch := fmt.Appendf(nil, `{"metadata":{"finalizers":[%q],"uid":%q}}`, batchv1.JobTrackingFinalizer, p.UID)
		if _, perr := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); perr == nil {
			pods[i] = p.DeepCopy()
			pods[i].Finalizers = append(pods[i].Finalizers, batchv1.JobTrackingFinalizer)
		}
	}
	return pods, err
}

// manageJob creates or deletes pods to run as many as the Job wants. It returns the
// number of active pods afterwards.
func (c *Controller) manageJob(ctx context.Context, key string, st *syncState) (int32, error) {
	job := st.job
	logger := klog.FromContext(ctx)
	active := int32(len(st.active))
	if isSuspended(job) {
		victims := podsToDelete(job, st.active, len(st.active), st.succeededIndexes)
		removedReady, removed, err := c.deleteJobPods(ctx, key, job, victims)
		st.ready -= removedReady
		st.terminating += removed
		return active - removed, err
	}
	want := wantActive(job, st.succeeded, active)
	victims := podsToDelete(job, st.active, int(max(active-want, 0)), st.succeededIndexes)
	if len(victims) > maxPodCreateDeletePerSync {
		victims = victims[:maxPodCreateDeletePerSync]
	}
	if len(victims) > 0 {
		logger.V(4).Info("Too many pods running for job", "job", key, "deleting", len(victims), "target", want)
		removedReady, removed, err := c.deleteJobPods(ctx, key, job, victims)
		st.ready -= removedReady
		st.terminating += removed
		return active - removed, err
	}
	var terminating int32
	if onlyReplaceFailedPods(job) {
		terminating = st.terminating
	}
	diff := int(want - terminating - active)
	if diff <= 0 {
		return active, nil
	}
	perIndex := hasBackoffLimitPerIndex(job)
	if !perIndex {
		failures, lastFailure := failuresSinceSuccess(job, st.pods)
		if wait := backoffDelay(failures, lastFailure, c.clock.Now(), c.backoffBase, c.backoffMax); wait > 0 {
			logger.V(4).Info("Waiting for pod failure backoff", "job", key, "delay", wait)
			c.queue.AddAfter(key, wait)
			return active, nil
		}
	}
	diff = min(diff, maxPodCreateDeletePerSync)
	indexes := make([]int, diff)
	if isIndexed(job) {
		completions := int(*job.Spec.Completions)
		skip := st.succeededIndexes
		if st.failedIndexes != nil {
			skip = skip.merge(*st.failedIndexes)
		}
		if onlyReplaceFailedPods(job) {
			var terminatingPods []*corev1.Pod
			for _, p := range st.pods {
				if isPodTerminating(p) {
					terminatingPods = append(terminatingPods, p)
				}
			}
			skip = skip.with(indexesOf(terminatingPods, completions))
		}
		indexes = pendingIndexes(skip, st.active, completions, diff)
		if perIndex {
			var wait time.Duration
			if indexes, wait = readyIndexes(indexes, st.awaiting, c.clock.Now(), c.backoffBase, c.backoffMax); wait > 0 {
				logger.V(4).Info("Waiting for pod failure backoff of the indexes", "job", key, "delay", wait)
				c.queue.AddAfter(key, wait)
				return active, nil
			}
		}
		diff = len(indexes)
	} else {
		for i := range indexes {
			indexes[i] = unknownIndex
		}
	}
	if diff == 0 {
		return active, nil
	}
	c.expectations.ExpectCreations(key, diff)
	created, err := slowStart(indexes, func(ix int) error {
		pod := podTemplate(job, ix)
		if perIndex {
			setIndexFailureCounts(pod, job, st.awaiting[ix])
		}
		return c.createPod(ctx, job, pod)
	})
	for range diff - created {
		c.expectations.CreationObserved(key)
	}
	return active + int32(created), err
}

// slowStart calls fn for the items in batches of 1, 2, 4, ... (all of a batch
// concurrently), stopping after the first batch with an error. It returns how many calls
// succeeded.
func slowStart(items []int, fn func(int) error) (int, error) {
	var ok atomic.Int64
	for start, size := 0, 1; start < len(items); start, size = start+size, size*2 {
		batch := items[start:min(start+size, len(items))]
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		for _, it := range batch {
			wg.Go(func() {
				if err := fn(it); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				ok.Add(1)
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			return int(ok.Load()), errors.Join(errs...)
		}
	}
	return int(ok.Load()), nil
}

func (c *Controller) createPod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	created, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return err
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

// deleteJobPods removes the tracking finalizer from the pods and deletes them: pods the
// Job no longer wants are not counted as failed. It returns how many ready pods and how
// many pods in total it deleted.
func (c *Controller) deleteJobPods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) (int32, int32, error) {
	podKeys := make([]string, len(pods))
	for i, p := range pods {
		podKeys[i] = p.Namespace + "/" + p.Name
	}
	c.expectations.ExpectDeletions(key, podKeys)
	return c.forEachPod(pods, func(i int, p *corev1.Pod) error {
		err := c.removeFinalizer(ctx, p)
		if err == nil {
			err = c.deletePodObject(ctx, job, p)
		}
		if err != nil {
			c.expectations.DeletionObserved(key, podKeys[i])
		}
		return err
	})
}

// deleteActivePods deletes the pods keeping their finalizers, so that they are counted
// (as failed) once they terminate.
func (c *Controller) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (int32, int32, error) {
	return c.forEachPod(pods, func(_ int, p *corev1.Pod) error { return c.deletePodObject(ctx, job, p) })
}

// forEachPod runs fn on every pod concurrently; NotFound counts as success. It returns
// how many of the successful ones were ready and how many succeeded.
func (c *Controller) forEachPod(pods []*corev1.Pod, fn func(int, *corev1.Pod) error) (int32, int32, error) {
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		errs        []error
		ready, done atomic.Int32
	)
	for i, p := range pods {
		wg.Go(func() {
			if err := fn(i, p); err != nil && !apierrors.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			done.Add(1)
			if controllerutil.IsPodReady(p) {
				ready.Add(1)
			}
		})
	}
	wg.Wait()
	return ready.Load(), done.Load(), errors.Join(errs...)
}

func (c *Controller) deletePodObject(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		}
		return err
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
	return nil
}

// removeFinalizer removes the tracking finalizer from the pod (no-op without one).
func (c *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	patch := fmt.Appendf(nil, `{"metadata":{"$deleteFromPrimitiveList/finalizers":[%q],"uid":%q}}`, batchv1.JobTrackingFinalizer, pod.UID)
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// releaseFinishedPods hands the pods of a finished Job that still carry the tracking
// finalizer to the orphan queue.
func (c *Controller) releaseFinishedPods(job *batchv1.Job) {
	pods, err := c.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.UID == job.UID && hasTrackingFinalizer(p) {
			c.enqueueOrphan(p)
		}
	}
}

// trackStatus counts terminated pods through status.uncountedTerminatedPods and the
// tracking finalizer, as Kubernetes does:
//  1. the UIDs of newly terminated pods are written to status.uncountedTerminatedPods
//     (Indexed Jobs record succeeded indexes in completedIndexes instead), along with an
//     interim SuccessCriteriaMet or FailureTarget condition;
//  2. their finalizers are removed;
//  3. pods whose finalizer is gone move from the uncounted lists to the counters, and a
//     Job with nothing uncounted and nothing terminating gets Complete or Failed.
//
// A crash between the steps loses nothing: the next sync resumes from the status.
func (c *Controller) trackStatus(ctx context.Context, key string, st *syncState, needsFlush bool) error {
	job := st.job
	indexed := isIndexed(job)
	completions := int(ptr.Deref(job.Spec.Completions, 0))
	withFinalizer := sets.New[types.UID]()
	for _, p := range st.pods {
		if hasTrackingFinalizer(p) && !st.rmPending.Has(string(p.UID)) {
			withFinalizer.Insert(p.UID)
		}
	}
	if countUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	uncounted := job.Status.UncountedTerminatedPods
	var (
		toRelease   []*corev1.Pod
		newIndexes  []int
		reachedMax  bool
		failingJob  = st.finished != nil && st.finished.Type != batchv1.JobSuccessCriteriaMet && st.finished.Type != batchv1.JobComplete
		seenSucc    = sets.New(uncounted.Succeeded...)
		seenFail    = sets.New(uncounted.Failed...)
		jobDeleting = job.DeletionTimestamp != nil
	)
	for _, p := range st.pods {
		if !withFinalizer.Has(p.UID) {
			continue
		}
		failed := isPodFailed(p, job)
		if !(jobDeleting || st.finished != nil || p.Status.Phase == corev1.PodSucceeded || failed) {
			continue
		}
		if failed && !jobDeleting && st.finished == nil && p.Status.Phase != corev1.PodSucceeded {
			if w, ok := st.awaiting[completionIndex(p)]; ok && w.UID == p.UID {
				continue // its replacement takes the failure count from it: keep it until then
			}
		}
		toRelease = append(toRelease, p)
		ix := completionIndex(p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !seenFail.Has(p.UID):
			if indexed {
				if st.succeededIndexes.has(ix) && !st.prevSucceededIndexes.has(ix) {
					newIndexes = append(newIndexes, ix)
					needsFlush = true
				}
			} else if !seenSucc.Has(p.UID) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				seenSucc.Insert(p.UID)
				needsFlush = true
			}
		case failed || failingJob:
			if seenFail.Has(p.UID) || indexed && !validIndex(ix, completions) {
				break
			}
			if _, count, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); count {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				seenFail.Insert(p.UID)
				needsFlush = true
			}
		}
		if len(newIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncountedPods {
			reachedMax = true
			break
		}
	}
	if indexed {
		st.succeededIndexes = st.succeededIndexes.with(newIndexes)
		if s := st.succeededIndexes.String(); s != job.Status.CompletedIndexes {
			job.Status.CompletedIndexes = s
			needsFlush = true
		}
		job.Status.Succeeded = int32(st.succeededIndexes.total())
		var failedStr *string
		if st.failedIndexes != nil {
			failedStr = ptr.To(st.failedIndexes.String())
		}
		if !ptr.Equal(job.Status.FailedIndexes, failedStr) {
			job.Status.FailedIndexes = failedStr
			needsFlush = true
		}
	}
	now := c.clock.Now()
	if f := st.finished; f != nil {
		switch f.Type {
		case batchv1.JobFailureTarget:
			job.Status.Conditions = append(job.Status.Conditions, *f)
			needsFlush = true
			st.finished = ptr.To(newCondition(batchv1.JobFailed, corev1.ConditionTrue, f.Reason, f.Message, now))
		case batchv1.JobSuccessCriteriaMet:
			if !hasTrueCondition(job, batchv1.JobSuccessCriteriaMet) {
				job.Status.Conditions = append(job.Status.Conditions, *f)
				needsFlush = true
			}
			st.finished = ptr.To(newCondition(batchv1.JobComplete, corev1.ConditionTrue, f.Reason, f.Message, now))
		}
	}

	// 1. Record the uncounted pods (and interim conditions) before touching finalizers.
	if needsFlush {
		updated, err := c.updateStatus(ctx, job)
		if err != nil {
			return fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		job = updated
		st.job = job
		needsFlush = false
	}
	// 2. Remove the finalizers.
	var rmErr error
	if len(toRelease) > 0 {
		uids := make([]string, len(toRelease))
		for i, p := range toRelease {
			uids[i] = string(p.UID)
		}
		c.finalizers.expectRemoved(key, uids...)
		var (
			mu   sync.Mutex
			errs []error
			wg   sync.WaitGroup
		)
		for _, p := range toRelease {
			wg.Go(func() {
				err := c.removeFinalizer(ctx, p)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					c.finalizers.removalObserved(key, string(p.UID))
					errs = append(errs, err)
					return
				}
				withFinalizer.Delete(p.UID)
			})
		}
		wg.Wait()
		rmErr = errors.Join(errs...)
	}
	// 3. Count them, and finish the Job when nothing is left to count or to terminate.
	if countUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	finished := false
	if f := st.finished; rmErr == nil && !reachedMax && f != nil && (f.Type == batchv1.JobComplete || f.Type == batchv1.JobFailed) {
		u := job.Status.UncountedTerminatedPods
		if len(u.Succeeded)+len(u.Failed) == 0 && st.terminating == 0 {
			job.Status.Conditions, _ = ensureCondition(job.Status.Conditions, f.Type, f.Status, f.Reason, f.Message, now)
			if f.Type == batchv1.JobComplete {
				job.Status.CompletionTime = ptr.To(metav1.NewTime(now))
			}
			finished = true
			needsFlush = true
		}
	}
	if needsFlush {
		updated, err := c.updateStatus(ctx, job)
		if err != nil {
			return errors.Join(rmErr, fmt.Errorf("removing uncounted pods from status: %w", err))
		}
		job = updated
	}
	if finished {
		c.recordFinished(job, st.finished)
		if exp, ok := ttlExpiry(job); ok {
			c.queue.AddAfter(key, max(exp.Sub(now), 0))
		}
	}
	return rmErr
}

// countUncounted moves the UIDs of pods whose finalizer is gone from the uncounted lists
// to the succeeded and failed counters. It reports whether anything moved.
func countUncounted(status *batchv1.JobStatus, withFinalizer sets.Set[types.UID]) bool {
	u := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer.Has(uid) {
				out = append(out, uid)
			}
		}
		return out
	}
	changed := false
	if s := keep(u.Succeeded); len(s) != len(u.Succeeded) {
		status.Succeeded += int32(len(u.Succeeded) - len(s))
		u.Succeeded = s
		changed = true
	}
	if f := keep(u.Failed); len(f) != len(u.Failed) {
		status.Failed += int32(len(u.Failed) - len(f))
		u.Failed = f
		changed = true
	}
	return changed
}

func (c *Controller) updateStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	return c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}

func (c *Controller) recordFinished(job *batchv1.Job, cond *batchv1.JobCondition) {
	if cond.Type == batchv1.JobComplete {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			c.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
		}
		c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		return
	}
	c.recorder.Event(job, corev1.EventTypeWarning, cond.Reason, cond.Message)
}

// syncTTL deletes a finished Job once its ttlSecondsAfterFinished passed, or looks at it
// again then. The Job is read afresh before deletion, and deleted only if it is still the
// same, finished and expired; its pods go through background garbage collection.
func (c *Controller) syncTTL(ctx context.Context, key string, job *batchv1.Job) error {
	exp, ok := ttlExpiry(job)
	if !ok || job.DeletionTimestamp != nil {
		return nil
	}
	now := c.clock.Now()
	if exp.After(now) {
		c.queue.AddAfter(key, exp.Sub(now))
		return nil
	}
	fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if fresh.UID != job.UID || fresh.DeletionTimestamp != nil {
		return nil
	}
	if exp, ok := ttlExpiry(fresh); !ok {
		return nil
	} else if exp.After(now) {
		c.queue.AddAfter(key, exp.Sub(now))
		return nil
	}
	klog.FromContext(ctx).V(2).Info("Deleting Job after its TTL expired", "job", key)
	err = c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		Preconditions:     &metav1.Preconditions{UID: ptr.To(fresh.UID)},
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
