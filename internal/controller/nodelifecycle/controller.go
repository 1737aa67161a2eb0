package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coordinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// podNodeIndex indexes the pod cache by spec.nodeName (a name of our own, so as not to clash
// with other users of a shared pod informer).
const podNodeIndex = "nodelifecycle/spec.nodeName"

// Controller watches node heartbeats, marks silent nodes Unknown, keeps the NoExecute taints
// in line with the Ready condition and evicts pods that do not tolerate them.
type Controller struct {
	client kubernetes.Interface

	nodeLister  corelisters.NodeLister
	leaseLister coordlisters.LeaseLister
	podLister   corelisters.PodLister
	podIndexer  cache.Indexer
	podIndexed  bool
	synced      []cache.InformerSynced

	// nodeQueue holds node names, podQueue pod keys.
	nodeQueue workqueue.TypedRateLimitingInterface[string]
	podQueue  workqueue.TypedRateLimitingInterface[string]

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	clock       clock.WithTicker

	grace, startupGrace, monitorPeriod time.Duration

	mu sync.Mutex
	// health is what was last heard from each node.
	health map[string]*health
	// taintSeen is when taints without timeAdded were first seen, by node name and
	// taint key/effect.
	taintSeen map[string]map[string]time.Time
	// pending holds the keys of pods with an eviction scheduled, and when.
	pending map[string]time.Time

	rates evictionRates
	// zones holds each zone's state, as the last monitor pass found it, and limiters the
	// rate its nodes may get their first NoExecute taint at.
	zones    map[string]zoneState
	limiters map[string]flowcontrol.RateLimiter
	// masterDisruption is set while every zone is wholly not ready: then the problem is
	// more likely the control plane's view than the nodes, and nothing is evicted.
	masterDisruption bool
}

// Option configures a Controller.
type Option func(*Controller)

// WithGracePeriod sets how long a node may go unheard before it is marked Unknown
// (nodeMonitorGracePeriod, default 40s).
func WithGracePeriod(d time.Duration) Option { return func(c *Controller) { c.grace = d } }

// WithStartupGracePeriod sets the grace period of a node that never posted a Ready
// condition, counted from its creation (default 60s).
func WithStartupGracePeriod(d time.Duration) Option {
	return func(c *Controller) { c.startupGrace = d }
}

// WithMonitorPeriod sets how often every node is re-examined (default 5s, or a quarter of
// the grace period when that is shorter). Nodes are also examined on every change and when
// their grace period runs out.
func WithMonitorPeriod(d time.Duration) Option { return func(c *Controller) { c.monitorPeriod = d } }

// WithEvictionRates sets how many nodes per second get their first NoExecute taint (and so
// have their pods evicted): rate in a zone that is healthy, or wholly down; secondary in a zone
// of more than largeCluster nodes where at least the unhealthy fraction of them are not ready
// (smaller such zones evict nothing). Defaults: 0.1, 0.01, 0.55 and 50, as upstream's.
func WithEvictionRates(rate, secondary float32, unhealthy float64, largeCluster int) Option {
	return func(c *Controller) {
		c.rates = evictionRates{primary: rate, secondary: secondary, unhealthy: unhealthy, largeCluster: largeCluster}
	}
}

// WithClock makes the controller (and its queues' delays) read time from clk; tests pass a
// fake clock.
func WithClock(clk clock.WithTicker) Option { return func(c *Controller) { c.clock = clk } }

// WithEventRecorder makes the controller record events with r instead of its own broadcaster.
func WithEventRecorder(r record.EventRecorder) Option { return func(c *Controller) { c.recorder = r } }

