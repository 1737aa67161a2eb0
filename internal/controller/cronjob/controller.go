package cronjob

import (
	"context"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// controllerKind is the kind of the objects this controller owns Jobs for.
var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller creates Jobs for CronJobs on their schedule.
type Controller struct {
	client     kubernetes.Interface
	cjLister   batchlisters.CronJobLister
	jobLister  batchlisters.JobLister
	cjSynced   cache.InformerSynced
	jobsSynced cache.InformerSynced

	queue       workqueue.TypedRateLimitingInterface[string]
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	clock       clock.WithTicker
}

// Option configures a Controller.
type Option func(*Controller)

// WithClock makes the controller (and its work queue's delays) read time from clk; tests
// pass a fake clock and step it to the next schedule.
func WithClock(clk clock.WithTicker) Option { return func(c *Controller) { c.clock = clk } }

// WithEventRecorder makes the controller record events with r instead of its own broadcaster.
func WithEventRecorder(r record.EventRecorder) Option { return func(c *Controller) { c.recorder = r } }

// New returns a CronJob controller reading CronJobs and Jobs from the given informers and
// writing through client.
func New(client kubernetes.Interface, cjInformer batchinformers.CronJobInformer, jobInformer batchinformers.JobInformer, opts ...Option) *Controller {
	c := &Controller{
		client:     client,
		cjLister:   cjInformer.Lister(),
		jobLister:  jobInformer.Lister(),
		cjSynced:   cjInformer.Informer().HasSynced,
		jobsSynced: jobInformer.Informer().HasSynced,
		clock:      clock.RealClock{},
	}
	for _, o := range opts {
		o(c)
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob", Clock: c.clock},
	)
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "cronjob-controller"})
	}
	if _, err := cjInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			if old.(*batchv1.CronJob).ResourceVersion != cur.(*batchv1.CronJob).ResourceVersion {
				c.enqueue(cur)
			}
		},
		DeleteFunc: c.enqueue,
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("cronjob controller: adding event handler: %w", err))
	}
	if _, err := jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.jobChanged,
		UpdateFunc: func(old, cur any) {
			oldJob, curJob := old.(*batchv1.Job), cur.(*batchv1.Job)
			if oldJob.ResourceVersion == curJob.ResourceVersion {
				return
			}
			if r := metav1.GetControllerOfNoCopy(oldJob); r != nil && !refEqual(r, metav1.GetControllerOfNoCopy(curJob)) {
				c.jobChanged(oldJob)
			}
			c.jobChanged(curJob)
		},
		DeleteFunc: c.jobChanged,
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("cronjob controller: adding event handler: %w", err))
	}
	return c
}

func refEqual(a, b *metav1.OwnerReference) bool { return b != nil && a.UID == b.UID }

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	if c.broadcaster != nil {
		c.broadcaster.StartStructuredLogging(3)
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
		defer c.broadcaster.Shutdown()
	}
	logger.Info("Starting cronjob controller")
	defer logger.Info("Shutting down cronjob controller")
	if !cache.WaitForCacheSync(ctx.Done(), c.cjSynced, c.jobsSynced) {
		return
	}
	for range max(workers, 1) {
		go wait.UntilWithContext(ctx, c.runWorker, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) runWorker(ctx context.Context) {
	for c.processNextItem(ctx) {
	}
}

func (c *Controller) processNextItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	requeue, err := c.sync(ctx, key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing CronJob failed", "cronjob", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	if requeue != nil {
		c.queue.AddAfter(key, *requeue)
	}
	return true
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// jobChanged enqueues the CronJob controlling the Job, if any.
func (c *Controller) jobChanged(obj any) {
	job, ok := controllerutil.FromEvent[*batchv1.Job](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(job)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return
	}
	cj, err := c.cjLister.CronJobs(job.Namespace).Get(ref.Name)
	if err != nil || cj.UID != ref.UID {
		return
	}
	c.enqueue(cj)
}

// sync reconciles the CronJob named by key and returns when to look at it again.
func (c *Controller) sync(ctx context.Context, key string) (*time.Duration, error) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, nil
	}
	shared, err := c.cjLister.CronJobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	all, err := c.jobLister.Jobs(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if r := metav1.GetControllerOfNoCopy(j); r != nil && r.UID == shared.UID {
			jobs = append(jobs, j)
		}
	}
	cj := shared.DeepCopy()
	requeue, syncErr := c.syncCronJob(ctx, cj, jobs)

	if !apiequality.Semantic.DeepEqual(cj.Status, shared.Status) {
		if _, err := c.client.BatchV1().CronJobs(namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
	}
	if syncErr != nil {
		return nil, syncErr
	}
	if cj.DeletionTimestamp == nil {
		c.cleanupFinishedJobs(ctx, cj, jobs)
	}
	return requeue, nil
}

