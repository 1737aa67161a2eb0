package kubelet

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

func rlist(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func TestDecideResize(t *testing.T) {
	const gi = int64(1) << 30
	node := nodeResources{cpu: 2000, mem: 4 * gi}
	for _, tc := range []struct {
		name             string
		want, have, used nodeResources
		reason, detail   string
		message          string
	}{
		{name: "fits next to the others", want: nodeResources{1500, gi}, have: nodeResources{500, gi}, used: nodeResources{500, gi}},
		{name: "fills the node exactly", want: nodeResources{1500, gi}, have: nodeResources{500, gi}, used: nodeResources{500, 3 * gi}},
		{name: "a decrease is always admitted", want: nodeResources{500, gi}, have: nodeResources{1000, gi}, used: nodeResources{1900, 4 * gi}},
		{name: "more cpu than the node has: infeasible", want: nodeResources{64000, gi}, have: nodeResources{500, gi},
			reason: corev1.PodReasonInfeasible, detail: corev1.PodReasonInfeasible,
			message: "Node didn't have enough capacity: cpu, requested: 64000, capacity: 2000"},
		{name: "infeasible memory is named before cpu", want: nodeResources{64000, 8 * gi}, have: nodeResources{500, gi},
			reason: corev1.PodReasonInfeasible, detail: corev1.PodReasonInfeasible,
			message: "Node didn't have enough capacity: memory, requested: 8589934592, capacity: 4294967296"},
		{name: "cpu in use by others: deferred", want: nodeResources{1500, gi}, have: nodeResources{500, gi}, used: nodeResources{1000, gi},
			reason: corev1.PodReasonDeferred, detail: "OutOfcpu",
			message: "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"},
		{name: "memory in use by others: deferred", want: nodeResources{500, 3 * gi}, have: nodeResources{500, gi}, used: nodeResources{500, 2 * gi},
			reason: corev1.PodReasonDeferred, detail: "OutOfmemory",
			message: "Node didn't have enough resource: memory, requested: 3221225472, used: 2147483648, capacity: 4294967296"},
		{name: "deferred cpu is named before memory", want: nodeResources{1500, 3 * gi}, have: nodeResources{500, gi}, used: nodeResources{1000, 2 * gi},
			reason: corev1.PodReasonDeferred, detail: "OutOfcpu",
			message: "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideResize(tc.want, tc.have, tc.used, node)
			if d.Reason != tc.reason || d.Detail != tc.detail || d.Message != tc.message {
				t.Errorf("decideResize = %+v, want reason %q detail %q message %q", d, tc.reason, tc.detail, tc.message)
			}
		})
	}
}

func TestContainerResizeAction(t *testing.T) {
	running := corev1.ResourceRequirements{Requests: rlist("cpu", "100m", "memory", "32Mi"), Limits: rlist("cpu", "200m", "memory", "64Mi")}
	policy := func(cpu, mem corev1.ResourceResizeRestartPolicy) []corev1.ContainerResizePolicy {
		return []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: cpu}, {ResourceName: corev1.ResourceMemory, RestartPolicy: mem}}
	}
	for _, tc := range []struct {
		name   string
		want   corev1.ResourceRequirements
		policy []corev1.ContainerResizePolicy
		action resizeAction
	}{
		{"unchanged", running, nil, resizeNone},
		{"unchanged, quantities written differently", corev1.ResourceRequirements{Requests: rlist("cpu", "0.1", "memory", "32Mi"), Limits: rlist("cpu", "200m", "memory", "67108864")}, nil, resizeNone},
		{"cpu limit, no policy: in place", corev1.ResourceRequirements{Requests: running.Requests, Limits: rlist("cpu", "300m", "memory", "64Mi")}, nil, resizeInPlace},
		{"cpu limit, NotRequired: in place", corev1.ResourceRequirements{Requests: running.Requests, Limits: rlist("cpu", "300m", "memory", "64Mi")},
			policy(corev1.NotRequired, corev1.RestartContainer), resizeInPlace},
		{"cpu request, cpu RestartContainer: restart", corev1.ResourceRequirements{Requests: rlist("cpu", "150m", "memory", "32Mi"), Limits: running.Limits},
			policy(corev1.RestartContainer, corev1.NotRequired), resizeRestart},
		{"memory limit, memory RestartContainer: restart", corev1.ResourceRequirements{Requests: running.Requests, Limits: rlist("cpu", "200m", "memory", "96Mi")},
			policy(corev1.NotRequired, corev1.RestartContainer), resizeRestart},
		{"memory limit, only cpu RestartContainer: in place", corev1.ResourceRequirements{Requests: running.Requests, Limits: rlist("cpu", "200m", "memory", "96Mi")},
			policy(corev1.RestartContainer, corev1.NotRequired), resizeInPlace},
		{"memory request only: nothing to apply", corev1.ResourceRequirements{Requests: rlist("cpu", "100m", "memory", "48Mi"), Limits: running.Limits},
			policy(corev1.RestartContainer, corev1.RestartContainer), resizeRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "c", Resources: tc.want, ResizePolicy: tc.policy}
			if got := containerResizeAction(c, running); got != tc.action {
				t.Errorf("containerResizeAction = %d, want %d", got, tc.action)
			}
		})
	}
}

