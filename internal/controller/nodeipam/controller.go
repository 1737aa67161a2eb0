package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
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

// Defaults of New.
const (
	DefaultClusterCIDR  = "10.244.0.0/16"
	DefaultNodeMaskSize = 24
)

// EventCIDRNotAvailable is the reason of the event on a Node when no range is left for it.
const EventCIDRNotAvailable = "CIDRNotAvailable"

// Controller gives every Node a pod CIDR from the cluster CIDR.
type Controller struct {
	client     kubernetes.Interface
	nodeLister corelisters.NodeLister
	nodeSynced cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	mu     sync.Mutex
	set    *cidrSet
	owner  map[string]string // range -> node name holding it
	byNode map[string]string // node name -> range it holds
}

// New returns a controller allocating ranges of prefix length nodeMaskSize (0: 24) from
// clusterCIDR (nil: 10.244.0.0/16) to the Nodes of nodeInformer.
func New(client kubernetes.Interface, nodeInformer coreinformers.NodeInformer, clusterCIDR *net.IPNet, nodeMaskSize int) (*Controller, error) {
	if clusterCIDR == nil {
		_, clusterCIDR, _ = net.ParseCIDR(DefaultClusterCIDR)
	}
	if nodeMaskSize == 0 {
		nodeMaskSize = DefaultNodeMaskSize
	}
	set, err := newCIDRSet(clusterCIDR, nodeMaskSize)
	if err != nil {
		return nil, fmt.Errorf("nodeipam: %w", err)
	}
	c := &Controller{
		client:     client,
		nodeLister: nodeInformer.Lister(),
		nodeSynced: nodeInformer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam"},
		),
		set:    set,
		owner:  map[string]string{},
		byNode: map[string]string{},
	}
	c.broadcaster = record.NewBroadcaster()
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "cidrAllocator"})
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			if nodeCIDR(old.(*corev1.Node)) != nodeCIDR(cur.(*corev1.Node)) || nodeCIDR(cur.(*corev1.Node)) == "" {
				c.enqueue(cur)
			}
		},
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("nodeipam: adding event handler: %w", err)
	}
	return c, nil
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// nodeCIDR is the node's pod CIDR: spec.podCIDR, else the first of spec.podCIDRs.
func nodeCIDR(n *corev1.Node) string {
	if n.Spec.PodCIDR != "" {
		return n.Spec.PodCIDR
	}
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs[0]
	}
	return ""
}

// Run marks the ranges existing Nodes hold as used, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	c.broadcaster.StartStructuredLogging(3)
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()
	logger.Info("Starting node IPAM controller", "clusterCIDR", c.set.cluster, "nodeMaskSize", c.set.maskSize)
	defer logger.Info("Shutting down node IPAM controller")
	if !cache.WaitForCacheSync(ctx.Done(), c.nodeSynced) {
		return
	}
	if err := c.occupyExisting(ctx); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Listing nodes failed")
		return
	}
	w := &controllerutil.Worker{Message: "Allocating pod CIDR failed", LogKey: "node", Queue: c.queue, Sync: c.sync}
	w.Start(ctx, workers)
	defer w.Stop()
	<-ctx.Done()
}

// occupyExisting records the ranges the cached Nodes hold, before anything is allocated.
func (c *Controller) occupyExisting(ctx context.Context) error {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range nodes {
		if cidr := nodeCIDR(n); cidr != "" {
			c.recordLocked(ctx, n.Name, cidr)
		}
	}
	return nil
}

// recordLocked notes that node holds cidr (a string as in the Node), releasing whatever
// other range it was known to hold. Ranges outside the cluster CIDR are not tracked.
// c.mu must be held.
func (c *Controller) recordLocked(ctx context.Context, node, cidr string) {
	if old, ok := c.byNode[node]; ok && old != cidr {
		c.releaseLocked(node)
	}
	_, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		klog.FromContext(ctx).Info("Node has an unparsable pod CIDR; leaving it alone", "node", node, "podCIDR", cidr)
		return
	}
	if err := c.set.occupy(ipnet); err != nil {
		klog.FromContext(ctx).V(2).Info("Node's pod CIDR is not one of the cluster CIDR's ranges; leaving it alone",
			"node", node, "podCIDR", cidr, "err", err)
		return
	}
	key := ipnet.String()
	if other, ok := c.owner[key]; ok && other != node {
		klog.FromContext(ctx).Info("Pod CIDR is held by two nodes", "podCIDR", key, "node", node, "other", other)
	}
	c.owner[key] = node
	c.byNode[node] = key
}

// releaseLocked frees the range node holds, if any (and if it is still the node's).
// c.mu must be held.
func (c *Controller) releaseLocked(node string) {
	key, ok := c.byNode[node]
	if !ok {
		return
	}
	delete(c.byNode, node)
	if c.owner[key] != node {
		return
	}
	delete(c.owner, key)
	if _, ipnet, err := net.ParseCIDR(key); err == nil {
		c.set.release(ipnet)
	}
}

// sync gives the named Node a range when it has none, records the one it has, or releases
// the one it held when it is gone.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		c.releaseLocked(name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	if cidr := nodeCIDR(node); cidr != "" {
		c.mu.Lock()
		c.recordLocked(ctx, name, cidr)
		c.mu.Unlock()
		return nil
	}
	if node.DeletionTimestamp != nil {
		return nil
	}
	// Reserve a range for the node (the one reserved before, if a patch failed or the cache
	// has not caught up with it yet).
	c.mu.Lock()
	cidr, ok := c.byNode[name]
	if !ok {
		ipnet, err := c.set.allocateNext()
		if err != nil {
			c.mu.Unlock()
			c.recorder.Eventf(node, corev1.EventTypeWarning, EventCIDRNotAvailable, "Node %s status is now: %s", name, EventCIDRNotAvailable)
			return err
		}
		cidr = ipnet.String()
		c.owner[cidr] = name
		c.byNode[name] = cidr
	}
	c.mu.Unlock()

	klog.FromContext(ctx).V(2).Info("Setting node pod CIDR", "node", name, "podCIDR", cidr)
	_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, cidrPatch(node.UID, cidr), metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		c.releaseLocked(name)
		c.mu.Unlock()
		return nil
	}
	return err
}

// cidrPatch sets spec.podCIDR and spec.podCIDRs of the Node with UID uid.
func cidrPatch(uid types.UID, cidr string) []byte {
	b, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": uid},
		"spec":     map[string]any{"podCIDR": cidr, "podCIDRs": []string{cidr}},
	})
	if err != nil {
		panic(fmt.Sprintf("marshalling pod CIDR patch: %v", err)) // cannot happen
	}
	return b
}