// syncCronJob brings cj's status in line with its Jobs and starts a Job when one is due.
// It changes cj.Status in place and returns when to look again.
func (c *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (*time.Duration, error) {
	logger := klog.FromContext(ctx)
	now := c.clock.Now()
	children := map[types.UID]bool{}
	var fresh *batchv1.CronJob
	for _, j := range jobs {
		children[j.UID] = true
		inActive := slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == j.UID })
		finished := jobFinished(j)
		switch {
		case !inActive && finished == "":
			// Our cached CronJob may just be older than the Job: check a fresh copy. If
			// the Job is not there either, it was created by us without being recorded
			// (a lost status update) or by someone else: count it as active, so that
			// concurrencyPolicy sees it.
			if fresh == nil {
				f, err := c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{})
				if err != nil {
					return nil, err
				}
				fresh = f
			}
			if !slices.ContainsFunc(fresh.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == j.UID }) {
				c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
			}
			cj.Status.Active = append(cj.Status.Active, jobRef(j))
		case inActive && finished != "":
			deleteFromActive(cj, j.UID)
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, finished)
		}
		if finished == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
		}
	}
	// Active Jobs we do not see may just be missing from our cache: ask the API server.
	for _, r := range slices.Clone(cj.Status.Active) {
		if children[r.UID] {
			continue
		}
		j, err := c.client.BatchV1().Jobs(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || err == nil && j.UID != r.UID:
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", r.Name)
			deleteFromActive(cj, r.UID)
		case err != nil:
			return nil, err
		}
	}
	if cj.DeletionTimestamp != nil {
		return nil, nil
	}
	loc, err := location(cj)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", ptr.Deref(cj.Spec.TimeZone, ""), err)
		return nil, nil
	}
	if ptr.Deref(cj.Spec.Suspend, false) {
		return nil, nil
	}
	sched, err := ParseSchedule(cj.Spec.Schedule, loc)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, nil
	}
	requeue := func() *time.Duration {
		if d, ok := nextRequeue(cj, now, sched); ok {
			return &d
		}
		return nil
	}
	m := missedSchedules(cj, now, sched, true)
	if m.count > tooManyMissed {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
		logger.Info("too many missed times", "cronjob", klog.KObj(cj), "missedTimes", m.count)
	}
	switch decide(cj, m.mostRecent, now) {
	case decideNothing:
		return requeue(), nil
	case decideTooLate:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", m.mostRecent.UTC().Format(time.RFC1123Z))
		return requeue(), nil
	case decideForbidSkip:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
		return requeue(), nil
	case decideReplaceThen:
		for _, r := range slices.Clone(cj.Status.Active) {
			if err := c.deleteJob(ctx, cj, r.Namespace, r.Name, r.UID); err != nil {
				return nil, err
			}
			deleteFromActive(cj, r.UID)
		}
	}
	job, err := jobFromTemplate(cj, *m.mostRecent)
	if err != nil {
		return nil, err
	}
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, nil
	case apierrors.IsAlreadyExists(err):
		// Ours already (we created it but did not see it yet): record it as scheduled.
		existing, gerr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if r := metav1.GetControllerOfNoCopy(existing); r == nil || r.UID != cj.UID {
			return nil, err
		}
		created = existing
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, err
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}
	if jobFinished(created) == "" && !slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == created.UID }) {
		cj.Status.Active = append(cj.Status.Active, jobRef(created))
	}
	cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(*m.mostRecent))
	return requeue(), nil
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind: "Job", APIVersion: batchv1.SchemeGroupVersion.String(),
		Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion,
	}
}

func deleteFromActive(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
	if len(cj.Status.Active) == 0 {
		cj.Status.Active = nil
	}
}

// deleteJob deletes a Job of cj with background propagation.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, namespace, name string, uid types.UID) error {
	err := c.client.BatchV1().Jobs(namespace).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		Preconditions:     &metav1.Preconditions{UID: ptr.To(uid)},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return err
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	return nil
}

// cleanupFinishedJobs deletes finished Jobs beyond the history limits.
func (c *Controller) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) {
	for _, j := range jobsToClean(cj, jobs) {
		if err := c.deleteJob(ctx, cj, j.Namespace, j.Name, j.UID); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Deleting old job failed", "job", klog.KObj(j))
		}
	}
}