// New returns a node lifecycle controller reading nodes, node leases and pods from the given
// informers and writing through client. Leases outside kube-node-lease are ignored.
func New(client kubernetes.Interface, nodeInformer coreinformers.NodeInformer, leaseInformer coordinformers.LeaseInformer,
	podInformer coreinformers.PodInformer, opts ...Option) *Controller {
	c := &Controller{
		client:       client,
		nodeLister:   nodeInformer.Lister(),
		leaseLister:  leaseInformer.Lister(),
		podLister:    podInformer.Lister(),
		podIndexer:   podInformer.Informer().GetIndexer(),
		clock:        clock.RealClock{},
		grace:        DefaultGracePeriod,
		startupGrace: DefaultStartupGracePeriod,
		health:       map[string]*health{},
		taintSeen:    map[string]map[string]time.Time{},
		pending:      map[string]time.Time{},
		zones:        map[string]zoneState{},
		limiters:     map[string]flowcontrol.RateLimiter{},
		rates: evictionRates{primary: DefaultEvictionRate, secondary: DefaultSecondaryEvictionRate,
			unhealthy: DefaultUnhealthyZoneThreshold, largeCluster: DefaultLargeClusterThreshold},
		synced: []cache.InformerSynced{nodeInformer.Informer().HasSynced, leaseInformer.Informer().HasSynced,
			podInformer.Informer().HasSynced},
	}
	for _, o := range opts {
		o(c)
	}
	if c.monitorPeriod <= 0 {
		c.monitorPeriod = min(DefaultMonitorPeriod, max(c.grace/4, 10*time.Millisecond))
	}
	c.nodeQueue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodelifecycle-node", Clock: c.clock},
	)
	c.podQueue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodelifecycle-pod", Clock: c.clock},
	)
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"})
	}
	// The index only speeds up listing a node's pods; when the shared informer has already
	// started it cannot be added, and the pods are filtered from a full list instead.
	err := podInformer.Informer().AddIndexers(cache.Indexers{podNodeIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
	c.podIndexed = err == nil

	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			utilruntime.HandleError(fmt.Errorf("nodelifecycle controller: adding event handler: %w", err))
		}
	}
	add(nodeInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addNode,
		UpdateFunc: c.updateNode,
		DeleteFunc: c.deleteNode,
	})
	add(leaseInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.leaseChanged,
		UpdateFunc: func(_, cur any) { c.leaseChanged(cur) },
	})
	add(podInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueuePod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run runs workers for each queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.nodeQueue.ShutDown()
	defer c.podQueue.ShutDown()
	logger := klog.FromContext(ctx)
	if c.broadcaster != nil {
		c.broadcaster.StartStructuredLogging(3)
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
		defer c.broadcaster.Shutdown()
	}
	logger.Info("Starting node lifecycle controller", "gracePeriod", c.grace)
	defer logger.Info("Shutting down node lifecycle controller")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	for range max(workers, 1) {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for processNext(ctx, c.nodeQueue, c.syncNode, "Syncing node failed") {
			}
		}, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for processNext(ctx, c.podQueue, c.syncPod, "Syncing pod failed") {
			}
		}, time.Second)
	}
	// The monitor: every node is looked at again now and then, whatever the events.
	ticker := c.clock.NewTicker(c.monitorPeriod)
	defer ticker.Stop()
	for {
		c.handleDisruption(ctx)
		c.enqueueAllNodes()
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

func processNext(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error, msg string) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	if err := sync(ctx, key); err != nil {
		// A conflict is the object changing under the write (a node reporting in while it
		// is being marked Unknown): the retry reads the new one. Not worth an error line.
		if ctx.Err() == nil && !apierrors.IsConflict(err) { // nor is the controller stopping
			utilruntime.HandleErrorWithContext(ctx, err, msg, "key", key)
		}
		q.AddRateLimited(key)
		return true
	}
	q.Forget(key)
	return true
}

// --- event handlers

func (c *Controller) enqueueAllNodes() {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, n := range nodes {
		c.nodeQueue.Add(n.Name)
	}
}

func (c *Controller) addNode(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		c.nodeQueue.Add(n.Name)
		c.enqueuePodsOn(n.Name)
	}
}

func (c *Controller) updateNode(old, cur any) {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := cur.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	c.nodeQueue.Add(n.Name)
	// The node's pods care about its NoExecute taints and its Ready condition.
	if !apiequality.Semantic.DeepEqual(noExecuteTaints(o.Spec.Taints), noExecuteTaints(n.Spec.Taints)) ||
		readyStatus(o) != readyStatus(n) {
		c.enqueuePodsOn(n.Name)
	}
}

func (c *Controller) deleteNode(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if n, ok := obj.(*corev1.Node); ok {
		c.nodeQueue.Add(n.Name)
		c.enqueuePodsOn(n.Name)
	}
}

func (c *Controller) leaseChanged(obj any) {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok || l.Namespace != corev1.NamespaceNodeLease {
		return
	}
	c.nodeQueue.Add(l.Name)
}

