package deployment

import (
	"context"
	"fmt"
	"reflect"

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

// controllerKind is the kind of the objects this controller owns ReplicaSets for.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller rolls Deployments out through ReplicaSets.
type Controller struct {
	client kubernetes.Interface

	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	dSynced   cache.InformerSynced
	rsSynced  cache.InformerSynced
	podSynced cache.InformerSynced

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

// New returns a Deployment controller that reads Deployments, ReplicaSets and pods from the
// given informers and writes through client.
func New(client kubernetes.Interface, dInformer appsinformers.DeploymentInformer, rsInformer appsinformers.ReplicaSetInformer, podInformer coreinformers.PodInformer, opts ...Option) *Controller {
	c := &Controller{
		client:    client,
		dLister:   dInformer.Lister(),
		rsLister:  rsInformer.Lister(),
		podLister: podInformer.Lister(),
		dSynced:   dInformer.Informer().HasSynced,
		rsSynced:  rsInformer.Informer().HasSynced,
		podSynced: podInformer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment"},
		),
		clock: clock.RealClock{},
	}
	for _, o := range opts {
		o(c)
	}
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "deployment-controller"})
	}
	handlers := []struct {
		informer cache.SharedIndexInformer
		funcs    cache.ResourceEventHandlerFuncs
	}{
		{dInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.enqueue, UpdateFunc: c.updateDeployment, DeleteFunc: c.enqueue}},
		{rsInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.addRS, UpdateFunc: c.updateRS, DeleteFunc: c.deleteRS}},
		{podInformer.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: c.deletePod}},
	}
	for _, h := range handlers {
		if _, err := h.informer.AddEventHandler(h.funcs); err != nil {
			utilruntime.HandleError(fmt.Errorf("deployment controller: adding event handler: %w", err))
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
	logger.Info("Starting deployment controller")
	defer logger.Info("Shutting down deployment controller")

	w := &controllerutil.Worker{Name: "Deployment", LogKey: "deployment", Queue: c.queue, Sync: c.sync}
	w.Run(ctx, workers, c.dSynced, c.rsSynced, c.podSynced)
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

func (c *Controller) updateDeployment(old, cur any) {
	if old.(*appsv1.Deployment).ResourceVersion == cur.(*appsv1.Deployment).ResourceVersion {
		return
	}
	c.enqueue(cur)
}

// resolveControllerRef returns the Deployment ref names, if it exists with ref's UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	owner, _ := controllerutil.ResolveControllerRef(ref, controllerKind, c.dLister.Deployments(namespace).Get)
	return owner
}

// deploymentsSelecting returns the Deployments whose selector matches the (orphan) ReplicaSet.
func (c *Controller) deploymentsSelecting(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	all, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(all, func(o *appsv1.Deployment) *metav1.LabelSelector { return o.Spec.Selector }, rs.Labels)
}

func (c *Controller) addRS(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteRS(rs)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.deploymentsSelecting(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateRS(old, cur any) {
	oldRS, curRS := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if oldRS.ResourceVersion == curRS.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curRS), metav1.GetControllerOfNoCopy(oldRS)
	refChanged := (curRef == nil) != (oldRef == nil) || curRef != nil && oldRef != nil && curRef.UID != oldRef.UID
	if refChanged && oldRef != nil {
		if d := c.resolveControllerRef(oldRS.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.resolveControllerRef(curRS.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !labels.Equals(oldRS.Labels, curRS.Labels) {
		for _, d := range c.deploymentsSelecting(curRS) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteRS(obj any) {
	rs, ok := controllerutil.FromEvent[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
	}
}

// deletePod wakes a Recreate Deployment up when one of its old pods is gone.
func (c *Controller) deletePod(obj any) {
	pod, ok := controllerutil.FromEvent[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	dref := metav1.GetControllerOfNoCopy(rs)
	if dref == nil {
		return
	}
	if d := c.resolveControllerRef(rs.Namespace, dref); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueue(d)
	}
}

// --- sync

// sync moves the Deployment named by key one step along its rollout and records its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid Deployment key", "key", key)
		return nil
	}
	cached, err := c.dLister.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()

	if d.Spec.Selector == nil || reflect.DeepEqual(*d.Spec.Selector, metav1.LabelSelector{}) {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return c.updateStatus(ctx, d)
		}
		return nil
	}

	rsList, err := c.replicaSetsFor(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if cond := pausedCondition(d, c.clock.Now()); cond != nil {
		setCondition(&d.Status, *cond)
		if err := c.updateStatus(ctx, d); err != nil {
			return err
		}
	}
	if d.Spec.Paused || isScalingEvent(d, rsList) {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		// Only Recreate looks at pods (whether old ones still run): listing a large
		// Deployment's pods on every sync of a rolling one would be wasted.
		podMap, err := c.podsByRS(d, rsList)
		if err != nil {
			return err
		}
		return c.rolloutRecreate(ctx, d, rsList, podMap)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, rsList)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}

// updateStatus writes d's status and refreshes d from the answer.
//
// Our informer may not have delivered our own previous status write yet (a large Deployment
// changes status many times a second while it scales), so on a conflict the same status is
// written onto the latest copy as long as the spec is unchanged (same UID and generation):
// this controller is the status's only writer. Failing the sync instead would back the key off
// exponentially and delay the status clients wait for.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	client := c.client.AppsV1().Deployments(d.Namespace)
	for attempt := 0; ; attempt++ {
		updated, err := client.UpdateStatus(ctx, d, metav1.UpdateOptions{})
		if err == nil {
			*d = *updated
			return nil
		}
		if !apierrors.IsConflict(err) || attempt == 2 {
			return err
		}
		latest, gerr := client.Get(ctx, d.Name, metav1.GetOptions{})
		if gerr != nil || latest.UID != d.UID || latest.Generation != d.Generation {
			return err // gone, or the spec moved on: the next sync starts over
		}
		latest.Status = d.Status
		*d = *latest
	}
}

// replicaSetsFor returns the ReplicaSets the Deployment owns, adopting and releasing as needed.
func (c *Controller) replicaSetsFor(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid label selector: %w", d.Namespace, d.Name, err)
	}
	return controllerutil.Claim(ctx, controllerutil.Claimer{
		Owner:     d,
		OwnerKind: controllerKind,
		Selector:  selector,
		CanAdopt: controllerutil.RecheckOwner(d, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, namespace, name string, patch []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}, all)
}

// podsByRS groups the Deployment's pods by the ReplicaSet (in rsList) that controls them.
func (c *Controller) podsByRS(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := c.podLister.Pods(d.Namespace).List(selector)
	if err != nil {
		return nil, err
	}
	out := make(map[types.UID][]*corev1.Pod, len(rsList))
	for _, rs := range rsList {
		out[rs.UID] = nil
	}
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			continue
		}
		if _, ok := out[ref.UID]; ok {
			out[ref.UID] = append(out[ref.UID], p)
		}
	}
	return out, nil
}
