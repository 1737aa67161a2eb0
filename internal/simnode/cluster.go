package simnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// nodeNameIndex indexes the pod cache by spec.nodeName.
const nodeNameIndex = "spec.nodeName"

// Cluster is a set of simulated nodes run by one process.
type Cluster struct {
	cfg   Config
	log   *slog.Logger
	names []string
	nodes map[string]*node // fixed after New

	pods  cache.SharedIndexInformer
	nodeS cache.SharedIndexInformer

	// heartbeats holds node names: each item is one heartbeat (register, renew the lease,
	// report status when due), rescheduled with AddAfter.
	heartbeats workqueue.TypedRateLimitingInterface[string]
	// podQueue holds namespace/name keys of pods on simulated nodes.
	podQueue workqueue.TypedRateLimitingInterface[string]

	started atomic.Bool

	mu       sync.Mutex
	podState map[types.UID]*podState // guarded by mu
}

// node is the state of one simulated node.
type node struct {
	name       string
	internalIP string
	podRange   *net.IPNet // used when the Node has no spec.podCIDR
	bootID     string

	// syncMu is held for the whole of a heartbeat, so Pause returns only once none runs.
	syncMu sync.Mutex

	mu          sync.Mutex
	paused      bool
	registered  bool
	uid         types.UID
	lastNode    *corev1.Node // as last written by us
	lease       *coordinationv1.Lease
	lastRenew   time.Time
	lastStatus  time.Time
	statusDirty bool

	usedIPs map[string]types.UID // pod IP -> pod UID; guarded by Cluster.mu
}

// podState is what a simulated node remembers of a pod it runs.
type podState struct {
	node    string
	ip      string
	started time.Time
}

// New validates cfg and prepares the nodes; Run starts them.
func New(cfg Config) (*Cluster, error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	ips, err := nodeIPs(cfg.NodeCIDR, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	ranges, err := podRanges(cfg.PodCIDR, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:      cfg,
		log:      cfg.Log,
		names:    make([]string, cfg.Nodes),
		nodes:    make(map[string]*node, cfg.Nodes),
		podState: map[types.UID]*podState{},
	}
	for i := range cfg.Nodes {
		name := nodeName(cfg.NamePrefix, i)
		c.names[i] = name
		c.nodes[name] = &node{
			name:       name,
			internalIP: ips[i],
			podRange:   ranges[i],
			bootID:     string(uuid.NewUUID()),
			usedIPs:    map[string]types.UID{},
		}
	}
	maxBackoff := cfg.RenewInterval
	c.heartbeats = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, maxBackoff),
		workqueue.TypedRateLimitingQueueConfig[string]{Clock: cfg.Clock})
	c.podQueue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Clock: cfg.Clock})

	// One pod informer for all simulated nodes: every bound pod, filtered to ours in the
	// handlers, indexed by node.
	c.pods = coreinformers.NewFilteredPodInformer(cfg.Client, metav1.NamespaceAll, 0,
		cache.Indexers{nodeNameIndex: func(obj any) ([]string, error) {
			if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
				return []string{p.Spec.NodeName}, nil
			}
			return nil, nil
		}},
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
		})
	c.nodeS = coreinformers.NewNodeInformer(cfg.Client, 0, cache.Indexers{})
	for _, inf := range []cache.SharedIndexInformer{c.pods, c.nodeS} {
		if err := inf.SetTransform(stripManagedFields); err != nil {
			return nil, err
		}
	}
	if _, err := c.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, obj any) { c.podChanged(obj) },
		DeleteFunc: c.podDeleted,
	}); err != nil {
		return nil, err
	}
	if _, err := c.nodeS.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.nodeChanged,
		UpdateFunc: func(_, obj any) { c.nodeChanged(obj) },
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// podWorkersPerWorker is how many pod workers there are per Config.Workers.
const podWorkersPerWorker = 8

