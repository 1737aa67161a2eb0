package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
)

// DefaultSchedulerName is the schedulerName this scheduler serves by default.
const DefaultSchedulerName = v1.DefaultSchedulerName

// maxInFlightAPICalls bounds concurrent bind/event/status calls.
const maxInFlightAPICalls = 64

// Config configures a Scheduler.
type Config struct {
	Client kubernetes.Interface
	// Informers supplies pod, node and namespace informers; the caller starts
	// it after New (New registers the informers and handlers).
	Informers     informers.SharedInformerFactory
	SchedulerName string           // default "default-scheduler"
	Clock         clock.WithTicker // nil = real
	Log           *slog.Logger
	// Seed seeds random tie-breaking (0 = time-based).
	Seed uint64
	// Parallelism is the number of goroutines filtering nodes (0 = 1; on a
	// 2-core machine the sequential path measured faster).
	Parallelism int
}

// Scheduler binds pending pods to nodes. See the package documentation.
type Scheduler struct {
	client kubernetes.Interface
	name   string
	clock  clock.WithTicker
	log    *slog.Logger
	queue  *Queue
	synced []cache.InformerSynced

	mu      sync.Mutex // guards snap and assumed
	snap    *Snapshot
	assumed map[types.UID]string

	sem chan struct{}
	wg  sync.WaitGroup

	// Events go out through client-go's events.k8s.io/v1 broadcaster, as kube-scheduler's
	// do: in the background, so that a binding never waits for its Scheduled event.
	broadcaster events.EventBroadcaster
	recorder    events.EventRecorder
}

// New builds a scheduler and registers its informer handlers.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Client == nil || cfg.Informers == nil {
		return nil, errors.New("scheduler: Client and Informers are required")
	}
	s := &Scheduler{client: cfg.Client, name: cfg.SchedulerName, clock: cfg.Clock, log: cfg.Log,
		assumed: map[types.UID]string{}, sem: make(chan struct{}, maxInFlightAPICalls)}
	if s.name == "" {
		s.name = DefaultSchedulerName
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.broadcaster = events.NewBroadcaster(&events.EventSinkImpl{Interface: cfg.Client.EventsV1()})
	s.recorder = s.broadcaster.NewRecorder(scheme.Scheme, s.name)
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	s.snap = NewSnapshot(seed)
	s.snap.Parallelism = cfg.Parallelism
	if s.snap.Parallelism == 0 {
		s.snap.Parallelism = 1
	}
	s.queue = NewQueue(s.clock)

	pods := cfg.Informers.Core().V1().Pods().Informer()
	nodes := cfg.Informers.Core().V1().Nodes().Informer()
	nss := cfg.Informers.Core().V1().Namespaces().Informer()
	for _, reg := range []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{pods, cache.ResourceEventHandlerFuncs{AddFunc: s.onPodAdd, UpdateFunc: s.onPodUpdate, DeleteFunc: s.onPodDelete}},
		{nodes, cache.ResourceEventHandlerFuncs{AddFunc: s.onNodeAdd, UpdateFunc: s.onNodeUpdate, DeleteFunc: s.onNodeDelete}},
		{nss, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { s.onNamespace(o, false) },
			UpdateFunc: func(_, o any) { s.onNamespace(o, false) },
			DeleteFunc: func(o any) { s.onNamespace(o, true) }}},
	} {
		h, err := reg.inf.AddEventHandler(reg.h)
		if err != nil {
			return nil, fmt.Errorf("scheduler: adding event handler: %w", err)
		}
		s.synced = append(s.synced, h.HasSynced)
	}
	return s, nil
}

// Queue exposes the scheduling queue (for tests and metrics).
func (s *Scheduler) Queue() *Queue { return s.queue }

// Run schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	if err := s.broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		s.log.Error("scheduler: recording events", "err", err)
	}
	defer s.broadcaster.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return
	}
	s.log.Info("scheduler started", "name", s.name)
	go s.queue.Run(ctx)
	for {
		pp, ok := s.queue.Pop(ctx)
		if !ok {
			break
		}
		s.scheduleOne(ctx, pp)
	}
	s.queue.Close()
	s.wg.Wait()
}

// async runs f in the background with bounded API concurrency.
func (s *Scheduler) async(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.sem <- struct{}{}
		defer func() { <-s.sem }()
		f()
	}()
}