func TestMemoryLimitDecrease(t *testing.T) {
	have := corev1.ResourceRequirements{Limits: rlist("memory", "96Mi")}
	c := func(limit string) *corev1.Container {
		return &corev1.Container{Name: "main", Resources: corev1.ResourceRequirements{Limits: rlist("memory", limit)}}
	}
	if got := memoryLimitDecrease(c("128Mi"), have); got != 0 {
		t.Errorf("an increase is a decrease of %d", got)
	}
	if got := memoryLimitDecrease(c("96Mi"), have); got != 0 {
		t.Errorf("no change is a decrease of %d", got)
	}
	if got := memoryLimitDecrease(c("80Mi"), have); got != 80<<20 {
		t.Errorf("96Mi -> 80Mi: decrease to %d", got)
	}
	if msg := memoryDecreaseError("main", 80<<20, 10<<20); msg != "" {
		t.Errorf("usage below the new limit: %q", msg)
	}
	want := `attempting to set container "main" memory limit (83886080) below current usage (94371840)`
	if msg := memoryDecreaseError("main", 80<<20, 90<<20); msg != want {
		t.Errorf("usage above the new limit: %q, want %q", msg, want)
	}
}

func resizePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1", Generation: 2},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "side", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Requests: rlist("cpu", "50m")}}},
			Containers: []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{
				Requests: rlist("cpu", "500m", "memory", "64Mi"), Limits: rlist("cpu", "1", "memory", "128Mi")}}},
		},
	}
}

func TestAllocation(t *testing.T) {
	pod := resizePod()
	alloc := specAllocation(pod)
	if !sameAllocation(alloc, specAllocation(pod)) {
		t.Fatal("an allocation differs from itself")
	}
	if withAllocation(pod, alloc) != pod {
		t.Error("withAllocation copied a pod that already runs as allocated")
	}
	resized := pod.DeepCopy()
	resized.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
	if sameAllocation(alloc, specAllocation(resized)) {
		t.Fatal("a resize changes nothing")
	}
	running := withAllocation(resized, alloc)
	if q := running.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; q.MilliValue() != 500 {
		t.Errorf("the pod runs with %s cpu, want its allocated 500m", q.String())
	}
	if q := resized.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; q.MilliValue() != 1000 {
		t.Errorf("withAllocation changed the pod it was given")
	}
	if cpu, mem := podRequests(running); cpu != 550 || mem != 64<<20 {
		t.Errorf("podRequests = %d, %d; want 550m (main and sidecar), 64Mi", cpu, mem)
	}
}