func (c *Controller) enqueuePod(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.podQueue.Add(key)
}

func (c *Controller) updatePod(old, cur any) {
	o, ok1 := old.(*corev1.Pod)
	p, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 || o.ResourceVersion == p.ResourceVersion {
		return
	}
	c.enqueuePod(cur)
}

func (c *Controller) deletePod(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
}

func (c *Controller) enqueuePodsOn(node string) {
	for _, p := range c.podsOn(node) {
		c.enqueuePod(p)
	}
}

// podsOn lists the cached pods bound to node.
func (c *Controller) podsOn(node string) []*corev1.Pod {
	var out []*corev1.Pod
	if c.podIndexed {
		objs, err := c.podIndexer.ByIndex(podNodeIndex, node)
		if err == nil {
			for _, o := range objs {
				if p, ok := o.(*corev1.Pod); ok {
					out = append(out, p)
				}
			}
			return out
		}
	}
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		return nil
	}
	for _, p := range pods {
		if p.Spec.NodeName == node {
			out = append(out, p)
		}
	}
	return out
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	if c := findCondition(n.Status.Conditions, corev1.NodeReady); c != nil {
		return c.Status
	}
	return ""
}

// --- node health and taints

// syncNode notes what was heard from the node, marks it Unknown when its grace period has run
// out and keeps its NoExecute taints in line with its Ready condition.
func (c *Controller) syncNode(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.health, name)
		delete(c.taintSeen, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	var lease *coordinationv1.Lease
	if l, err := c.leaseLister.Leases(corev1.NamespaceNodeLease).Get(name); err == nil {
		lease = l
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	now := c.clock.Now()
	c.mu.Lock()
	h := observe(c.health[name], node, lease, now)
	c.health[name] = &h
	c.noteTaints(name, node.Spec.Taints, now)
	c.mu.Unlock()

	overdue, deadline := expired(h.probe, now, gracePeriodFor(node, c.grace, c.startupGrace))
	if !overdue {
		// Come back when the grace period runs out (a little after: it must have passed).
		c.nodeQueue.AddAfter(name, deadline.Sub(now)+time.Millisecond)
	} else if conds, changed := markUnknown(node.Status.Conditions, node.CreationTimestamp, now); changed {
		wasReady := readyStatus(node) == corev1.ConditionTrue
		upd := node.DeepCopy()
		upd.Status.Conditions = conds
		klog.FromContext(ctx).V(2).Info("Node stopped posting status, marking it Unknown", "node", name, "lastHeard", h.probe)
		node, err = c.client.CoreV1().Nodes().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if wasReady {
			c.recorder.Eventf(node, corev1.EventTypeNormal, EventNodeNotReady, "Node %s status is now: NodeNotReady", name)
		}
	}
	return c.reconcileTaints(ctx, node)
}

// noteTaints remembers when taints without timeAdded were first seen. c.mu must be held.
func (c *Controller) noteTaints(node string, taints []corev1.Taint, now time.Time) {
	seen := c.taintSeen[node]
	next := map[string]time.Time{}
	for _, t := range noExecuteTaints(taints) {
		if t.TimeAdded != nil {
			continue
		}
		k := t.Key + ":" + string(t.Effect)
		if at, ok := seen[k]; ok {
			next[k] = at
		} else {
			next[k] = now
		}
	}
	if len(next) == 0 {
		delete(c.taintSeen, node)
		return
	}
	c.taintSeen[node] = next
}

// taintAddedFunc tells when a taint of node was added: its timeAdded, or when it was first
// seen (now, if this is the first time).
func (c *Controller) taintAddedFunc(node string, now time.Time) func(corev1.Taint) time.Time {
	return func(t corev1.Taint) time.Time {
		if t.TimeAdded != nil {
			return t.TimeAdded.Time
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		k := t.Key + ":" + string(t.Effect)
		if c.taintSeen[node] == nil {
			c.taintSeen[node] = map[string]time.Time{}
		}
		at, ok := c.taintSeen[node][k]
		if !ok {
			at = now
			c.taintSeen[node][k] = at
		}
		return taintAdded(t, at)
	}
}

// reconcileTaints sets the node's unreachable/not-ready taints from its Ready condition,
// re-reading the node on conflicts.
func (c *Controller) reconcileTaints(ctx context.Context, node *corev1.Node) error {
	first := true
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if !first {
			fresh, err := c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			node = fresh
		}
		first = false
		taints, changed := c.allowedTaints(ctx, node)
		if !changed {
			return nil
		}
		upd := node.DeepCopy()
		upd.Spec.Taints = taints
		klog.FromContext(ctx).V(2).Info("Updating node taints", "node", node.Name, "taints", taints)
		_, err := c.client.CoreV1().Nodes().Update(ctx, upd, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// --- pods: not ready, eviction

// syncPod marks the pod not ready when its node is not ready and evicts it when its node's
// NoExecute taints say so.
func (c *Controller) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.cancel(key, nil)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		c.cancel(key, pod)
		return nil
	}
	node, err := c.nodeLister.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		c.cancel(key, pod) // the pod garbage collector's business
		return nil
	}
	if err != nil {
		return err
	}
	now := c.clock.Now()

	if ready := findCondition(node.Status.Conditions, corev1.NodeReady); ready != nil && ready.Status != corev1.ConditionTrue {
		if err := c.markNotReady(ctx, pod, now); err != nil {
			return err
		}
	}

	at, evict := evictionTime(noExecuteTaints(node.Spec.Taints), pod.Spec.Tolerations, c.taintAddedFunc(node.Name, now), now)
	if !evict {
		c.cancel(key, pod)
		return nil
	}
	if at.After(now) {
		c.mu.Lock()
		c.pending[key] = at
		c.mu.Unlock()
		c.podQueue.AddAfter(key, at.Sub(now))
		return nil
	}
	return c.evict(ctx, key, pod, now)
}

// cancel forgets a pending eviction of the pod, with an event when there was one.
func (c *Controller) cancel(key string, pod *corev1.Pod) {
	c.mu.Lock()
	_, had := c.pending[key]
	delete(c.pending, key)
	c.mu.Unlock()
	if had && pod != nil {
		c.recorder.Eventf(pod, corev1.EventTypeNormal, EventTaintManagerEviction, "Cancelling deletion of Pod %s", key)
	}
}

// markNotReady sets the pod's Ready condition to False, when it has one that is not already.
func (c *Controller) markNotReady(ctx context.Context, pod *corev1.Pod, now time.Time) error {
	conds, changed := podNotReady(pod.Status.Conditions, now)
	if !changed {
		return nil
	}
	var ready corev1.PodCondition
	for _, cond := range conds {
		if cond.Type == corev1.PodReady {
			ready = cond
		}
	}
	if err := c.patchPodCondition(ctx, pod, ready); err != nil {
		return err
	}
	c.recorder.Eventf(pod, corev1.EventTypeWarning, EventNodeNotReady, "Node is not ready")
	return nil
}

// evict adds the DisruptionTarget condition to the pod and deletes it.
func (c *Controller) evict(ctx context.Context, key string, pod *corev1.Pod, now time.Time) error {
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
	klog.FromContext(ctx).V(2).Info("Evicting pod for a NoExecute taint", "pod", key, "node", pod.Spec.NodeName)
	c.recorder.Eventf(pod, corev1.EventTypeNormal, EventTaintManagerEviction, "Marking for deletion Pod %s", key)
	if err := c.patchPodCondition(ctx, pod, disruptionCondition(now)); err != nil {
		return err
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) { // gone, or replaced
		return nil
	}
	return err
}

// patchPodCondition sets one condition of the pod's status with a strategic merge patch
// (conditions merge by type), guarded by the pod's UID. A pod that is gone is no error.
func (c *Controller) patchPodCondition(ctx context.Context, pod *corev1.Pod, cond corev1.PodCondition) error {
	patch, err := conditionPatch(pod.UID, cond)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func conditionPatch(uid types.UID, cond corev1.PodCondition) ([]byte, error) {
	return json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": uid},
		"status":   map[string]any{"conditions": []corev1.PodCondition{cond}},
	})
}

