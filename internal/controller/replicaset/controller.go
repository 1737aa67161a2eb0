package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// controllerKind is the kind of the objects this controller owns pods for.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller keeps the pods of every ReplicaSet at its desired count.
type Controller struct {
	client kubernetes.Interface

	podLister  corelisters.PodLister
	rsLister   appslisters.ReplicaSetLister
	podsSynced cache.InformerSynced
	rsSynced   cache.InformerSynced

	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *controllerutil.Expectations
	// batchMu guards batch: per ReplicaSet key, the size at which its next creations may
	// start, as its last slow-start round ended without errors. A large ReplicaSet that is
	// created 500 pods per sync thus goes through the slow start (1, 2, 4, ...) once, not
	// once per sync.
	batchMu     sync.Mutex
	batch       map[string]int
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	clock       clock.Clock
}

// Option configures a Controller.
type Option func(*Controller)

// WithClock makes the controller read time from clk (tests pass a fake clock).
func WithClock(clk clock.Clock) Option { return func(c *Controller) { c.clock = clk } }

// WithEventRecorder makes the controller record events with r instead of its own broadcaster.
func WithEventRecorder(r record.EventRecorder) Option { return func(c *Controller) { c.recorder = r } }

// New returns a ReplicaSet controller that reads pods and ReplicaSets from the given informers
// and writes through client.
func New(client kubernetes.Interface, podInformer coreinformers.PodInformer, rsInformer appsinformers.ReplicaSetInformer, opts ...Option) *Controller {
	c := &Controller{
		client:     client,
		podLister:  podInformer.Lister(),
		rsLister:   rsInformer.Lister(),
		podsSynced: podInformer.Informer().HasSynced,
		rsSynced:   rsInformer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "replicaset"},
		),
		clock: clock.RealClock{},
		batch: map[string]int{},
	}
	for _, o := range opts {
		o(c)
	}
	c.expectations = controllerutil.NewExpectations(c.clock)
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "replicaset-controller"})
	}
	if _, err := rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateRS,
		DeleteFunc: c.deleteRS,
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("replicaset controller: adding event handler: %w", err))
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("replicaset controller: adding event handler: %w", err))
	}
	return c
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	if c.broadcaster != nil {
		c.broadcaster.StartStructuredLogging(3)
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
		defer c.broadcaster.Shutdown()
	}
	logger.Info("Starting replicaset controller")
	defer logger.Info("Shutting down replicaset controller")

	w := &controllerutil.Worker{Name: "ReplicaSet", LogKey: "replicaset", Queue: c.queue, Sync: c.sync}
	w.Run(ctx, workers, c.podsSynced, c.rsSynced)
}

// --- event handlers: they only enqueue keys (and note observed pod creations/deletions).

func (c *Controller) enqueue(obj any) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) updateRS(old, cur any) {
	oldRS, curRS := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if oldRS.ResourceVersion == curRS.ResourceVersion {
		return
	}
	if oldRS.Generation == curRS.Generation && oldRS.DeletionTimestamp.Equal(curRS.DeletionTimestamp) {
		// Not the spec: most often our own status write coming back. Look again (a status
		// someone else wrote is corrected), but gathered like other status-only changes.
		if key, err := cache.MetaNamespaceKeyFunc(curRS); err == nil {
			c.queue.AddAfter(key, statusDelay(curRS))
		}
		return
	}
	c.enqueue(cur)
}

func (c *Controller) deleteRS(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.expectations.Forget(key)
	c.forgetBatch(key)
	c.queue.Add(key)
}

func (c *Controller) forgetBatch(key string) {
	c.batchMu.Lock()
	delete(c.batch, key)
	c.batchMu.Unlock()
}

// wake enqueues the ReplicaSet for a change to one of its pods. If the change may let it
// create or delete pods (its expectations are met), at once; if only its status can change,
// after statusDelay, so that the changes of many pods make one sync and one status write.
func (c *Controller) wake(rs *appsv1.ReplicaSet, key string) {
	if c.expectations.Satisfied(key) {
		c.queue.Add(key)
		return
	}
	c.queue.AddAfter(key, statusDelay(rs))
}

// resolveControllerRef returns the ReplicaSet ref names, if it exists with ref's UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	owner, _ := controllerutil.ResolveControllerRef(ref, controllerKind, c.rsLister.ReplicaSets(namespace).Get)
	return owner
}