func (s *Scheduler) scheduleOne(ctx context.Context, pp Popped) {
	pod := pp.Pod
	s.mu.Lock()
	if s.snap.HasPod(pod.UID) {
		s.mu.Unlock()
		s.queue.Done(pp)
		return
	}
	res, err := s.snap.Schedule(pod)
	if err == nil {
		assumed := s.snap.Assume(pod, res.NodeName)
		s.assumed[pod.UID] = res.NodeName
		s.snap.RemoveNominated(pod.UID)
		s.mu.Unlock()
		s.async(func() { s.bind(ctx, pp, assumed) })
		return
	}
	var fe *FitError
	var pr PreemptionResult
	if errors.As(err, &fe) {
		pr = s.snap.Preempt(pod, fe)
		fe.PostFilterMsg = pr.Message
		if pr.NominatedNode != "" {
			np := pod.DeepCopy()
			np.Status.NominatedNodeName = pr.NominatedNode
			s.snap.SetNominated(np, pr.NominatedNode)
			for _, p := range pr.ClearNomination {
				s.snap.RemoveNominated(p.UID)
			}
		}
	}
	s.mu.Unlock()

	reason, msg := v1.PodReasonUnschedulable, err.Error()
	var plugins sets.Set[string]
	if fe != nil {
		plugins = fe.UnschedulablePlugins
		if plugins == nil {
			plugins = sets.New[string]()
		}
		plugins.Insert(PluginDefaultPreemption)
	} else {
		reason = v1.PodReasonSchedulerError
	}
	s.log.Debug("pod unschedulable", "pod", klogKey(pod), "message", msg)
	s.queue.AddUnschedulable(pp, plugins)
	nnn := pod.Status.NominatedNodeName
	if fe != nil {
		nnn = pr.NominatedNode
	}
	s.recorder.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", msg)
	s.async(func() { s.updatePodStatus(ctx, pod, reason, msg, nnn) })
	if pr.NominatedNode != "" {
		for _, v := range pr.Victims {
			s.async(func() { s.evict(ctx, v, pod, pr.NominatedNode) })
		}
		for _, p := range pr.ClearNomination {
			s.async(func() { s.clearNomination(ctx, p) })
		}
	}
}

func klogKey(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

func (s *Scheduler) bind(ctx context.Context, pp Popped, assumed *v1.Pod) {
	node := assumed.Spec.NodeName
	b := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: assumed.Namespace, Name: assumed.Name, UID: assumed.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}
	err := s.client.CoreV1().Pods(assumed.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err == nil {
		s.queue.Done(pp)
		s.recorder.Eventf(assumed, nil, v1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %s/%s to %s",
			assumed.Namespace, assumed.Name, node)
		return
	}
	s.log.Info("binding failed", "pod", klogKey(assumed), "node", node, "err", err)
	s.mu.Lock()
	if _, ok := s.assumed[assumed.UID]; ok {
		delete(s.assumed, assumed.UID)
		s.snap.RemovePod(assumed.UID)
	}
	s.mu.Unlock()
	s.queue.MoveAllToActiveOrBackoff(EventAssignedPodDelete())
	if apierrors.IsNotFound(err) || ctx.Err() != nil {
		s.queue.Done(pp)
		return
	}
	s.queue.AddUnschedulable(pp, nil)
	msg := fmt.Sprintf("Binding rejected: %v", err)
	s.recorder.Eventf(pp.Pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", msg)
	s.updatePodStatus(ctx, pp.Pod, v1.PodReasonSchedulerError, msg, pp.Pod.Status.NominatedNodeName)
}

// updatePodStatus sets PodScheduled=False (and nominatedNodeName) through a
// strategic merge patch of the status subresource, skipping no-op updates.
func (s *Scheduler) updatePodStatus(ctx context.Context, pod *v1.Pod, reason, msg, nominated string) {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == reason && c.Message == msg &&
			pod.Status.NominatedNodeName == nominated {
			return
		}
	}
	cond := map[string]any{"type": v1.PodScheduled, "status": v1.ConditionFalse, "reason": reason, "message": msg,
		"lastProbeTime": nil, "lastTransitionTime": metav1.NewTime(s.clock.Now())}
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse {
			cond["lastTransitionTime"] = c.LastTransitionTime
		}
	}
	status := map[string]any{"conditions": []any{cond}}
	if pod.Status.NominatedNodeName != nominated {
		if nominated == "" {
			status["nominatedNodeName"] = nil
		} else {
			status["nominatedNodeName"] = nominated
		}
	}
	s.patchStatus(ctx, pod, map[string]any{"status": status})
}