// A restarted kubelet reads back what the one before it allocated and applied.
func TestAllocationsPersist(t *testing.T) {
	root := t.TempDir()
	pod := resizePod()
	a := &allocations{root: root}
	if _, ok := a.allocated(pod.UID); ok {
		t.Fatal("an allocation before any was recorded")
	}
	if err := a.setAllocated(pod.UID, specAllocation(pod)); err != nil {
		t.Fatal(err)
	}
	applied := corev1.ResourceRequirements{Requests: rlist("cpu", "700m", "memory", "64Mi"), Limits: rlist("cpu", "1", "memory", "128Mi")}
	if err := a.setActuated(pod.UID, "main", "c1", applied); err != nil {
		t.Fatal(err)
	}

	b := &allocations{root: root} // the next kubelet
	alloc, ok := b.allocated(pod.UID)
	if !ok || !sameAllocation(alloc, specAllocation(pod)) {
		t.Fatalf("allocation after a restart = %v, %v", alloc, ok)
	}
	if rr, ok := b.actuated(pod.UID, "main", "c1"); !ok || !sameResources(rr, applied) {
		t.Fatalf("actuated resources after a restart = %v, %v", rr, ok)
	}
	if _, ok := b.actuated(pod.UID, "main", "c2"); ok {
		t.Error("a new instance of the container inherits what was applied to the old one")
	}
	// A later allocation keeps what was applied.
	resized := pod.DeepCopy()
	resized.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("2")
	if err := b.setAllocated(pod.UID, specAllocation(resized)); err != nil {
		t.Fatal(err)
	}
	c := &allocations{root: root}
	if rr, ok := c.actuated(pod.UID, "main", "c1"); !ok || !sameResources(rr, applied) {
		t.Fatalf("actuated resources after a new allocation = %v, %v", rr, ok)
	}
	if alloc, _ := c.allocated(pod.UID); !sameAllocation(alloc, specAllocation(resized)) {
		t.Fatalf("allocation = %v", alloc)
	}
}

// Without a state file (a kubelet from before it), running containers keep what they run
// with; the resize beyond it is decided anew.
func TestInitialAllocation(t *testing.T) {
	k := &Kubelet{allocs: allocations{root: t.TempDir()}}
	pod := resizePod()
	st := &podState{containers: map[string][]*runtimeapi.ContainerStatus{
		"main": {{Id: "c1", State: runtimeapi.ContainerState_CONTAINER_RUNNING,
			Annotations: map[string]string{annotationResources: `{"limits":{"cpu":"200m","memory":"128Mi"},"requests":{"cpu":"100m","memory":"64Mi"}}`}}},
	}}
	alloc := k.initialAllocation(pod, st)
	if q := alloc["main"].Requests[corev1.ResourceCPU]; q.MilliValue() != 100 {
		t.Errorf("running container allocated %s cpu, want the 100m it runs with", q.String())
	}
	if q := alloc["main"].Limits[corev1.ResourceCPU]; q.MilliValue() != 200 {
		t.Errorf("running container's cpu limit %s, want 200m", q.String())
	}
	if q := alloc["side"].Requests[corev1.ResourceCPU]; q.MilliValue() != 50 {
		t.Errorf("container not running allocated %s cpu, want its spec's 50m", q.String())
	}
}

func TestResizeMessage(t *testing.T) {
	got := resizeMessage(resizePod(), "Pod resize started", "")
	want := `Pod resize started: {"initContainers":[{"name":"side","resources":{"requests":{"cpu":"50m"}}}],` +
		`"containers":[{"name":"main","resources":{"limits":{"cpu":"1","memory":"128Mi"},"requests":{"cpu":"500m","memory":"64Mi"}}}],"generation":2}`
	if got != want {
		t.Errorf("message\n got %s\nwant %s", got, want)
	}
	if got := resizeMessage(resizePod(), "Pod resize OutOfcpu", "Node didn't have enough resource"); !strings.HasSuffix(got, `"generation":2,"error":"Node didn't have enough resource"}`) {
		t.Errorf("message with an error: %s", got)
	}
}

func TestResizeCondition(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(then.Add(time.Hour))
	old := []corev1.PodCondition{{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: corev1.PodReasonDeferred, LastTransitionTime: then}}
	if c := resizeCondition(old, corev1.PodResizePending, corev1.PodReasonDeferred, "used: 1", now); !c.LastTransitionTime.Equal(&then) {
		t.Errorf("still deferred: transition time %v, want %v", c.LastTransitionTime, then)
	}
	if c := resizeCondition(old, corev1.PodResizePending, corev1.PodReasonInfeasible, "", now); !c.LastTransitionTime.Equal(&now) {
		t.Errorf("deferred to infeasible: transition time %v, want %v", c.LastTransitionTime, now)
	}
}