// replicaSetsSelecting returns the ReplicaSets whose selector matches the (orphan) pod.
func (c *Controller) replicaSetsSelecting(pod *corev1.Pod) []*appsv1.ReplicaSet {
	all, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(all, func(o *appsv1.ReplicaSet) *metav1.LabelSelector { return o.Spec.Selector }, pod.Labels)
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen already terminating (e.g. after a restart): a deletion as far as we are concerned.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		rs := c.resolveControllerRef(pod.Namespace, ref)
		if rs == nil {
			return
		}
		key, err := cache.MetaNamespaceKeyFunc(rs)
		if err != nil {
			return
		}
		c.expectations.CreationObserved(key)
		c.wake(rs, key)
		return
	}
	for _, rs := range c.replicaSetsSelecting(pod) {
		c.enqueue(rs)
	}
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	labelsChanged := !labels.Equals(oldPod.Labels, curPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// Graceful deletion has begun: the pod stops counting now, so tell its owner.
		c.deletePod(curPod)
		if labelsChanged {
			c.deletePod(oldPod)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := (curRef == nil) != (oldRef == nil) || curRef != nil && oldRef != nil && curRef.UID != oldRef.UID
	if refChanged && oldRef != nil {
		if rs := c.resolveControllerRef(oldPod.Namespace, oldRef); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := c.resolveControllerRef(curPod.Namespace, curRef)
		if rs == nil {
			return
		}
		if key, err := cache.MetaNamespaceKeyFunc(rs); err == nil {
			if refChanged || labelsChanged || controllerutil.IsPodActive(oldPod) != controllerutil.IsPodActive(curPod) {
				c.queue.Add(key) // the pods it owns changed
			} else {
				c.queue.AddAfter(key, statusDelay(rs)) // only its status can change
			}
		}
		if rs.Spec.MinReadySeconds > 0 && !controllerutil.IsPodReady(oldPod) && controllerutil.IsPodReady(curPod) {
			// Look again once the pod has been ready long enough to be available.
			if key, err := cache.MetaNamespaceKeyFunc(rs); err == nil {
				c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
			}
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.replicaSetsSelecting(curPod) {
			c.enqueue(rs)
		}
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := controllerutil.FromEvent[*corev1.Pod](obj)
	if !ok {
		utilruntime.HandleError(fmt.Errorf("deleted object is not a pod: %#v", obj))
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	rs := c.resolveControllerRef(pod.Namespace, ref)
	if rs == nil {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(rs)
	if err != nil {
		return
	}
	c.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
	c.wake(rs, key)
}

// --- sync

// sync makes the ReplicaSet named by key own the right number of pods and reports its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid ReplicaSet key", "key", key)
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		c.forgetBatch(key)
		return nil
	}
	if err != nil {
		return err
	}
	needsSync := c.expectations.Satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid ReplicaSet selector", "replicaset", key)
		return nil
	}
	all, err := c.podLister.Pods(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	var active []*corev1.Pod
	for _, p := range all {
		if controllerutil.IsPodActive(p) {
			active = append(active, p)
		}
	}
	pods, err := c.claimPods(ctx, rs, selector, active)
	if err != nil {
		return err
	}

	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		var deleted sets.Set[types.UID]
		deleted, manageErr = c.manageReplicas(ctx, key, rs, pods)
		if deleted.Len() > 0 {
			// Report pods we just deleted as gone, so that nobody (the deployment controller)
			// counts them as available while our informer catches up.
			kept := pods[:0:0]
			for _, p := range pods {
				if !deleted.Has(p.UID) {
					kept = append(kept, p)
				}
			}
			pods = kept
		}
	}

	now := c.clock.Now()
	status := calculateStatus(rs, pods, manageErr, now)
	if !statusEqual(rs.Status, status) {
		rs = rs.DeepCopy()
		rs.Status = status
		// Others (the deployment controller) write the ReplicaSet too, and our cache may lag:
		// on a conflict, write the same status onto the latest copy, as upstream does.
		for attempt := 0; ; attempt++ {
			updated, err := c.client.AppsV1().ReplicaSets(namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err == nil {
				rs = updated
				break
			}
			if !apierrors.IsConflict(err) || attempt == 2 {
				return err
			}
			latest, gerr := c.client.AppsV1().ReplicaSets(namespace).Get(ctx, rs.Name, metav1.GetOptions{})
			if gerr != nil {
				return err
			}
			if latest.UID != rs.UID || latest.Generation != rs.Generation {
				return err // the spec moved on: recompute from scratch
			}
			latest.Status = status
			rs = latest
		}
	}
	if manageErr == nil {
		if after, ok := nextAvailable(rs, pods, now); ok {
			c.queue.AddAfter(key, after)
		}
	}
	return manageErr
}

// claimPods adopts matching orphans, releases owned pods that stopped matching and returns
// the pods the ReplicaSet owns.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	return controllerutil.Claim(ctx, controllerutil.Claimer{
		Owner:     rs,
		OwnerKind: controllerKind,
		Selector:  selector,
		CanAdopt: controllerutil.RecheckOwner(rs, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, namespace, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}, pods)
}

// manageReplicas creates or deletes pods to bring the ReplicaSet to its desired count. It
// returns the UIDs of the pods it deleted.
func (c *Controller) manageReplicas(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) (sets.Set[types.UID], error) {
	logger := klog.FromContext(ctx)
	diff := replicaDiff(rs, len(pods))
	if diff <= 0 {
		c.forgetBatch(key) // the scale-up is over; a later one starts slow again
	}
	switch {
	case diff > 0:
		c.expectations.ExpectCreations(key, diff)
		logger.V(2).Info("Too few replicas", "replicaset", key, "need", diff)
		c.batchMu.Lock()
		initial := max(c.batch[key], slowStartInitialBatchSize)
		c.batchMu.Unlock()
		ok, next, err := slowStart(diff, initial, func() error {
			err := c.createPod(ctx, rs)
			if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // the namespace is going away; nothing to report
			}
			return err
		})
		c.batchMu.Lock()
		c.batch[key] = next
		c.batchMu.Unlock()
		// Pods we never got to create (or failed to) will never be observed.
		for range diff - ok {
			c.expectations.CreationObserved(key)
		}
		return nil, err
	case diff < 0:
		n := -diff
		related, err := c.relatedPods(rs)
		if err != nil {
			return nil, err
		}
		victims := podsToDelete(pods, related, n, c.clock.Now())
		podKeys := make([]string, len(victims))
		for i, p := range victims {
			podKeys[i] = p.Namespace + "/" + p.Name
		}
		c.expectations.ExpectDeletions(key, podKeys)
		logger.V(2).Info("Too many replicas", "replicaset", key, "deleting", n)
		var (
			mu      sync.Mutex
			deleted = sets.New[types.UID]()
			errs    []error
			wg      sync.WaitGroup
		)
		for i, p := range victims {
			wg.Go(func() {
				err := c.deletePodObject(ctx, rs, p)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					c.expectations.DeletionObserved(key, podKeys[i])
					if !apierrors.IsNotFound(err) {
						errs = append(errs, err)
						return
					}
				}
				deleted.Insert(p.UID)
			})
		}
		wg.Wait()
		return deleted, errors.Join(errs...)
	}
	return nil, nil
}