func (s *Scheduler) patchStatus(ctx context.Context, pod *v1.Pod, patch map[string]any) {
	data, err := json.Marshal(patch)
	if err != nil {
		return
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		s.log.Info("updating pod status failed", "pod", klogKey(pod), "err", err)
	}
}

// evict marks a preemption victim with DisruptionTarget and deletes it gracefully.
func (s *Scheduler) evict(ctx context.Context, victim, preemptor *v1.Pod, node string) {
	s.patchStatus(ctx, victim, map[string]any{"status": map[string]any{"conditions": []any{map[string]any{
		"type": v1.DisruptionTarget, "status": v1.ConditionTrue, "reason": v1.PodReasonPreemptionByScheduler,
		"message":            fmt.Sprintf("%s: preempting to accommodate a higher priority pod", s.name),
		"lastTransitionTime": metav1.NewTime(s.clock.Now()),
	}}}})
	uid := victim.UID
	err := s.client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		s.log.Info("deleting preemption victim failed", "pod", klogKey(victim), "err", err)
		return
	}
	s.recorder.Eventf(victim, preemptor, v1.EventTypeNormal, "Preempted", "Preempting", "Preempted by pod %v on node %v", preemptor.UID, node)
}

func (s *Scheduler) clearNomination(ctx context.Context, p *v1.Pod) {
	s.patchStatus(ctx, p, map[string]any{"status": map[string]any{"nominatedNodeName": nil}})
}

// ---- informer handlers ----

func (s *Scheduler) responsible(p *v1.Pod) bool {
	n := p.Spec.SchedulerName
	return n == s.name || (n == "" && s.name == DefaultSchedulerName)
}

