package statefulset

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
var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller gives every StatefulSet its stable, ordered pods and their PVCs.
type Controller struct {
	client kubernetes.Interface

	setLister appslisters.StatefulSetLister
	podLister corelisters.PodLister
	pvcLister corelisters.PersistentVolumeClaimLister
	revLister appslisters.ControllerRevisionLister
	synced    []cache.InformerSynced

	queue       workqueue.TypedRateLimitingInterface[string]
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

// New returns a StatefulSet controller reading StatefulSets, pods, PVCs and
// ControllerRevisions from the given informers and writing through client.
func New(client kubernetes.Interface, setInformer appsinformers.StatefulSetInformer, podInformer coreinformers.PodInformer,
	pvcInformer coreinformers.PersistentVolumeClaimInformer, revisionInformer appsinformers.ControllerRevisionInformer, opts ...Option) *Controller {
	c := &Controller{
		client:    client,
		setLister: setInformer.Lister(),
		podLister: podInformer.Lister(),
		pvcLister: pvcInformer.Lister(),
		revLister: revisionInformer.Lister(),
		synced: []cache.InformerSynced{
			setInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			pvcInformer.Informer().HasSynced, revisionInformer.Informer().HasSynced,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset"},
		),
		clock: clock.RealClock{},
	}
	for _, o := range opts {
		o(c)
	}
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "statefulset-controller"})
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{setInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.enqueue, UpdateFunc: c.updateSet, DeleteFunc: c.deleteSet}},
		{podInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod}},
		{revisionInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.revisionChanged, UpdateFunc: func(_, cur any) { c.revisionChanged(cur) }, DeleteFunc: c.revisionChanged}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			utilruntime.HandleError(fmt.Errorf("statefulset controller: adding event handler: %w", err))
		}
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
	logger.Info("Starting statefulset controller")
	defer logger.Info("Shutting down statefulset controller")

	w := &controllerutil.Worker{Name: "StatefulSet", LogKey: "statefulset", Queue: c.queue, Sync: c.sync}
	w.Run(ctx, workers, c.synced...)
}

// --- event handlers: they only enqueue keys.

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) updateSet(old, cur any) {
	if old.(*appsv1.StatefulSet).ResourceVersion == cur.(*appsv1.StatefulSet).ResourceVersion {
		return
	}
	c.enqueue(cur)
}

func (c *Controller) deleteSet(obj any) { c.enqueue(obj) }

// resolveControllerRef returns the StatefulSet ref names, if it exists with ref's UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	owner, _ := controllerutil.ResolveControllerRef(ref, controllerKind, c.setLister.StatefulSets(namespace).Get)
	return owner
}

// selecting returns the StatefulSets in namespace whose selector matches lbls.
func (c *Controller) selecting(namespace string, lbls map[string]string) []*appsv1.StatefulSet {
	all, err := c.setLister.StatefulSets(namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(all, func(o *appsv1.StatefulSet) *metav1.LabelSelector { return o.Spec.Selector }, lbls)
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
			c.enqueue(set)
		}
		return
	}
	for _, set := range c.selecting(pod.Namespace, pod.Labels) {
		c.enqueue(set)
	}
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := (curRef == nil) != (oldRef == nil) || curRef != nil && oldRef != nil && curRef.UID != oldRef.UID
	if refChanged && oldRef != nil {
		if set := c.resolveControllerRef(oldPod.Namespace, oldRef); set != nil {
			c.enqueue(set)
		}
	}
	if curRef != nil {
		set := c.resolveControllerRef(curPod.Namespace, curRef)
		if set == nil {
			return
		}
		c.enqueue(set)
		if set.Spec.MinReadySeconds > 0 && !controllerutil.IsPodReady(oldPod) && controllerutil.IsPodReady(curPod) {
			if key, err := cache.MetaNamespaceKeyFunc(set); err == nil {
				c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second+time.Second)
			}
		}
		return
	}
	if refChanged || !labels.Equals(oldPod.Labels, curPod.Labels) {
		for _, set := range c.selecting(curPod.Namespace, curPod.Labels) {
			c.enqueue(set)
		}
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := controllerutil.FromEvent[*corev1.Pod](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
			c.enqueue(set)
		}
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
		if set := c.resolveControllerRef(rev.Namespace, ref); set != nil {
			c.enqueue(set)
		}
		return
	}
	for _, set := range c.selecting(rev.Namespace, rev.Labels) {
		c.enqueue(set)
	}
}

// --- sync

// sync moves the StatefulSet named by key one step towards its spec and reports its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid StatefulSet key", "key", key)
		return nil
	}
	set, err := c.setLister.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid StatefulSet selector", "statefulset", key)
		return nil
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return err
	}
	revs, err := c.claimRevisions(ctx, set, selector)
	if err != nil {
		return err
	}
	sortRevisions(revs)
	current, update, collisionCount, err := c.getRevisions(ctx, set, revs)
	if err != nil {
		return fmt.Errorf("getting revisions: %w", err)
	}
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return err
	}
	updateSet, err := applyRevision(set, update)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	acts := plan(set, revisions{currentSet: currentSet, updateSet: updateSet, current: current.Name, update: update.Name}, pods, now)
	execErr := c.execute(ctx, set, acts)

	status := computeStatus(set, current.Name, update.Name, collisionCount, pods, now)
	if err := c.storeStatus(ctx, set, status); err != nil {
		return errors.Join(execErr, err)
	}
	if execErr == nil {
		limit := 10
		if set.Spec.RevisionHistoryLimit != nil {
			limit = int(*set.Spec.RevisionHistoryLimit)
		}
		for _, name := range revisionsToDelete(revs, pods, status.CurrentRevision, update.Name, limit) {
			if err := c.client.AppsV1().ControllerRevisions(namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				execErr = err
			}
		}
	}
	if set.Spec.MinReadySeconds > 0 && status.ReadyReplicas != status.AvailableReplicas {
		c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return execErr
}