// admitResize end to end, without a runtime: a resize that does not fit next to another
// pod is Deferred (and allocates nothing), goes through once that pod is gone, and one
// the node can never hold is Infeasible.
func TestAdmitResize(t *testing.T) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	recorder := record.NewFakeRecorder(10)
	k := &Kubelet{
		cfg:      Config{Clock: clock.RealClock{}},
		allocs:   allocations{root: t.TempDir()},
		pods:     listerscorev1.NewPodLister(indexer),
		recorder: recorder,
		machine:  &machine{allocatable: rlist("cpu", "2", "memory", "4Gi")},
		workers:  map[types.UID]*podWorker{},
	}
	pod := resizePod()
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default", UID: "uid-2"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rlist("cpu", "1")}}}}}
	for _, p := range []*corev1.Pod{pod, other} {
		if err := indexer.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	st := &podState{containers: map[string][]*runtimeapi.ContainerStatus{}}
	res := &syncResult{}
	if got := k.admitResize(pod, st, res); got != pod || res.resizePending.Reason != "" || res.resizeAdmitted {
		t.Fatalf("first sight of a pod: %+v", res)
	}

	// 550m -> 1550m next to the other pod's 1 cpu, on 2: deferred.
	resized := pod.DeepCopy()
	resized.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1500m")
	resized.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1500m")
	res = &syncResult{}
	running := k.admitResize(resized, st, res)
	if d := res.resizePending; d.Reason != corev1.PodReasonDeferred || d.Message != "Node didn't have enough resource: cpu, requested: 1550, used: 1000, capacity: 2000" {
		t.Fatalf("resize next to the other pod: %+v", d)
	}
	if q := running.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; q.MilliValue() != 500 {
		t.Errorf("a deferred resize runs the pod with %s cpu, want its allocated 500m", q.String())
	}
	if !k.pendingResizes[pod.UID] {
		t.Error("a deferred resize is not retried")
	}
	if e := <-recorder.Events; !strings.HasPrefix(e, `Warning ResizeDeferred Pod resize OutOfcpu: {"initContainers"`) {
		t.Errorf("event %q", e)
	}

	// The other pod goes: the resize is admitted, and allocated.
	if err := indexer.Delete(other); err != nil {
		t.Fatal(err)
	}
	res = &syncResult{}
	if got := k.admitResize(resized, st, res); got != resized || !res.resizeAdmitted || res.resizePending.Reason != "" {
		t.Fatalf("resize once room is made: %+v", res)
	}
	if rr, _ := k.allocatedOf(pod.UID, "main"); rr.Requests.Cpu().MilliValue() != 1500 {
		t.Errorf("allocated %v", rr)
	}
	if k.pendingResizes[pod.UID] {
		t.Error("an admitted resize is still pending")
	}
	if e := <-recorder.Events; !strings.HasPrefix(e, "Normal ResizeStarted Pod resize started: ") {
		t.Errorf("event %q", e)
	}
	resized.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main"}}
	resized.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: corev1.PodReasonDeferred}}
	status := k.resizeAdmittedStatus(resized)
	if q := status.ContainerStatuses[0].AllocatedResources[corev1.ResourceCPU]; q.MilliValue() != 1500 {
		t.Errorf("status reports %s cpu allocated, want 1500m", q.String())
	}
	if findPodCondition(status.Conditions, corev1.PodResizePending) != nil || findPodCondition(status.Conditions, corev1.PodResizeInProgress) == nil ||
		findPodCondition(status.Conditions, corev1.PodScheduled) == nil {
		t.Errorf("conditions of an admitted resize: %+v", status.Conditions)
	}

	// 64 cpus: infeasible, whatever else runs.
	huge := resized.DeepCopy()
	huge.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("64")
	huge.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("64")
	res = &syncResult{}
	k.admitResize(huge, st, res)
	if d := res.resizePending; d.Reason != corev1.PodReasonInfeasible || d.Message != "Node didn't have enough capacity: cpu, requested: 64050, capacity: 2000" {
		t.Fatalf("64-cpu resize: %+v", d)
	}
	if e := <-recorder.Events; !strings.HasPrefix(e, "Warning ResizeInfeasible Pod resize Infeasible: ") {
		t.Errorf("event %q", e)
	}
}
