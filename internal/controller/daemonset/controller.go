package daemonset

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
	"k8s.io/apimachinery/pkg/util/wait"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// controllerKind is the kind of the objects this controller owns pods for.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

const (
	// burstReplicas caps the pod creations and deletions of one sync.
	burstReplicas = 250
	// failedPodsBackoff bounds the delay before deleting a node's failed daemon pod again.
	failedPodsBackoffInitial = time.Second
	failedPodsBackoffMax     = 15 * time.Minute
)

// Controller runs one pod of every DaemonSet on each eligible node.
type Controller struct {
	client kubernetes.Interface

	dsLister   appslisters.DaemonSetLister
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	revLister  appslisters.ControllerRevisionLister
	synced     []cache.InformerSynced

	queue         workqueue.TypedRateLimitingInterface[string]
	expectations  *controllerutil.Expectations
	failedBackoff *flowcontrol.Backoff
	broadcaster   record.EventBroadcaster
	recorder      record.EventRecorder
	clock         clock.Clock
}

// Option configures a Controller.
type Option func(*Controller)

// WithClock makes the controller read time from clk (tests pass a fake clock).
func WithClock(clk clock.Clock) Option { return func(c *Controller) { c.clock = clk } }

// WithEventRecorder makes the controller record events with r instead of its own broadcaster.
func WithEventRecorder(r record.EventRecorder) Option { return func(c *Controller) { c.recorder = r } }

// New returns a DaemonSet controller reading DaemonSets, pods, nodes and ControllerRevisions
// from the given informers and writing through client.
func New(client kubernetes.Interface, dsInformer appsinformers.DaemonSetInformer, podInformer coreinformers.PodInformer,
	nodeInformer coreinformers.NodeInformer, revisionInformer appsinformers.ControllerRevisionInformer, opts ...Option) *Controller {
	c := &Controller{
		client:     client,
		dsLister:   dsInformer.Lister(),
		podLister:  podInformer.Lister(),
		nodeLister: nodeInformer.Lister(),
		revLister:  revisionInformer.Lister(),
		synced: []cache.InformerSynced{
			dsInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			nodeInformer.Informer().HasSynced, revisionInformer.Informer().HasSynced,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset"},
		),
		clock: clock.RealClock{},
	}
	for _, o := range opts {
		o(c)
	}
	c.expectations = controllerutil.NewExpectations(c.clock)
	c.failedBackoff = flowcontrol.NewFakeBackOff(failedPodsBackoffInitial, failedPodsBackoffMax, c.clock)
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "daemonset-controller"})
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{dsInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.enqueue, UpdateFunc: c.updateDS, DeleteFunc: c.deleteDS}},
		{podInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod}},
		{nodeInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.addNode, UpdateFunc: c.updateNode, DeleteFunc: c.deleteNode}},
		{revisionInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.revisionChanged, UpdateFunc: func(_, cur any) { c.revisionChanged(cur) }, DeleteFunc: c.revisionChanged}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			utilruntime.HandleError(fmt.Errorf("daemonset controller: adding event handler: %w", err))
		}
	}
	return c
}

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
	logger.Info("Starting daemonset controller")
	defer logger.Info("Shutting down daemonset controller")

	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	w := &controllerutil.Worker{Name: "DaemonSet", LogKey: "daemonset", Queue: c.queue, Sync: c.sync}
	w.Start(ctx, workers)
	defer w.Stop()
	go wait.UntilWithContext(ctx, func(context.Context) { c.failedBackoff.GC() }, time.Minute)
	<-ctx.Done()
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

func (c *Controller) updateDS(old, cur any) {
	if old.(*appsv1.DaemonSet).ResourceVersion == cur.(*appsv1.DaemonSet).ResourceVersion {
		return
	}
	c.enqueue(cur)
}

func (c *Controller) deleteDS(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.expectations.Forget(key)
	c.queue.Add(key)
}

// resolveControllerRef returns the DaemonSet ref names, if it exists with ref's UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	owner, _ := controllerutil.ResolveControllerRef(ref, controllerKind, c.dsLister.DaemonSets(namespace).Get)
	return owner
}