func stripManagedFields(obj any) (any, error) {
	if a, ok := obj.(metav1.Object); ok {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// NodeNames returns the node names, in order.
func (c *Cluster) NodeNames() []string {
	return append([]string(nil), c.names...)
}

// Run registers the nodes and runs them until ctx ends. A Cluster runs once.
func (c *Cluster) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("simnode: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer c.heartbeats.ShutDown()
	defer c.podQueue.ShutDown()

	for _, inf := range []cache.SharedIndexInformer{c.pods, c.nodeS} {
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.pods.HasSynced, c.nodeS.HasSynced) {
		return nil // ctx ended
	}
	c.log.Info("starting simulated nodes", "nodes", len(c.names), "workers", c.cfg.Workers)
	for _, name := range c.names {
		c.heartbeats.Add(name)
	}
	for range c.cfg.Workers {
		wg.Go(func() {
			for c.processHeartbeat(ctx) {
			}
		})
	}
	// A pod's sync is one status write, mostly spent waiting for the API server: with many
	// pods starting at once (a Deployment scaled to thousands) a few workers would hold
	// them Pending for as long as the server's latency times their number.
	for range c.cfg.Workers * podWorkersPerWorker {
		wg.Go(func() {
			for c.processPod(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.log.Info("stopping simulated nodes")
	return nil
}

// Pause stops a node's heartbeats (lease renewal and status reports) and pod handling, as if
// its kubelet had died or been cut off. It returns once no heartbeat of the node is running.
func (c *Cluster) Pause(name string) {
	n := c.nodes[name]
	if n == nil {
		c.log.Warn("pause: unknown node", "node", name)
		return
	}
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.paused = true
	c.log.Info("node paused", "node", name)
}

// Resume restarts a paused node: it renews its lease and reports its status at once and
// catches up with its pods.
func (c *Cluster) Resume(name string) {
	n := c.nodes[name]
	if n == nil {
		c.log.Warn("resume: unknown node", "node", name)
		return
	}
	n.mu.Lock()
	wasPaused := n.paused
	n.paused = false
	n.statusDirty = true
	n.mu.Unlock()
	if !wasPaused {
		return
	}
	c.log.Info("node resumed", "node", name)
	c.heartbeats.Add(name)
	objs, err := c.pods.GetIndexer().ByIndex(nodeNameIndex, name)
	if err != nil {
		return
	}
	for _, obj := range objs {
		c.enqueuePod(obj)
	}
}

func (n *node) isPaused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// processHeartbeat handles one heartbeat item; it returns false when the queue shut down.
func (c *Cluster) processHeartbeat(ctx context.Context) bool {
	name, shutdown := c.heartbeats.Get()
	if shutdown {
		return false
	}
	defer c.heartbeats.Done(name)
	n := c.nodes[name]
	next, err := c.heartbeat(ctx, n)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		c.log.Warn("node heartbeat failed", "node", name, "err", err)
		c.heartbeats.AddRateLimited(name)
	case next > 0:
		c.heartbeats.Forget(name)
		c.heartbeats.AddAfter(name, next)
	default: // paused
		c.heartbeats.Forget(name)
	}
	return true
}

// processPod handles one pod key; it returns false when the queue shut down.
func (c *Cluster) processPod(ctx context.Context) bool {
	key, shutdown := c.podQueue.Get()
	if shutdown {
		return false
	}
	defer c.podQueue.Done(key)
	after, err := c.syncPod(ctx, key)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		level := slog.LevelWarn
		if apierrors.IsConflict(err) { // a stale cache: the newer pod is on its way
			level = slog.LevelDebug
		}
		c.log.Log(ctx, level, "pod sync failed", "pod", key, "err", err)
		c.podQueue.AddRateLimited(key)
	default:
		c.podQueue.Forget(key)
		if after > 0 {
			c.podQueue.AddAfter(key, after)
		}
	}
	return true
}

func (c *Cluster) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || c.nodes[pod.Spec.NodeName] == nil {
		return
	}
	c.enqueuePod(pod)
}

func (c *Cluster) enqueuePod(obj any) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.podQueue.Add(key)
}

func (c *Cluster) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	c.releasePod(pod.UID)
}

// nodeChanged notices when a simulated Node's status is no longer what the node reports (the
// node lifecycle controller marked it Unknown, say), so that it is reported again at once.
func (c *Cluster) nodeChanged(obj any) {
	nd, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	n := c.nodes[nd.Name]
	if n == nil {
		return
	}
	n.mu.Lock()
	// An event older than what we last wrote (the Create of the registration) tells nothing.
	stale := n.lastNode != nil && nd.UID == n.lastNode.UID && nd.ResourceVersion != n.lastNode.ResourceVersion &&
		newerRV(n.lastNode.ResourceVersion, nd.ResourceVersion)
	dirty := n.registered && !n.paused && !stale && !c.statusCurrent(n, nd)
	if dirty {
		n.statusDirty = true
	}
	n.mu.Unlock()
	if dirty {
		c.heartbeats.Add(nd.Name)
	}
}

func (c *Cluster) String() string {
	return fmt.Sprintf("simnode.Cluster(%d nodes)", len(c.names))
}
