package servicelb

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// Controller gives LoadBalancer Services their addresses.
type Controller struct {
	client kubernetes.Interface
	pool   Pool
	alloc  *allocator

	serviceLister corelisters.ServiceLister
	nodeLister    corelisters.NodeLister
	synced        []cache.InformerSynced

	queue       workqueue.TypedRateLimitingInterface[string]
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	mu      sync.Mutex
	pending map[string]string // key of a Service waiting for pool addresses -> why
}

// Option configures a Controller.
type Option func(*Controller)

// WithPool makes the controller hand out addresses of pool; without it (or with an empty
// pool) Services get the InternalIPs of the Ready nodes.
func WithPool(pool Pool) Option { return func(c *Controller) { c.pool = slices.Clone(pool) } }

// WithEventRecorder makes the controller record events with r instead of its own broadcaster.
func WithEventRecorder(r record.EventRecorder) Option { return func(c *Controller) { c.recorder = r } }

// New returns a service load-balancer controller reading Services and Nodes from the given
// informers and writing through client.
func New(client kubernetes.Interface, serviceInformer coreinformers.ServiceInformer, nodeInformer coreinformers.NodeInformer,
	opts ...Option) *Controller {
	c := &Controller{
		client:        client,
		serviceLister: serviceInformer.Lister(),
		nodeLister:    nodeInformer.Lister(),
		synced:        []cache.InformerSynced{serviceInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "servicelb"},
		),
		pending: map[string]string{},
	}
	for _, o := range opts {
		o(c)
	}
	c.alloc = newAllocator(c.pool)
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "servicelb-controller"})
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			utilruntime.HandleError(fmt.Errorf("servicelb controller: adding event handler: %w", err))
		}
	}
	add(serviceInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	add(nodeInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueLoadBalancers() },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if nodeReady(o) != nodeReady(n) || !slices.Equal(internalIPs(o), internalIPs(n)) {
				c.enqueueLoadBalancers()
			}
		},
		DeleteFunc: func(any) { c.enqueueLoadBalancers() },
	})
	return c
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// enqueueLoadBalancers queues every LoadBalancer Service this controller serves: the nodes
// changed, so the addresses (node-addresses mode) or the elected node (pool mode) may have.
func (c *Controller) enqueueLoadBalancers() {
	svcs, err := c.serviceLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("servicelb controller: listing services: %w", err))
		return
	}
	for _, s := range svcs {
		if ours(s) {
			c.enqueue(s)
		}
	}
}

// enqueuePending queues the Services waiting for pool addresses: some were just freed.
func (c *Controller) enqueuePending() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.pending {
		c.queue.Add(key)
	}
}

// Run takes up the assignments the Services already show, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	if c.broadcaster != nil {
		c.broadcaster.StartStructuredLogging(3)
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
		defer c.broadcaster.Shutdown()
	}
	logger.Info("Starting service load-balancer controller", "pool", c.pool.String())
	defer logger.Info("Shutting down service load-balancer controller")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	if err := c.adoptExisting(); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Listing services failed")
		return
	}
	// A conflict means the cache has not seen our last write yet: retried, not worth a log.
	w := &controllerutil.Worker{Name: "service load balancer", LogKey: "service", Queue: c.queue, Sync: c.sync,
		Quiet: apierrors.IsConflict}
	w.Start(ctx, workers)
	defer w.Stop()
	<-ctx.Done()
}