// selecting returns the DaemonSets in namespace whose selector matches lbls.
func (c *Controller) selecting(namespace string, lbls map[string]string) []*appsv1.DaemonSet {
	all, err := c.dsLister.DaemonSets(namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(all, func(o *appsv1.DaemonSet) *metav1.LabelSelector { return o.Spec.Selector }, lbls)
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		ds := c.resolveControllerRef(pod.Namespace, ref)
		if ds == nil {
			return
		}
		key, err := cache.MetaNamespaceKeyFunc(ds)
		if err != nil {
			return
		}
		c.expectations.CreationObserved(key)
		c.queue.Add(key)
		return
	}
	for _, ds := range c.selecting(pod.Namespace, pod.Labels) {
		c.enqueue(ds)
	}
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		c.deletePod(curPod)
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := (curRef == nil) != (oldRef == nil) || curRef != nil && oldRef != nil && curRef.UID != oldRef.UID
	if refChanged && oldRef != nil {
		if ds := c.resolveControllerRef(oldPod.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil {
		ds := c.resolveControllerRef(curPod.Namespace, curRef)
		if ds == nil {
			return
		}
		c.enqueue(ds)
		if ds.Spec.MinReadySeconds > 0 && !controllerutil.IsPodReady(oldPod) && controllerutil.IsPodReady(curPod) {
			if key, err := cache.MetaNamespaceKeyFunc(ds); err == nil {
				c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
			}
		}
		return
	}
	if refChanged || !labels.Equals(oldPod.Labels, curPod.Labels) {
		for _, ds := range c.selecting(curPod.Namespace, curPod.Labels) {
			c.enqueue(ds)
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
	ds := c.resolveControllerRef(pod.Namespace, ref)
	if ds == nil {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(ds)
	if err != nil {
		return
	}
	c.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
	c.queue.Add(key)
}

func (c *Controller) allDaemonSets() []*appsv1.DaemonSet {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return nil
	}
	return all
}

func (c *Controller) addNode(obj any) {
	node := obj.(*corev1.Node)
	for _, ds := range c.allDaemonSets() {
		if run, _ := nodeShouldRunDaemonPod(node, ds); run {
			c.enqueue(ds)
		}
	}
}

// updateNode enqueues the DaemonSets for which the node's eligibility changed. Status-only
// updates (heartbeats) never do.
func (c *Controller) updateNode(old, cur any) {
	oldNode, curNode := old.(*corev1.Node), cur.(*corev1.Node)
	if oldNode.ResourceVersion == curNode.ResourceVersion {
		return
	}
	if labels.Equals(oldNode.Labels, curNode.Labels) && equalTaints(oldNode.Spec.Taints, curNode.Spec.Taints) &&
		oldNode.Spec.Unschedulable == curNode.Spec.Unschedulable {
		return
	}
	for _, ds := range c.allDaemonSets() {
		oldRun, oldCont := nodeShouldRunDaemonPod(oldNode, ds)
		curRun, curCont := nodeShouldRunDaemonPod(curNode, ds)
		if oldRun != curRun || oldCont != curCont {
			c.enqueue(ds)
		}
	}
}

func equalTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect {
			return false
		}
	}
	return true
}

func (c *Controller) deleteNode(any) {
	for _, ds := range c.allDaemonSets() {
		c.enqueue(ds)
	}
}

func (c *Controller) revisionChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	rev, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rev); ref != nil {
		if ds := c.resolveControllerRef(rev.Namespace, ref); ds != nil {
			c.enqueue(ds)
		}
		return
	}
	for _, ds := range c.selecting(rev.Namespace, rev.Labels) {
		c.enqueue(ds)
	}
}

// --- sync

// sync brings the DaemonSet named by key to one pod per eligible node, advances its rolling
// update and reports its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid DaemonSet key", "key", key)
		return nil
	}
	ds, err := c.dsLister.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid DaemonSet selector", "daemonset", key)
		return nil
	}
	if selector.Empty() {
		c.recorder.Event(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil // the garbage collector removes the pods
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	cur, old, err := c.constructHistory(ctx, ds, selector)
	if err != nil {
		return fmt.Errorf("constructing history: %w", err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if hash == "" {
		hash = computeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	}
	pods, err := c.claimPods(ctx, ds, selector)
	if err != nil {
		return err
	}
	byNode := nodesToPods(pods)

	var syncErr error
	if c.expectations.Satisfied(key) {
		now := c.clock.Now()
		p := planManage(ds, hash, nodes, byNode, now, c.mayDeleteFailed(key, ds, now))
		if len(p.createOn) == 0 && len(p.delete) == 0 && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			p, syncErr = planRollingUpdate(ds, hash, nodes, byNode, now)
			if syncErr == nil && (len(p.createOn) > 0 || len(p.delete) > 0) {
				logger.V(2).Info("Rolling update step", "daemonset", key, "create", len(p.createOn), "delete", len(p.delete))
			}
		}
		if syncErr == nil {
			syncErr = c.syncNodes(ctx, key, ds, p, hash)
		}
	}
	if err := c.cleanupHistory(ctx, ds, pods, old); err != nil {
		syncErr = errors.Join(syncErr, err)
	}

	now := c.clock.Now()
	status := calculateStatus(ds, hash, nodes, byNode, now)
	if err := c.storeStatus(ctx, ds, status); err != nil {
		return errors.Join(syncErr, err)
	}
	if ds.Spec.MinReadySeconds > 0 && status.NumberReady != status.NumberAvailable {
		c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return syncErr
}

// mayDeleteFailed returns the backoff check for deleting failed daemon pods: a node whose
// pod keeps failing (a kubelet rejecting it, say) does not make the controller hot-loop.
func (c *Controller) mayDeleteFailed(key string, ds *appsv1.DaemonSet, now time.Time) func(string) bool {
	return func(node string) bool {
		id := string(ds.UID) + "/" + node
		if c.failedBackoff.IsInBackOffSinceUpdate(id, now) {
			c.queue.AddAfter(key, c.failedBackoff.Get(id))
			return false
		}
		c.failedBackoff.Next(id, now)
		return true
	}
}

func (c *Controller) canAdopt(ds *appsv1.DaemonSet) func(context.Context) error {
	return controllerutil.RecheckOwner(ds, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	})
}

// claimPods adopts matching orphans, releases owned pods that stopped matching and returns
// the pods the DaemonSet owns.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controllerutil.Claim(ctx, controllerutil.Claimer{
		Owner:     ds,
		OwnerKind: controllerKind,
		Selector:  selector,
		CanAdopt:  c.canAdopt(ds),
		Patch: func(ctx context.Context, namespace, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}, all)
}

