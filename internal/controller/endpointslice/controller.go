package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// errStaleCache is returned by a sync that found the slice cache behind the controller's writes.
var errStaleCache = errors.New("EndpointSlice informer cache is out of date")

// Controller keeps the EndpointSlices of every Service with a selector.
type Controller struct {
	client kubernetes.Interface

	podLister     corelisters.PodLister
	serviceLister corelisters.ServiceLister
	nodeLister    corelisters.NodeLister
	sliceLister   discoverylisters.EndpointSliceLister
	synced        []cache.InformerSynced

	queue   workqueue.TypedRateLimitingInterface[string]
	tracker *tracker
}

// Option configures a Controller.
type Option func(*Controller)

// New returns an EndpointSlice controller reading pods, services, nodes and slices from the
// given informers and writing slices through client.
func New(client kubernetes.Interface, podInformer coreinformers.PodInformer, serviceInformer coreinformers.ServiceInformer,
	nodeInformer coreinformers.NodeInformer, sliceInformer discoveryinformers.EndpointSliceInformer, opts ...Option) *Controller {
	c := &Controller{
		client:        client,
		podLister:     podInformer.Lister(),
		serviceLister: serviceInformer.Lister(),
		nodeLister:    nodeInformer.Lister(),
		sliceLister:   sliceInformer.Lister(),
		synced: []cache.InformerSynced{podInformer.Informer().HasSynced, serviceInformer.Informer().HasSynced,
			nodeInformer.Informer().HasSynced, sliceInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 1000*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint_slice"},
		),
		tracker: newTracker(),
	}
	for _, o := range opts {
		o(c)
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			utilruntime.HandleError(fmt.Errorf("endpointslice controller: adding event handler: %w", err))
		}
	}
	add(serviceInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueService,
		UpdateFunc: func(_, cur any) { c.enqueueService(cur) },
		DeleteFunc: c.enqueueService,
	})
	add(podInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	add(nodeInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAllServices() },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if o.Labels[corev1.LabelTopologyZone] != n.Labels[corev1.LabelTopologyZone] {
				c.enqueueAllServices()
			}
		},
		DeleteFunc: func(any) { c.enqueueAllServices() },
	})
	add(sliceInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onSlice,
		UpdateFunc: func(_, cur any) { c.onSlice(cur) },
		DeleteFunc: c.deleteSlice,
	})
	return c
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting endpointslice controller")
	defer logger.Info("Shutting down endpointslice controller")
	w := &controllerutil.Worker{Name: "EndpointSlices", LogKey: "service", Quiet: func(err error) bool { return errors.Is(err, errStaleCache) }, Queue: c.queue, Sync: c.sync}
	w.Run(ctx, workers, c.synced...)
}

// --- event handlers

func (c *Controller) enqueueService(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueueAllServices() {
	svcs, err := c.serviceLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		c.enqueueService(s)
	}
}

// enqueuePodServices queues the services in the pod's namespace whose selector matches any of
// the label sets.
func (c *Controller) enqueuePodServices(namespace string, sets ...labels.Set) {
	svcs, err := c.serviceLister.Services(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if s.Spec.Selector == nil {
			continue
		}
		sel := labels.Set(s.Spec.Selector).AsSelectorPreValidated()
		for _, ls := range sets {
			if sel.Matches(ls) {
				c.enqueueService(s)
				break
			}
		}
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	c.enqueuePodServices(pod.Namespace, labels.Set(pod.Labels))
}

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	c.enqueuePodServices(n.Namespace, labels.Set(o.Labels), labels.Set(n.Labels))
}

func (c *Controller) deletePod(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		c.addPod(pod)
	}
}

// managedServiceKey returns the key of the service a slice we manage belongs to.
func managedServiceKey(s *discoveryv1.EndpointSlice) (string, bool) {
	if s.Labels[discoveryv1.LabelManagedBy] != ControllerName {
		return "", false
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return "", false
	}
	return s.Namespace + "/" + name, true
}

func (c *Controller) onSlice(obj any) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	if key, ok := managedServiceKey(s); ok {
		c.queue.Add(key)
	}
}

func (c *Controller) deleteSlice(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	if key, ok := managedServiceKey(s); ok {
		c.tracker.observedGone(key, s.UID)
		c.queue.Add(key)
	}
}

// --- sync

// sync brings the slices of the service named by key up to date.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid service key", "key", key)
		return nil
	}
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector removes the slices with their owner.
		c.tracker.forgetService(key)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName || svc.DeletionTimestamp != nil {
		return nil
	}
	pods, err := c.podLister.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	cached, err := c.sliceLister.EndpointSlices(namespace).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ControllerName,
	}))
	if err != nil {
		return err
	}
	if c.tracker.stale(key, cached) {
		return errStaleCache
	}
	existing := make([]*discoveryv1.EndpointSlice, 0, len(cached))
	for _, s := range cached {
		if s.DeletionTimestamp == nil {
			existing = append(existing, s)
		}
	}
	desired, skipped := desiredEndpoints(svc, pods, func(n string) (*corev1.Node, bool) {
		node, err := c.nodeLister.Get(n)
		return node, err == nil
	})
	plan := reconcile(svc, desired, existing)
	err = c.apply(ctx, key, plan)
	if len(skipped) > 0 {
		err = errors.Join(err, fmt.Errorf("skipped pods %v of service %s: node not found", skipped, key))
	}
	return err
}

// apply carries out a plan: creations first (so that no endpoint goes missing), then
// updates, then deletions.
func (c *Controller) apply(ctx context.Context, key string, plan Plan) error {
	slices := c.client.DiscoveryV1().EndpointSlices
	var errs []error
	for _, s := range plan.Create {
		created, err := slices(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			errs = append(errs, err)
			continue
		}
		c.tracker.wrote(key, created)
	}
	for _, s := range plan.Update {
		updated, err := slices(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.tracker.wrote(key, updated)
	}
	for _, s := range plan.Delete {
		err := slices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		c.tracker.deleted(key, s)
	}
	return errors.Join(errs...)
}