func terminal(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

func asPod(obj any) *v1.Pod {
	switch o := obj.(type) {
	case *v1.Pod:
		return o
	case cache.DeletedFinalStateUnknown:
		p, _ := o.Obj.(*v1.Pod)
		return p
	}
	return nil
}

func (s *Scheduler) onPodAdd(obj any) {
	pod := asPod(obj)
	if pod == nil {
		return
	}
	if pod.Spec.NodeName != "" {
		s.onAssignedPod(nil, pod)
		return
	}
	if s.responsible(pod) && pod.DeletionTimestamp == nil && !terminal(pod) {
		s.trackNomination(pod)
		s.queue.Add(pod)
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	old, pod := asPod(oldObj), asPod(newObj)
	if pod == nil || old == nil {
		return
	}
	if pod.Spec.NodeName != "" {
		if old.Spec.NodeName == "" {
			s.queue.Delete(pod.UID)
		}
		s.onAssignedPod(old, pod)
		return
	}
	if !s.responsible(pod) {
		return
	}
	s.mu.Lock()
	_, isAssumed := s.assumed[pod.UID]
	s.mu.Unlock()
	if isAssumed {
		return // bound by us; the informer has not caught up yet
	}
	if pod.DeletionTimestamp != nil || terminal(pod) {
		s.queue.Delete(pod.UID)
		s.mu.Lock()
		s.snap.RemoveNominated(pod.UID)
		s.mu.Unlock()
		return
	}
	s.trackNomination(pod)
	s.queue.Update(pod)
}

func (s *Scheduler) trackNomination(pod *v1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap.NominatedNode(pod.UID) != pod.Status.NominatedNodeName {
		s.snap.SetNominated(pod, pod.Status.NominatedNodeName)
	}
}

func (s *Scheduler) onAssignedPod(old, pod *v1.Pod) {
	s.mu.Lock()
	delete(s.assumed, pod.UID)
	if terminal(pod) {
		s.snap.RemovePod(pod.UID)
		s.mu.Unlock()
		s.queue.MoveAllToActiveOrBackoff(EventAssignedPodDelete())
		return
	}
	s.snap.AddPod(pod)
	s.mu.Unlock()
	switch {
	case old == nil || old.Spec.NodeName == "":
		s.queue.MoveAllToActiveOrBackoff(EventAssignedPodAdd())
	case !equalStringMaps(old.Labels, pod.Labels):
		s.queue.MoveAllToActiveOrBackoff(ClusterEvent{Name: "AssignedPodUpdate",
			Plugins: sets.New(PluginInterPodAffinity, PluginPodTopologySpread)})
	case scaledDown(PodRequests(old), PodRequests(pod)):
		// Upstream's UpdatePodScaleDown: the pod counts for less than before (a resize
		// applied, or marked infeasible), which may make room for pods waiting.
		s.queue.MoveAllToActiveOrBackoff(ClusterEvent{Name: "AssignedPodUpdate", Plugins: sets.New(PluginNodeResourcesFit)})
	}
}

// scaledDown reports whether any resource counts for less in now than in was (a
// resource gone counts as zero).
func scaledDown(was, now Resource) bool {
	if now.MilliCPU < was.MilliCPU || now.Memory < was.Memory || now.EphemeralStorage < was.EphemeralStorage {
		return true
	}
	for name, q := range was.Scalar {
		if now.Scalar[name] < q {
			return true
		}
	}
	return false
}

func (s *Scheduler) onPodDelete(obj any) {
	pod := asPod(obj)
	if pod == nil {
		return
	}
	s.queue.Delete(pod.UID)
	s.mu.Lock()
	s.snap.RemoveNominated(pod.UID)
	_, had := s.snap.pods[pod.UID]
	delete(s.assumed, pod.UID)
	s.snap.RemovePod(pod.UID)
	s.mu.Unlock()
	if had {
		s.queue.MoveAllToActiveOrBackoff(EventAssignedPodDelete())
	}
}

func asNode(obj any) *v1.Node {
	switch o := obj.(type) {
	case *v1.Node:
		return o
	case cache.DeletedFinalStateUnknown:
		n, _ := o.Obj.(*v1.Node)
		return n
	}
	return nil
}

func (s *Scheduler) onNodeAdd(obj any) {
	node := asNode(obj)
	if node == nil {
		return
	}
	s.mu.Lock()
	s.snap.SetNode(node)
	s.mu.Unlock()
	s.queue.MoveAllToActiveOrBackoff(EventNodeAdd())
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj any) {
	old, node := asNode(oldObj), asNode(newObj)
	if node == nil || old == nil {
		return
	}
	s.mu.Lock()
	s.snap.SetNode(node)
	s.mu.Unlock()
	if ev, ok := nodeUpdateEvent(old, node); ok {
		s.queue.MoveAllToActiveOrBackoff(ev)
	}
}

// nodeUpdateEvent maps what changed on a node to the plugins it concerns.
func nodeUpdateEvent(old, node *v1.Node) (ClusterEvent, bool) {
	plugins := sets.New[string]()
	if !reflect.DeepEqual(old.Status.Allocatable, node.Status.Allocatable) {
		plugins.Insert(PluginNodeResourcesFit)
	}
	if !equalStringMaps(old.Labels, node.Labels) {
		plugins.Insert(PluginNodeAffinity, PluginPodTopologySpread, PluginInterPodAffinity)
	}
	if !reflect.DeepEqual(old.Spec.Taints, node.Spec.Taints) {
		plugins.Insert(PluginTaintToleration, PluginPodTopologySpread)
	}
	if old.Spec.Unschedulable != node.Spec.Unschedulable {
		plugins.Insert(PluginNodeUnschedulable)
	}
	if plugins.Len() == 0 {
		return ClusterEvent{}, false
	}
	return ClusterEvent{Name: "NodeUpdate", Plugins: plugins}, true
}

func (s *Scheduler) onNodeDelete(obj any) {
	node := asNode(obj)
	if node == nil {
		return
	}
	s.mu.Lock()
	s.snap.RemoveNode(node.Name)
	s.mu.Unlock()
}

func (s *Scheduler) onNamespace(obj any, deleted bool) {
	ns, ok := obj.(*v1.Namespace)
	if !ok {
		if d, ok2 := obj.(cache.DeletedFinalStateUnknown); ok2 {
			ns, ok = d.Obj.(*v1.Namespace)
		}
		if !ok {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if deleted {
		s.snap.RemoveNamespace(ns.Name)
	} else {
		s.snap.SetNamespace(ns)
	}
}