// --- zones: eviction rates and disruption modes

// allowedTaints returns the taints the node should have now and whether they differ from its
// own: the NoSchedule taints of its conditions, and the NoExecute taint of its Ready
// condition — unless every zone is down (none then), or the node has neither NoExecute taint
// yet and its zone's rate allows no new one now (it is then looked at again shortly).
func (c *Controller) allowedTaints(ctx context.Context, node *corev1.Node) ([]corev1.Taint, bool) {
	now := c.clock.Now()
	taints, changed := desiredTaints(node.Spec.Taints, findCondition(node.Status.Conditions, corev1.NodeReady), now)
	unreachable, notReady := UnreachableTaint(), NotReadyTaint()
	had := func(ts []corev1.Taint) bool {
		for _, t := range ts {
			if t.MatchTaint(&unreachable) || t.MatchTaint(&notReady) {
				return true
			}
		}
		return false
	}
	if changed && had(taints) && !had(node.Spec.Taints) {
		c.mu.Lock()
		master := c.masterDisruption
		allowed := !master && c.limiterFor(zoneOf(node)).TryAccept()
		c.mu.Unlock()
		if !allowed {
			taints, changed = node.Spec.Taints, false
			if !master {
				klog.FromContext(ctx).V(2).Info("Node's NoExecute taint waits for its zone's eviction rate", "node", node.Name, "zone", zoneOf(node))
				c.nodeQueue.AddAfter(node.Name, time.Second)
			}
		}
	}
	c.mu.Lock()
	master := c.masterDisruption
	c.mu.Unlock()
	if master && had(taints) {
		var kept []corev1.Taint
		for _, t := range taints {
			if !t.MatchTaint(&unreachable) && !t.MatchTaint(&notReady) {
				kept = append(kept, t)
			}
		}
		taints, changed = kept, true
	}
	out, more := desiredNoScheduleTaints(taints, node.Status.Conditions, node.Spec.Unschedulable)
	if !changed && !more {
		return node.Spec.Taints, false
	}
	return out, true
}