func (c *Controller) canAdopt(set *appsv1.StatefulSet) func(context.Context) error {
	return controllerutil.RecheckOwner(set, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	})
}

// claimPods adopts orphans that match the selector and are named like the set's pods,
// releases owned pods that stopped matching and returns the pods the set owns.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var members []*corev1.Pod
	for _, p := range all {
		if isMemberOf(set, p) {
			members = append(members, p)
		}
	}
	return controllerutil.Claim(ctx, controllerutil.Claimer{
		Owner:     set,
		OwnerKind: controllerKind,
		Selector:  selector,
		CanAdopt:  c.canAdopt(set),
		Patch: func(ctx context.Context, namespace, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}, members)
}

// claimRevisions adopts orphaned revisions matching the selector and returns those the set owns.
func (c *Controller) claimRevisions(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revLister.ControllerRevisions(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controllerutil.Claim(ctx, controllerutil.Claimer{
		Owner:     set,
		OwnerKind: controllerKind,
		Selector:  selector,
		CanAdopt:  c.canAdopt(set),
		Patch: func(ctx context.Context, namespace, name string, patch []byte) error {
			_, err := c.client.AppsV1().ControllerRevisions(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}, all)
}

// execute carries out the planned actions: in order, stopping at the first error, for
// OrderedReady; all at once for Parallel.
func (c *Controller) execute(ctx context.Context, set *appsv1.StatefulSet, acts []action) error {
	if monotonic(set) {
		for _, a := range acts {
			if err := c.do(ctx, set, a); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, a := range acts {
		wg.Go(func() {
			if err := c.do(ctx, set, a); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Controller) do(ctx context.Context, set *appsv1.StatefulSet, a action) error {
	logger := klog.FromContext(ctx)
	pods := c.client.CoreV1().Pods(set.Namespace)
	switch a.kind {
	case actCreate:
		if err := c.ensureClaims(ctx, set, a.ordinal, nil); err != nil {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", a.pod.Name, set.Name, err)
			return err
		}
		if _, err := pods.Create(ctx, a.pod, metav1.CreateOptions{}); err != nil {
			if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", a.pod.Name, set.Name, err)
			}
			return err
		}
		logger.V(2).Info("Created stateful pod", "statefulset", klog.KObj(set), "pod", a.pod.Name)
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", a.pod.Name, set.Name)
	case actDelete:
		if a.condemned {
			// WhenScaled=Delete: the claims go with the pod.
			if err := c.ensureClaims(ctx, set, a.ordinal, a.pod); err != nil {
				return err
			}
		}
		err := pods.Delete(ctx, a.pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &a.pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		if err != nil {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", a.pod.Name, set.Name, err)
			return err
		}
		logger.V(2).Info("Deleted stateful pod", "statefulset", klog.KObj(set), "pod", a.pod.Name)
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", a.pod.Name, set.Name)
	case actFixIdentity:
		p := a.pod.DeepCopy()
		setIdentity(set, p, a.ordinal)
		if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	case actEnsureClaims:
		return c.ensureClaims(ctx, set, a.ordinal, nil)
	}
	return nil
}

// ensureClaims creates the missing PVCs of the pod with ordinal and gives existing ones the
// owner references the retention policy asks for (condemnedPod is the pod being scaled away,
// or nil). A claim that is being deleted is an error: the pod must not start on it.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, ordinal int, condemnedPod *corev1.Pod) error {
	pvcs := c.client.CoreV1().PersistentVolumeClaims(set.Namespace)
	var errs []error
	for _, claim := range newClaims(set, ordinal) {
		existing, err := c.pvcLister.PersistentVolumeClaims(set.Namespace).Get(claim.Name)
		switch {
		case apierrors.IsNotFound(err):
			if condemnedPod != nil {
				continue
			}
			claim.OwnerReferences = claimOwnerRefs(set, claim, nil)
			if _, err := pvcs.Create(ctx, claim, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %v", claim.Name, podName(set, ordinal), set.Name, err)
				errs = append(errs, err)
				continue
			}
			c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s for Pod %s in StatefulSet %s success", claim.Name, podName(set, ordinal), set.Name)
		case err != nil:
			errs = append(errs, err)
		case existing.DeletionTimestamp != nil && condemnedPod == nil:
			errs = append(errs, fmt.Errorf("pvc %s is being deleted", existing.Name))
		default:
			want := claimOwnerRefs(set, existing, condemnedPod)
			if ownerRefsEqual(existing.OwnerReferences, want) {
				continue
			}
			upd := existing.DeepCopy()
			upd.OwnerReferences = want
			if _, err := pvcs.Update(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// storeStatus writes status through /status when it differs; on a conflict (our cache lags
// behind our own last write) it retries once on a fresh read of the same generation.
func (c *Controller) storeStatus(ctx context.Context, set *appsv1.StatefulSet, status appsv1.StatefulSetStatus) error {
	client := c.client.AppsV1().StatefulSets(set.Namespace)
	for attempt := 0; ; attempt++ {
		if statusEqual(set.Status, status) {
			return nil
		}
		upd := set.DeepCopy()
		upd.Status = status
		upd.Status.Conditions = set.Status.Conditions
		_, err := client.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return err
		}
		fresh, getErr := client.Get(ctx, set.Name, metav1.GetOptions{})
		if getErr != nil {
			return err
		}
		if fresh.UID != set.UID || fresh.Generation != set.Generation {
			return err // changed underneath us: the next sync computes afresh
		}
		set = fresh
	}
}