// syncNodes creates a pod on each node of p.createOn (in slow-start batches) and deletes
// p.delete, recording expectations first. Pods bound to nodes that no longer exist are
// deleted without grace: no kubelet is left to confirm their termination.
func (c *Controller) syncNodes(ctx context.Context, key string, ds *appsv1.DaemonSet, p plan, hash string) error {
	createOn := p.createOn[:min(len(p.createOn), burstReplicas)]
	deletions := p.delete[:min(len(p.delete), burstReplicas)]
	if len(createOn) == 0 && len(deletions) == 0 {
		return nil
	}
	podKeys := make([]string, len(deletions))
	for i, pod := range deletions {
		podKeys[i] = pod.Namespace + "/" + pod.Name
	}
	c.expectations.Expect(key, len(createOn), podKeys)

	var (
		mu   sync.Mutex
		errs []error
	)
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	for pos, batch := 0, 1; pos < len(createOn); batch *= 2 {
		n := min(batch, len(createOn)-pos)
		var (
			wg     sync.WaitGroup
			failed bool
			fmu    sync.Mutex
		)
		for _, node := range createOn[pos : pos+n] {
			wg.Go(func() {
				if err := c.createPod(ctx, ds, node, hash); err != nil {
					c.expectations.CreationObserved(key)
					if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
						return
					}
					record(err)
					fmu.Lock()
					failed = true
					fmu.Unlock()
				}
			})
		}
		wg.Wait()
		pos += n
		if failed {
			for range len(createOn) - pos {
				c.expectations.CreationObserved(key)
			}
			break
		}
	}

	var wg sync.WaitGroup
	for i, pod := range deletions {
		wg.Go(func() {
			opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}}
			if pod.Spec.NodeName != "" {
				if _, err := c.nodeLister.Get(pod.Spec.NodeName); apierrors.IsNotFound(err) {
					opts.GracePeriodSeconds = ptr.To[int64](0)
				}
			}
			err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
			if err != nil {
				c.expectations.DeletionObserved(key, podKeys[i])
				if !apierrors.IsNotFound(err) {
					c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Error deleting pod %s: %v", pod.Name, err)
					record(err)
				}
				return
			}
			c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, node, hash string) error {
	pod := newPod(ds, node, hash)
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return err
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

// storeStatus writes status through /status when it differs; on a conflict (our cache lags
// behind our own last write) it retries once on a fresh read.
func (c *Controller) storeStatus(ctx context.Context, ds *appsv1.DaemonSet, status appsv1.DaemonSetStatus) error {
	client := c.client.AppsV1().DaemonSets(ds.Namespace)
	for attempt := 0; ; attempt++ {
		if statusEqual(ds.Status, status) {
			return nil
		}
		upd := ds.DeepCopy()
		upd.Status = status
		upd.Status.CollisionCount = ds.Status.CollisionCount
		upd.Status.Conditions = ds.Status.Conditions
		_, err := client.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return err
		}
		fresh, getErr := client.Get(ctx, ds.Name, metav1.GetOptions{})
		if getErr != nil {
			return err
		}
		if fresh.UID != ds.UID || fresh.Generation != ds.Generation {
			return err // changed underneath us: the next sync computes afresh
		}
		ds = fresh
	}
}