// adoptExisting records the pool addresses the cached Services show before any is handed
// out, the oldest Service first, so that a restart keeps every Service's addresses.
func (c *Controller) adoptExisting() error {
	if len(c.pool) == 0 {
		return nil
	}
	svcs, err := c.serviceLister.List(labels.Everything())
	if err != nil {
		return err
	}
	slices.SortFunc(svcs, func(a, b *corev1.Service) int {
		if d := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); d != 0 {
			return d
		}
		return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, s := range svcs {
		if !ours(s) {
			continue
		}
		addrs := ingressAddrs(s)
		if req, err := requestedAddrs(s); err == nil && len(req) > 0 {
			addrs = slices.DeleteFunc(addrs, func(ip netip.Addr) bool { return !slices.Contains(req, ip) })
		}
		c.alloc.adopt(s.Namespace+"/"+s.Name, addrs)
	}
	return nil
}

// sync brings the load-balancer status of the Service named by key up to date.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid service key", "key", key)
		return nil
	}
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.release(key)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		// No longer a LoadBalancer: free its addresses and clear what is left of them
		// (loadBalancerClass may only be set on LoadBalancer Services, so a leftover
		// ingress can only be the default implementation's, ours).
		c.release(key)
		if len(svc.Status.LoadBalancer.Ingress) == 0 && svc.Annotations[AnnotationLoadBalancerNode] == "" {
			return nil
		}
		return c.write(ctx, svc, nil, "")
	}
	if !ours(svc) {
		c.release(key)
		return nil
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	if len(c.pool) == 0 {
		return c.write(ctx, svc, nodeAddrs(nodes, serviceFamilies(svc)), "")
	}

	addrs, err := c.assign(key, svc)
	if err != nil {
		c.releaseAddrs(key)
		c.mu.Lock()
		reported := c.pending[key] == err.Error()
		c.pending[key] = err.Error()
		c.mu.Unlock()
		if !reported {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, EventAllocationFailed, "Failed to allocate IP for %q: %v", key, err)
			klog.FromContext(ctx).Info("Allocating load-balancer address failed", "service", key, "err", err)
		}
		return c.write(ctx, svc, nil, "")
	}
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
	node := electNode(nodes)
	if node == "" && svc.Annotations[AnnotationLoadBalancerNode] != "" {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, EventNoReadyNode, "No Ready node to announce %q", addrStrings(addrs))
	}
	return c.write(ctx, svc, addrs, node)
}

func (c *Controller) assign(key string, svc *corev1.Service) ([]netip.Addr, error) {
	req, err := requestedAddrs(svc)
	if err != nil {
		return nil, err
	}
	addrs, freed, err := c.alloc.assign(key, serviceFamilies(svc), req, ingressAddrs(svc), requireDualStack(svc))
	if freed {
		c.enqueuePending()
	}
	return addrs, err
}

// release frees the pool addresses of key, if any, and forgets that it waits for some.
func (c *Controller) release(key string) {
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
	c.releaseAddrs(key)
}

// releaseAddrs frees the pool addresses of key, if any.
func (c *Controller) releaseAddrs(key string) {
	if c.alloc.release(key) {
		c.enqueuePending()
	}
}

// write makes the Service show addrs in status.loadBalancer.ingress and node in the
// AnnotationLoadBalancerNode annotation (none if ""), writing only what differs: the status
// first, so that a node never announces an address the Service does not show.
func (c *Controller) write(ctx context.Context, svc *corev1.Service, addrs []netip.Addr, node string) error {
	logger := klog.FromContext(ctx)
	key := svc.Namespace + "/" + svc.Name
	if want := ingressFor(addrs); !sameIngress(svc.Status.LoadBalancer.Ingress, want) {
		updated := svc.DeepCopy()
		updated.Status.LoadBalancer.Ingress = want
		_, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("updating the load-balancer status of %s: %w", key, err)
		}
		logger.V(2).Info("Updated load-balancer status", "service", key, "ingress", addrStrings(addrs))
		if len(addrs) > 0 {
			c.recorder.Eventf(svc, corev1.EventTypeNormal, EventIPAllocated, "Assigned IP %q", addrStrings(addrs))
		}
	}
	if svc.Annotations[AnnotationLoadBalancerNode] == node {
		return nil
	}
	_, err := c.client.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.StrategicMergePatchType,
		nodePatch(svc.UID, node), metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("annotating %s with its load-balancer node: %w", key, err)
	}
	if node != "" {
		logger.V(2).Info("Elected load-balancer node", "service", key, "node", node)
		c.recorder.Eventf(svc, corev1.EventTypeNormal, EventNodeAssigned, "Announcing from node %q", node)
	}
	return nil
}

// nodePatch sets (or, for "", removes) the AnnotationLoadBalancerNode annotation of the
// Service with UID uid.
func nodePatch(uid types.UID, node string) []byte {
	var value any
	if node != "" {
		value = node
	}
	b, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": uid, "annotations": map[string]any{AnnotationLoadBalancerNode: value}},
	})
	if err != nil {
		panic(fmt.Sprintf("marshalling load-balancer node patch: %v", err)) // cannot happen
	}
	return b
}
