package scheduler

import (
	"container/heap"
	"context"
	"reflect"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// Queue timing, as upstream defaults.
const (
	InitialBackoff                  = time.Second
	MaxBackoff                      = 10 * time.Second
	backoffFlushInterval            = time.Second
	unschedulableFlushInterval      = 30 * time.Second
	maxUnschedulableDurationDefault = 5 * time.Minute
)

// QueuedPod is a pending pod with its queue bookkeeping.
type QueuedPod struct {
	Pod *v1.Pod
	// Timestamp is when the pod last entered the queue.
	Timestamp time.Time
	// Attempts counts scheduling attempts (incremented by Pop).
	Attempts int
	// UnschedulablePlugins rejected the pod in its last attempt; only cluster
	// events relevant to them move it out of the unschedulable set.
	UnschedulablePlugins sets.Set[string]

	where     int // which sub-queue
	heapIndex int
}

const (
	inNone = iota
	inActive
	inBackoff
	inUnschedulable
	inFlight
)

// ClusterEvent names what changed in the cluster; each maps to the plugins
// whose verdict it may change.
type ClusterEvent struct {
	Name    string
	Plugins sets.Set[string] // nil = every plugin
}

// Common cluster events.
func EventNodeAdd() ClusterEvent { return ClusterEvent{Name: "NodeAdd"} }
func EventAssignedPodDelete() ClusterEvent {
	return ClusterEvent{Name: "AssignedPodDelete", Plugins: sets.New(PluginNodeResourcesFit, PluginNodePorts,
		PluginInterPodAffinity, PluginPodTopologySpread, PluginDefaultPreemption)}
}
func EventAssignedPodAdd() ClusterEvent {
	return ClusterEvent{Name: "AssignedPodAdd", Plugins: sets.New(PluginInterPodAffinity, PluginPodTopologySpread)}
}

type podHeap struct {
	items []*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].heapIndex = i
	h.items[j].heapIndex = j
}
func (h *podHeap) Push(x any) {
	q := x.(*QueuedPod)
	q.heapIndex = len(h.items)
	h.items = append(h.items, q)
}
func (h *podHeap) Pop() any {
	n := len(h.items)
	q := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	q.heapIndex = -1
	return q
}

// Queue is the scheduling queue: an active heap ordered by priority then
// creation time, a backoff heap ordered by backoff expiry, and an
// unschedulable set waiting for a relevant cluster event. All time comes
// from the injected clock, so it is fully deterministic under a fake clock.
type Queue struct {
	clock clock.Clock

	mu            sync.Mutex
	cond          *sync.Cond
	active        podHeap
	backoff       podHeap
	unschedulable map[types.UID]*QueuedPod
	all           map[types.UID]*QueuedPod
	closed        bool

	schedulingCycle  int64
	moveRequestCycle int64

	// MaxUnschedulableDuration flushes pods that waited this long for an event.
	MaxUnschedulableDuration time.Duration
}

// NewQueue returns an empty queue using clk (nil = real clock).
func NewQueue(clk clock.Clock) *Queue {
	if clk == nil {
		clk = clock.RealClock{}
	}
	q := &Queue{clock: clk, unschedulable: map[types.UID]*QueuedPod{}, all: map[types.UID]*QueuedPod{},
		moveRequestCycle: -1, MaxUnschedulableDuration: maxUnschedulableDurationDefault}
	q.cond = sync.NewCond(&q.mu)
	q.active.less = activeLess
	q.backoff.less = func(a, b *QueuedPod) bool { return q.backoffExpiry(a).Before(q.backoffExpiry(b)) }
	return q
}

func activeLess(a, b *QueuedPod) bool {
	pa, pb := podPriority(a.Pod), podPriority(b.Pod)
	if pa != pb {
		return pa > pb
	}
	ca, cb := a.Pod.CreationTimestamp.Time, b.Pod.CreationTimestamp.Time
	if !ca.Equal(cb) {
		return ca.Before(cb)
	}
	if !a.Timestamp.Equal(b.Timestamp) {
		return a.Timestamp.Before(b.Timestamp)
	}
	if a.Pod.Namespace != b.Pod.Namespace {
		return a.Pod.Namespace < b.Pod.Namespace
	}
	return a.Pod.Name < b.Pod.Name
}

// backoffDuration is 1s doubled per failed attempt, capped at 10s.
func backoffDuration(attempts int) time.Duration {
	d := InitialBackoff
	for i := 1; i < attempts; i++ {
		if d > MaxBackoff-d {
			return MaxBackoff
		}
		d += d
	}
	return d
}

func (q *Queue) backoffExpiry(p *QueuedPod) time.Time {
	return p.Timestamp.Add(backoffDuration(p.Attempts))
}

func (q *Queue) isBackingOff(p *QueuedPod) bool {
	return p.Attempts > 0 && q.backoffExpiry(p).After(q.clock.Now())
}

func (q *Queue) remove(p *QueuedPod) {
	switch p.where {
	case inActive:
		heap.Remove(&q.active, p.heapIndex)
	case inBackoff:
		heap.Remove(&q.backoff, p.heapIndex)
	case inUnschedulable:
		delete(q.unschedulable, p.Pod.UID)
	}
	p.where = inNone
}

func (q *Queue) pushActive(p *QueuedPod) {
	p.where = inActive
	heap.Push(&q.active, p)
	q.cond.Broadcast()
}

func (q *Queue) pushBackoff(p *QueuedPod) {
	p.where = inBackoff
	heap.Push(&q.backoff, p)
}

// Add enqueues a new pending pod (or updates it if already known).
func (q *Queue) Add(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, ok := q.all[pod.UID]; ok {
		q.updateLocked(p, pod)
		return
	}
	p := &QueuedPod{Pod: pod, Timestamp: q.clock.Now()}
	q.all[pod.UID] = p
	q.pushActive(p)
}

