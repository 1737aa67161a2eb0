package endpoints

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// Controller keeps the Endpoints of every Service with a selector.
type Controller struct {
	client kubernetes.Interface

	podLister       corelisters.PodLister
	serviceLister   corelisters.ServiceLister
	endpointsLister corelisters.EndpointsLister
	synced          []cache.InformerSynced

	queue    workqueue.TypedRateLimitingInterface[string]
	triggers *triggerTimes

	// processed holds, per key, the resourceVersion our last update replaced: seeing it in
	// the cache again means the cache is behind.
	mu        sync.Mutex
	processed map[string]string
}

// Option configures a Controller.
type Option func(*Controller)

// New returns an Endpoints controller reading pods, services and endpoints from the given
// informers and writing through client.
func New(client kubernetes.Interface, podInformer coreinformers.PodInformer, serviceInformer coreinformers.ServiceInformer,
	endpointsInformer coreinformers.EndpointsInformer, opts ...Option) *Controller {
	c := &Controller{
		client:          client,
		podLister:       podInformer.Lister(),
		serviceLister:   serviceInformer.Lister(),
		endpointsLister: endpointsInformer.Lister(),
		synced: []cache.InformerSynced{podInformer.Informer().HasSynced, serviceInformer.Informer().HasSynced,
			endpointsInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint"},
		),
		triggers:  newTriggerTimes(),
		processed: map[string]string{},
	}
	for _, o := range opts {
		o(c)
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			utilruntime.HandleError(fmt.Errorf("endpoints controller: adding event handler: %w", err))
		}
	}
	add(serviceInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	add(podInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: c.addPod,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
			if o.ResourceVersion != n.ResourceVersion {
				c.enqueuePodServices(n.Namespace, labels.Set(o.Labels), labels.Set(n.Labels))
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				c.addPod(pod)
			}
		},
	})
	add(endpointsInformer.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: c.enqueue})
	return c
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	logger.Info("Starting endpoints controller")
	defer logger.Info("Shutting down endpoints controller")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	w := &controllerutil.Worker{Name: "endpoints", LogKey: "service", Queue: c.queue, Sync: c.sync}
	w.Start(ctx, workers)
	defer w.Stop()
	c.checkLeftoverEndpoints()
	<-ctx.Done()
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	c.enqueuePodServices(pod.Namespace, labels.Set(pod.Labels))
}

// enqueuePodServices queues the services of the namespace selecting any of the label sets.
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
				c.enqueue(s)
				break
			}
		}
	}
}

// checkLeftoverEndpoints queues every Endpoints object once, so that those whose Service went
// while the controller was down are deleted.
func (c *Controller) checkLeftoverEndpoints() {
	list, err := c.endpointsLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("listing endpoints for leftovers: %w", err))
		return
	}
	for _, ep := range list {
		if _, ok := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]; ok {
			continue
		}
		c.enqueue(ep)
	}
}

// isAPIServerOwned reports whether key names the API server's own Endpoints.
func isAPIServerOwned(namespace, name string) bool {
	return namespace == metav1.NamespaceDefault && name == "kubernetes"
}

// sync brings the Endpoints of the service named by key up to date.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid service key", "key", key)
		return nil
	}
	if isAPIServerOwned(namespace, name) {
		return nil
	}
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		err = c.client.CoreV1().Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		c.triggers.forget(key)
		c.mu.Lock()
		delete(c.processed, key)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.podLister.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	// Committed on every successful sync, so the tracker's state follows even when nothing is
	// written.
	triggerTime, commit := c.triggers.compute(key, svc, pods)
	subsets := computeSubsets(svc, pods)

	current, err := c.endpointsLister.Endpoints(namespace).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		current = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: svc.Labels}}
	case err != nil:
		return err
	default:
		c.mu.Lock()
		stale := c.processed[key] == current.ResourceVersion
		c.mu.Unlock()
		if stale {
			return fmt.Errorf("endpoints informer cache is out of date: resourceVersion %s of %s already processed", current.ResourceVersion, key)
		}
	}
	desired, changed := desiredEndpoints(svc, current, subsets, triggerTime)
	if !changed {
		commit()
		return nil
	}
	eps := c.client.CoreV1().Endpoints(namespace)
	if current.ResourceVersion == "" {
		_, err = eps.Create(ctx, desired, metav1.CreateOptions{})
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		if err == nil {
			commit()
		}
		return err
	}
	updated, err := eps.Update(ctx, desired, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	commit()
	if updated.ResourceVersion != current.ResourceVersion {
		c.mu.Lock()
		c.processed[key] = current.ResourceVersion
		c.mu.Unlock()
	}
	return nil
}

// desiredEndpoints returns the Endpoints object to write, and false when current is up to date
// (same subsets, labels and capacity annotation; a new trigger time alone is not worth a write).
func desiredEndpoints(svc *corev1.Service, current *corev1.Endpoints, subsets []corev1.EndpointSubset, triggerTime time.Time) (*corev1.Endpoints, bool) {
	compareLabels := current.Labels
	if _, ok := compareLabels[corev1.IsHeadlessService]; ok {
		compareLabels = without(compareLabels, corev1.IsHeadlessService)
	}
	if current.ResourceVersion != "" &&
		equality.Semantic.DeepEqual(ignoreTargetRefVersions(current.Subsets), subsets) &&
		equality.Semantic.DeepEqual(compareLabels, svc.Labels) &&
		capacityAnnotationCorrect(current.Annotations, current.Subsets) {
		return nil, false
	}
	out := current.DeepCopy()
	out.Subsets = subsets
	out.Labels = map[string]string{}
	for k, v := range svc.Labels {
		out.Labels[k] = v
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out.Labels[corev1.IsHeadlessService] = ""
	} else {
		delete(out.Labels, corev1.IsHeadlessService)
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	if !triggerTime.IsZero() {
		out.Annotations[corev1.EndpointsLastChangeTriggerTime] = triggerTime.UTC().Format(time.RFC3339Nano)
	} else {
		delete(out.Annotations, corev1.EndpointsLastChangeTriggerTime)
	}
	if truncate(out.Subsets) {
		out.Annotations[corev1.EndpointsOverCapacity] = truncated
	} else {
		delete(out.Annotations, corev1.EndpointsOverCapacity)
	}
	return out, true
}

func without(m map[string]string, key string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// ignoreTargetRefVersions returns subsets without the resourceVersions of target refs, which
// this controller never sets but others might.
func ignoreTargetRefVersions(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	has := false
	for _, s := range subsets {
		for _, list := range [][]corev1.EndpointAddress{s.Addresses, s.NotReadyAddresses} {
			for _, a := range list {
				if a.TargetRef != nil && a.TargetRef.ResourceVersion != "" {
					has = true
				}
			}
		}
	}
	if !has {
		return subsets
	}
	out := make([]corev1.EndpointSubset, len(subsets))
	for i := range subsets {
		s := *subsets[i].DeepCopy()
		for _, list := range [][]corev1.EndpointAddress{s.Addresses, s.NotReadyAddresses} {
			for j := range list {
				if list[j].TargetRef != nil {
					list[j].TargetRef.ResourceVersion = ""
				}
			}
		}
		out[i] = s
	}
	return out
}