// limiterFor returns the zone's eviction limiter, made at the normal rate for a zone no
// monitor pass has seen yet. c.mu must be held.
func (c *Controller) limiterFor(zone string) flowcontrol.RateLimiter {
	if l, ok := c.limiters[zone]; ok {
		return l
	}
	l := c.newLimiter(c.rates.primary)
	c.limiters[zone] = l
	return l
}

func (c *Controller) newLimiter(qps float32) flowcontrol.RateLimiter {
	if qps <= 0 {
		return flowcontrol.NewFakeNeverRateLimiter()
	}
	return flowcontrol.NewTokenBucketRateLimiterWithClock(qps, 1, c.clock)
}

// handleDisruption works out each zone's state from its nodes' Ready conditions and sets the
// zones' eviction rates from them. When every zone is wholly down the controller enters
// "master disruption" (no NoExecute taints, so no evictions); when some node is ready again
// it leaves it, and counts every node as heard from now, so that none is evicted for the
// silence of the outage.
func (c *Controller) handleDisruption(ctx context.Context) {
	logger := klog.FromContext(ctx)
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Listing nodes failed")
		return
	}
	ready := map[string][]*corev1.NodeCondition{}
	for _, n := range nodes {
		z := zoneOf(n)
		ready[z] = append(ready[z], findCondition(n.Status.Conditions, corev1.NodeReady))
	}
	states := map[string]zoneState{}
	allDown := len(ready) > 0
	for z, conds := range ready {
		states[z] = computeZoneState(conds, c.rates.unhealthy)
		allDown = allDown && states[z] == stateFullDisruption
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case allDown && !c.masterDisruption:
		logger.Info("Controller detected that all Nodes are not-Ready. Entering master disruption mode")
		c.masterDisruption = true
		for _, n := range nodes {
			c.nodeQueue.Add(n.Name) // their NoExecute taints go
		}
	case !allDown && c.masterDisruption:
		logger.Info("Controller detected that some Nodes are Ready. Exiting master disruption mode")
		c.masterDisruption = false
		for _, h := range c.health {
			h.probe = now
		}
		for z := range c.zones {
			c.zones[z] = stateInitial // their limiters are set afresh below
		}
	}
	for z, st := range states {
		if old, ok := c.zones[z]; ok && old == st {
			continue
		}
		if old, ok := c.zones[z]; ok && old != stateInitial {
			logger.Info("Controller detected that zone is now in new state", "zone", z, "newState", st)
		}
		c.zones[z] = st
		c.limiters[z] = c.newLimiter(zoneEvictionRate(st, len(ready[z]), c.rates))
	}
	for z := range c.zones {
		if _, ok := states[z]; !ok {
			delete(c.zones, z)
			delete(c.limiters, z)
		}
	}
}