// Update replaces a queued pod's object. An unschedulable pod whose spec or
// labels changed is retried (after its backoff).
func (q *Queue) Update(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.all[pod.UID]
	if !ok {
		p = &QueuedPod{Pod: pod, Timestamp: q.clock.Now()}
		q.all[pod.UID] = p
		q.pushActive(p)
		return
	}
	q.updateLocked(p, pod)
}

func (q *Queue) updateLocked(p *QueuedPod, pod *v1.Pod) {
	old := p.Pod
	p.Pod = pod
	switch p.where {
	case inActive:
		heap.Fix(&q.active, p.heapIndex)
	case inBackoff:
		heap.Fix(&q.backoff, p.heapIndex)
	case inUnschedulable:
		if !reflect.DeepEqual(old.Spec, pod.Spec) || !equalStringMaps(old.Labels, pod.Labels) {
			q.remove(p)
			q.requeue(p)
		}
	}
}

func equalStringMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// requeue puts a pod into backoff if it is still backing off, else active.
func (q *Queue) requeue(p *QueuedPod) {
	if q.isBackingOff(p) {
		q.pushBackoff(p)
	} else {
		q.pushActive(p)
	}
}

// Delete forgets a pod.
func (q *Queue) Delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, ok := q.all[uid]; ok {
		q.remove(p)
		delete(q.all, uid)
	}
}

// Popped is a pod handed out by Pop, to be returned with AddUnschedulable or
// Done. Pod is the object as of Pop (later updates go to the queue entry).
type Popped struct {
	Pod      *v1.Pod
	Attempts int
	Cycle    int64
	qp       *QueuedPod
}

// Pop blocks until a pod is active (or ctx ends / Close) and returns it with
// its scheduling cycle number.
func (q *Queue) Pop(ctx context.Context) (Popped, bool) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.cond.Broadcast()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed || ctx.Err() != nil {
			return Popped{}, false
		}
		q.cond.Wait()
	}
	return q.popLocked(), true
}

func (q *Queue) popLocked() Popped {
	p := heap.Pop(&q.active).(*QueuedPod)
	p.where = inFlight
	p.Attempts++
	q.schedulingCycle++
	return Popped{Pod: p.Pod, Attempts: p.Attempts, Cycle: q.schedulingCycle, qp: p}
}

// TryPop is a non-blocking Pop.
func (q *Queue) TryPop() (Popped, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active.Len() == 0 {
		return Popped{}, false
	}
	return q.popLocked(), true
}

// Done forgets a popped pod that was scheduled.
func (q *Queue) Done(pp Popped) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, ok := q.all[pp.Pod.UID]; ok && p == pp.qp && p.where == inFlight {
		delete(q.all, pp.Pod.UID)
	}
}

// AddUnschedulable returns a popped pod that failed, rejected by plugins. If a cluster
// event arrived since that cycle began, the pod goes to backoff right away
// (the event may have made it schedulable); otherwise it waits in the
// unschedulable set. With no plugins (an error) it always backs off.
func (q *Queue) AddUnschedulable(pp Popped, plugins sets.Set[string]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, cycle := pp.qp, pp.Cycle
	if cur, ok := q.all[pp.Pod.UID]; !ok || cur != p || p.where != inFlight {
		return // deleted (or re-added) while in flight
	}
	p.UnschedulablePlugins = plugins
	p.Timestamp = q.clock.Now()
	if len(p.UnschedulablePlugins) == 0 || q.moveRequestCycle >= cycle {
		q.pushBackoff(p)
		return
	}
	p.where = inUnschedulable
	q.unschedulable[p.Pod.UID] = p
}

// MoveAllToActiveOrBackoff moves unschedulable pods that ev may help.
func (q *Queue) MoveAllToActiveOrBackoff(ev ClusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.unschedulable {
		if ev.Plugins != nil && p.UnschedulablePlugins != nil && !ev.Plugins.HasAny(p.UnschedulablePlugins.UnsortedList()...) {
			continue
		}
		q.remove(p)
		q.requeue(p)
	}
	q.moveRequestCycle = q.schedulingCycle
}

// FlushBackoffCompleted moves pods whose backoff expired to active.
func (q *Queue) FlushBackoffCompleted() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for q.backoff.Len() > 0 {
		p := q.backoff.items[0]
		if q.backoffExpiry(p).After(now) {
			return
		}
		heap.Pop(&q.backoff)
		q.pushActive(p)
	}
}

// FlushUnschedulableLeftover retries pods that waited too long for an event.
func (q *Queue) FlushUnschedulableLeftover() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for _, p := range q.unschedulable {
		if now.Sub(p.Timestamp) >= q.MaxUnschedulableDuration {
			q.remove(p)
			q.requeue(p)
		}
	}
}

// Run flushes the backoff (every 1s) and unschedulable (every 30s) queues
// until ctx ends, using the queue's clock.
func (q *Queue) Run(ctx context.Context) {
	ct, ok := q.clock.(clock.WithTicker)
	if !ok {
		ct = clock.RealClock{}
	}
	b := ct.NewTicker(backoffFlushInterval)
	u := ct.NewTicker(unschedulableFlushInterval)
	defer b.Stop()
	defer u.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.C():
			q.FlushBackoffCompleted()
		case <-u.C():
			q.FlushUnschedulableLeftover()
		}
	}
}

// Close wakes Pop callers; Pop returns false once closed and empty.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Lengths returns the sizes of the active, backoff and unschedulable queues.
func (q *Queue) Lengths() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}

// Has reports whether the queue tracks the pod (in any sub-queue or in flight).
func (q *Queue) Has(uid types.UID) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.all[uid]
	return ok
}
