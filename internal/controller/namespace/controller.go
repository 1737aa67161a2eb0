package namespace

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// eventDelay is how long the controller waits after seeing a terminating namespace before
// it acts, so that creations that raced with the deletion have landed (as Kubernetes does).
const eventDelay = 5 * time.Second

// Controller finalizes terminating namespaces.
type Controller struct {
	client kubernetes.Interface
	meta   metadata.Interface
	disco  discovery.DiscoveryInterface

	lister corelisters.NamespaceLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]

	// eventDelay delays the handling of namespace events (tests shorten it).
	eventDelay time.Duration
	// now is the clock (tests may fix it).
	now func() time.Time
}

// New returns a controller using client for namespaces, meta for namespaced content, disco for resource discovery, and informer for namespaces.
func New(client kubernetes.Interface, meta metadata.Interface, disco discovery.DiscoveryInterface, informer coreinformers.NamespaceInformer) *Controller {
	c := &Controller{
		client: client,
		meta:   meta,
		disco:  disco,
		lister: informer.Lister(),
		synced: informer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			// Retry failures quickly at first, but at least once a minute.
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 60*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"},
		),
		eventDelay: eventDelay,
		now:        time.Now,
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("namespace controller: adding event handler: %w", err))
	}
	return c
}

// enqueue queues the key of a terminating namespace, after eventDelay.
func (c *Controller) enqueue(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(ns)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.AddAfter(key, c.eventDelay)
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	logger.Info("Starting namespace controller")
	defer logger.Info("Shutting down namespace controller")

	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	if workers < 1 {
		workers = 1
	}
	for range workers {
		go wait.UntilWithContext(ctx, c.runWorker, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) runWorker(ctx context.Context) {
	for c.processNextItem(ctx) {
	}
}

// processNextItem handles one key; it returns false once the queue shuts down.
func (c *Controller) processNextItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)

	err := c.sync(ctx, key)
	var remaining *contentRemainingError
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.As(err, &remaining):
		// Not a failure: content is going away; look again when it should be gone.
		c.queue.Forget(key)
		delay := requeueDelay(remaining.estimate)
		klog.FromContext(ctx).V(4).Info("Content remaining in namespace", "namespace", key, "wait", delay)
		c.queue.AddAfter(key, delay)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Deleting namespace content failed", "namespace", key)
		c.queue.AddRateLimited(key)
	}
	return true
}

// sync brings the namespace named by key one step closer to gone, if it is terminating.
func (c *Controller) sync(ctx context.Context, key string) error {
	_, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid namespace key", "key", key)
		return nil
	}
	ns, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if released(ns) {
		// Nothing holds it any more, yet it is still there: remove it.
		return c.deleteReleased(ctx, ns)
	}
	if !needsFinalization(ns) {
		return nil
	}
	return c.finalizeNamespace(ctx, name)
}

// deleteReleased deletes a terminating namespace that no finalizer holds, unless it has been
// replaced by a namespace of the same name.
func (c *Controller) deleteReleased(ctx context.Context, ns *corev1.Namespace) error {
	uid := ns.UID
	err := c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}

// finalizeNamespace deletes a terminating namespace's content and, once none remains,
// removes the "kubernetes" finalizer. It reads the namespace afresh: several writers may
// change it while it terminates, and the cache may lag behind our own writes.
func (c *Controller) finalizeNamespace(ctx context.Context, name string) error {
	namespaces := c.client.CoreV1().Namespaces()
	ns, err := namespaces.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !needsFinalization(ns) {
		return nil
	}

	ns, err = c.updateWithRetry(ctx, ns, c.markTerminating)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}

	report := c.deleteAllContent(ctx, ns)
	ns = c.updateConditions(ctx, ns, report)
	if err := report.err(); err != nil {
		return err
	}
	if report.estimate > 0 || len(report.remaining) > 0 {
		return &contentRemainingError{estimate: max(report.estimate, 1)}
	}

	// Nothing is left: release the namespace.
	ns, err = c.updateWithRetry(ctx, ns, c.removeFinalizer)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if released(ns) {
		// The API server removes a finalized namespace itself; make sure of it.
		return c.deleteReleased(ctx, ns)
	}
	return nil
}

// updateWithRetry applies fn to ns, and on conflict to a fresh copy of it, as long as the
// namespace keeps its UID.
func (c *Controller) updateWithRetry(ctx context.Context, ns *corev1.Namespace, fn func(context.Context, *corev1.Namespace) (*corev1.Namespace, error)) (*corev1.Namespace, error) {
	current := ns
	var out *corev1.Namespace
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		out, err = fn(ctx, current)
		if !apierrors.IsConflict(err) {
			return err
		}
		latest, gerr := c.client.CoreV1().Namespaces().Get(ctx, current.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if latest.UID != current.UID {
			return fmt.Errorf("namespace %s: uid changed from %s to %s", current.Name, current.UID, latest.UID)
		}
		current = latest
		return err
	})
	return out, err
}

// markTerminating sets status.phase=Terminating when the API server has not.
func (c *Controller) markTerminating(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	if ns.DeletionTimestamp == nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return ns, nil
	}
	ns = ns.DeepCopy()
	ns.Status.Phase = corev1.NamespaceTerminating
	return c.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{})
}

// removeFinalizer removes the "kubernetes" token from spec.finalizers.
func (c *Controller) removeFinalizer(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	ns = ns.DeepCopy()
	ns.Spec.Finalizers = withoutFinalizer(ns.Spec.Finalizers, finalizerToken)
	return c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
}

// updateConditions writes the conditions the report calls for, when they change. A failed
// write is logged, not returned: the next pass writes them again.
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, report *contentReport) *corev1.Namespace {
	now := c.now()
	updated := ns.DeepCopy()
	if !mergeConditions(&updated.Status, failingConditions(report, now), now) {
		return ns
	}
	out, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Updating namespace conditions failed", "namespace", ns.Name)
		return ns
	}
	return out
}
