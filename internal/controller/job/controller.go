package job

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// controllerKind is the kind of the objects this controller owns pods for.
var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller runs Jobs to completion and deletes finished Jobs whose TTL expired.
type Controller struct {
	client kubernetes.Interface

	jobLister  batchlisters.JobLister
	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	jobsSynced cache.InformerSynced
	podsSynced cache.InformerSynced

	// queue holds Job keys; orphanQueue holds keys of pods that may carry a tracking
	// finalizer nobody will remove otherwise (their Job is gone or finished).
	queue        workqueue.TypedRateLimitingInterface[string]
	orphanQueue  workqueue.TypedRateLimitingInterface[string]
	expectations *controllerutil.Expectations
	finalizers   *finalizerExpectations
	broadcaster  record.EventBroadcaster
	recorder     record.EventRecorder
	clock        clock.WithTicker

	backoffBase, backoffMax time.Duration
}

// Option configures a Controller.
type Option func(*Controller)

// WithClock makes the controller (and its work queues' delays) read time from clk; tests
// pass a fake clock.
func WithClock(clk clock.WithTicker) Option { return func(c *Controller) { c.clock = clk } }

// WithEventRecorder makes the controller record events with r instead of its own broadcaster.
func WithEventRecorder(r record.EventRecorder) Option { return func(c *Controller) { c.recorder = r } }

// WithBackoff sets the pod recreation backoff after failures: base for the first failure,
// doubling per further failure up to maxDelay (default 10s and 6m).
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(c *Controller) { c.backoffBase, c.backoffMax = base, maxDelay }
}

// New returns a Job controller that reads Jobs and pods from the given informers and
// writes through client.
func New(client kubernetes.Interface, jobInformer batchinformers.JobInformer, podInformer coreinformers.PodInformer, opts ...Option) *Controller {
	c := &Controller{
		client:      client,
		jobLister:   jobInformer.Lister(),
		podLister:   podInformer.Lister(),
		podIndexer:  podInformer.Informer().GetIndexer(),
		jobsSynced:  jobInformer.Informer().HasSynced,
		podsSynced:  podInformer.Informer().HasSynced,
		clock:       clock.RealClock{},
		backoffBase: DefaultBackoff,
		backoffMax:  MaxBackoff,
	}
	for _, o := range opts {
		o(c)
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "job", Clock: c.clock},
	)
	c.orphanQueue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "job-orphan-pod", Clock: c.clock},
	)
	c.expectations = controllerutil.NewExpectations(c.clock)
	c.finalizers = newFinalizerExpectations()
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "job-controller"})
	}
	if _, err := jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("job controller: adding event handler: %w", err))
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("job controller: adding event handler: %w", err))
	}
	return c
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	defer c.orphanQueue.ShutDown()
	logger := klog.FromContext(ctx)
	if c.broadcaster != nil {
		c.broadcaster.StartStructuredLogging(3)
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
		defer c.broadcaster.Shutdown()
	}
	logger.Info("Starting job controller")
	defer logger.Info("Shutting down job controller")

	if !cache.WaitForCacheSync(ctx.Done(), c.podsSynced, c.jobsSynced) {
		return
	}
	jobs := &controllerutil.Worker{Message: "Syncing Job failed", Queue: c.queue, Sync: c.sync}
	jobs.Start(ctx, workers)
	defer jobs.Stop()
	orphans := &controllerutil.Worker{Message: "Removing finalizer of orphan pod failed", Queue: c.orphanQueue, Sync: c.syncOrphanPod}
	orphans.Start(ctx, 1)
	defer orphans.Stop()
	<-ctx.Done()
}

// --- event handlers: they only enqueue keys and note observed pod changes.

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) updateJob(old, cur any) {
	if old.(*batchv1.Job).ResourceVersion == cur.(*batchv1.Job).ResourceVersion {
		return
	}
	c.enqueue(cur)
}

func (c *Controller) deleteJob(obj any) {
	job, ok := controllerutil.FromEvent[*batchv1.Job](obj)
	if !ok {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(job)
	if err != nil {
		return
	}
	c.expectations.Forget(key)
	c.finalizers.forget(key)
	// Pods still holding our finalizer would never go away: release them.
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

func (c *Controller) enqueueOrphan(p *corev1.Pod) {
	if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
		c.orphanQueue.Add(key)
	}
}

// resolveControllerRef returns the Job ref names, if it exists with ref's UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	owner, _ := controllerutil.ResolveControllerRef(ref, controllerKind, c.jobLister.Jobs(namespace).Get)
	return owner
}

// jobsSelecting returns the Jobs whose selector matches the (orphan) pod.
func (c *Controller) jobsSelecting(pod *corev1.Pod) []*batchv1.Job {
	all, err := c.jobLister.Jobs(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(all, func(o *batchv1.Job) *metav1.LabelSelector { return o.Spec.Selector }, pod.Labels)
}

// jobOf returns the key of the pod's controlling Job, or "" when it has none we know.
func (c *Controller) jobOf(pod *corev1.Pod) (string, *batchv1.Job) {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return "", nil
	}
	job := c.resolveControllerRef(pod.Namespace, ref)
	if job == nil {
		return "", nil
	}
	return pod.Namespace + "/" + job.Name, job
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.podGone(pod, false)
		return
	}
	if key, job := c.jobOf(pod); job != nil {
		c.expectations.CreationObserved(key)
		c.queue.Add(key)
		return
	}
	if hasTrackingFinalizer(pod) {
		c.enqueueOrphan(pod)
	}
	if metav1.GetControllerOfNoCopy(pod) == nil {
		for _, job := range c.jobsSelecting(pod) {
			c.enqueue(job)
		}
	}
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		c.podGone(curPod, false)
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(oldPod), metav1.GetControllerOfNoCopy(curPod)
	if oldRef != nil && (curRef == nil || curRef.UID != oldRef.UID) {
		if job := c.resolveControllerRef(oldPod.Namespace, oldRef); job != nil {
			c.enqueue(job)
		}
	}
	key, job := c.jobOf(curPod)
	if job == nil {
		if hasTrackingFinalizer(curPod) {
			c.enqueueOrphan(curPod)
		}
		if curRef == nil {
			for _, job := range c.jobsSelecting(curPod) {
				c.enqueue(job)
			}
		}
		return
	}
	if !hasTrackingFinalizer(curPod) {
		c.finalizers.removalObserved(key, string(curPod.UID))
	}
	c.queue.Add(key)
}

func (c *Controller) deletePod(obj any) {
	pod, ok := controllerutil.FromEvent[*corev1.Pod](obj)
	if !ok {
		utilruntime.HandleError(fmt.Errorf("deleted object is not a pod: %#v", obj))
		return
	}
	c.podGone(pod, true)
}

// podGone notes that a pod is being deleted (final: it is gone) and syncs its Job.
func (c *Controller) podGone(pod *corev1.Pod, final bool) {
	key, job := c.jobOf(pod)
	if job == nil {
		return
	}
	c.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
	if final || !hasTrackingFinalizer(pod) {
		c.finalizers.removalObserved(key, string(pod.UID))
	}
	c.queue.Add(key)
}

// syncOrphanPod removes the tracking finalizer from a pod whose Job is gone or finished.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
			return nil // not ours to touch
		}
		if job := c.resolveControllerRef(namespace, ref); job != nil && !isFinished(job) {
			return nil // its Job will count it
		}
	}
	return c.removeFinalizer(ctx, pod)
}