// relatedPods returns the pods of every ReplicaSet with the same controller as rs (its
// siblings in a Deployment), or just rs's pods when it has none.
func (c *Controller) relatedPods(rs *appsv1.ReplicaSet) ([]*corev1.Pod, error) {
	owners := sets.New(rs.UID)
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		all, err := c.rsLister.ReplicaSets(rs.Namespace).List(labels.Everything())
		if err != nil {
			return nil, err
		}
		for _, other := range all {
			if r := metav1.GetControllerOfNoCopy(other); r != nil && r.UID == ref.UID {
				owners.Insert(other.UID)
			}
		}
	}
	pods, err := c.podLister.Pods(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, p := range pods {
		if r := metav1.GetControllerOfNoCopy(p); r != nil && owners.Has(r.UID) {
			out = append(out, p)
		}
	}
	return out, nil
}

// podFromTemplate builds a pod for rs from its template.
func podFromTemplate(rs *appsv1.ReplicaSet) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    rs.Name + "-",
			Namespace:       rs.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)},
		},
		Spec: t.Spec,
	}
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := podFromTemplate(rs)
	if len(pod.Labels) == 0 {
		return fmt.Errorf("unable to create pods, no labels")
	}
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

func (c *Controller) deletePodObject(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		}
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
	return nil
}
