package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

// Pods mid-resize count as upstream's PodRequests with UseStatusResources: the largest of
// spec, allocated and actuated requests, without the spec once the resize is Infeasible.

// statusRes gives container name its status allocatedResources and resources.requests
// ("" leaves either unset).
func statusRes(name string, allocated, actuated v1.ResourceList) podOpt {
	return func(p *v1.Pod) {
		cs := v1.ContainerStatus{Name: name, AllocatedResources: allocated}
		if actuated != nil {
			cs.Resources = &v1.ResourceRequirements{Requests: actuated}
		}
		for _, c := range p.Spec.InitContainers {
			if c.Name == name {
				p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, cs)
				return
			}
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs)
	}
}

func resizeCondition(t v1.PodConditionType, reason string) podOpt {
	return func(p *v1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, v1.PodCondition{Type: t, Status: v1.ConditionTrue, Reason: reason})
	}
}

func sidecar(name string, req v1.ResourceList) podOpt {
	always := v1.ContainerRestartPolicyAlways
	return func(p *v1.Pod) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: name, RestartPolicy: &always,
			Resources: v1.ResourceRequirements{Requests: req}})
	}
}

func TestPodRequestsDuringResize(t *testing.T) {
	for _, tc := range []struct {
		name          string
		pod           *v1.Pod
		cpu, mem      int64 // milli-CPU, MiB
		nzCPU, nzMemM int64 // with scoring defaults
	}{
		{name: "no status: the spec", pod: mkPod("p", "2", "2Gi"), cpu: 2000, mem: 2048, nzCPU: 2000, nzMemM: 2048},
		{name: "resized and applied", pod: mkPod("p", "2", "2Gi", statusRes("c", rl("cpu", "2", "memory", "2Gi"), rl("cpu", "2", "memory", "2Gi"))),
			cpu: 2000, mem: 2048, nzCPU: 2000, nzMemM: 2048},
		{name: "increase not yet allocated: the spec", pod: mkPod("p", "2", "2Gi", statusRes("c", rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))),
			cpu: 2000, mem: 2048, nzCPU: 2000, nzMemM: 2048},
		{name: "decrease not yet applied: the status", pod: mkPod("p", "1", "1Gi", statusRes("c", rl("cpu", "1", "memory", "1Gi"), rl("cpu", "2", "memory", "2Gi"))),
			cpu: 2000, mem: 2048, nzCPU: 2000, nzMemM: 2048},
		{name: "allocated, not yet actuated: the allocation", pod: mkPod("p", "1", "1Gi", statusRes("c", rl("cpu", "3", "memory", "1Gi"), rl("cpu", "2", "memory", "1Gi"))),
			cpu: 3000, mem: 1024, nzCPU: 3000, nzMemM: 1024},
		{name: "per resource: cpu from the spec, memory from the status", pod: mkPod("p", "2", "1Gi", statusRes("c", rl("cpu", "1", "memory", "2Gi"), rl("cpu", "1", "memory", "2Gi"))),
			cpu: 2000, mem: 2048, nzCPU: 2000, nzMemM: 2048},
		{name: "infeasible: what is allocated, not the spec",
			pod: mkPod("p", "64", "1Gi", resizeCondition(v1.PodResizePending, v1.PodReasonInfeasible),
				statusRes("c", rl("cpu", "100m", "memory", "1Gi"), rl("cpu", "100m", "memory", "1Gi"))),
			cpu: 100, mem: 1024, nzCPU: 100, nzMemM: 1024},
		{name: "infeasible, only allocatedResources reported",
			pod: mkPod("p", "64", "1Gi", resizeCondition(v1.PodResizePending, v1.PodReasonInfeasible), statusRes("c", rl("cpu", "100m", "memory", "1Gi"), nil)),
			cpu: 100, mem: 1024, nzCPU: 100, nzMemM: 1024},
		{name: "infeasible without any status: nothing is known to be given",
			pod: mkPod("p", "64", "1Gi", resizeCondition(v1.PodResizePending, v1.PodReasonInfeasible)), cpu: 0, mem: 0, nzCPU: defaultMilliCPURequest, nzMemM: defaultMemoryRequest >> 20},
		{name: "deferred: the new size still counts",
			pod: mkPod("p", "3", "1Gi", resizeCondition(v1.PodResizePending, v1.PodReasonDeferred),
				statusRes("c", rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))),
			cpu: 3000, mem: 1024, nzCPU: 3000, nzMemM: 1024},
		{name: "in progress: the larger of old and new",
			pod: mkPod("p", "500m", "1Gi", resizeCondition(v1.PodResizeInProgress, ""),
				statusRes("c", rl("cpu", "500m", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))),
			cpu: 1000, mem: 1024, nzCPU: 1000, nzMemM: 1024},
		{name: "sidecar resized: counted with the app containers",
			pod: mkPod("p", "1", "1Gi", sidecar("side", rl("cpu", "200m")), resizeCondition(v1.PodResizePending, v1.PodReasonInfeasible),
				statusRes("c", rl("cpu", "1", "memory", "1Gi"), nil), statusRes("side", rl("cpu", "500m"), rl("cpu", "500m"))),
			cpu: 1500, mem: 1024, nzCPU: 1500, nzMemM: 1024 + defaultMemoryRequest>>20},
		{name: "pod-level requests with pod-level status",
			pod: mkPod("p", "1", "1Gi", func(p *v1.Pod) {
				p.Spec.Resources = &v1.ResourceRequirements{Requests: rl("cpu", "4", "memory", "4Gi")}
				p.Status.Resources = &v1.ResourceRequirements{Requests: rl("cpu", "2", "memory", "8Gi")}
				p.Status.AllocatedResources = rl("cpu", "2", "memory", "8Gi")
			}),
			cpu: 4000, mem: 8192, nzCPU: 4000, nzMemM: 8192},
		{name: "pod-level requests, infeasible: the pod-level status",
			pod: mkPod("p", "1", "1Gi", resizeCondition(v1.PodResizePending, v1.PodReasonInfeasible), func(p *v1.Pod) {
				p.Spec.Resources = &v1.ResourceRequirements{Requests: rl("cpu", "64", "memory", "4Gi")}
				p.Status.Resources = &v1.ResourceRequirements{Requests: rl("cpu", "2", "memory", "2Gi")}
				p.Status.AllocatedResources = rl("cpu", "2", "memory", "2Gi")
			}),
			cpu: 2000, mem: 2048, nzCPU: 2000, nzMemM: 2048},
		{name: "overhead on top of the status",
			pod: mkPod("p", "64", "1Gi", resizeCondition(v1.PodResizePending, v1.PodReasonInfeasible),
				statusRes("c", rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")),
				func(p *v1.Pod) { p.Spec.Overhead = rl("cpu", "100m", "memory", "10Mi") }),
			cpu: 1100, mem: 1034, nzCPU: 1100, nzMemM: 1034},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := PodRequests(tc.pod)
			if r.MilliCPU != tc.cpu || r.Memory != tc.mem<<20 {
				t.Errorf("PodRequests = %dm cpu, %dMi memory; want %dm, %dMi", r.MilliCPU, r.Memory>>20, tc.cpu, tc.mem)
			}
			cpu, mem := podNonZeroRequests(tc.pod)
			if cpu != tc.nzCPU || mem != tc.nzMemM<<20 {
				t.Errorf("non-zero requests = %dm cpu, %dMi memory; want %dm, %dMi", cpu, mem>>20, tc.nzCPU, tc.nzMemM)
			}
		})
	}
}

// The bug this accounting fixes: a pod whose 64-cpu resize is Infeasible kept later
// pods off its node.
func TestInfeasibleResizeLeavesRoom(t *testing.T) {
	resized := mkPod("resized", "64", "64Mi", onNode("n"), resizeCondition(v1.PodResizePending, v1.PodReasonInfeasible),
		statusRes("c", rl("cpu", "300m", "memory", "64Mi"), rl("cpu", "300m", "memory", "64Mi")))
	s := snapshotWith([]*v1.Node{mkNode("n", "2", "4Gi")}, resized)
	if got := s.NodeInfo("n").Requested.MilliCPU; got != 300 {
		t.Fatalf("node requested %dm cpu, want 300m", got)
	}
	if st := s.Filter(mkPod("next", "1", "64Mi"), "n"); !st.IsSuccess() {
		t.Fatalf("a 1-cpu pod does not fit next to an infeasible resize: %+v", st)
	}
	// A deferred resize keeps its room: the new size counts.
	deferred := resized.DeepCopy()
	deferred.Spec.Containers[0].Resources.Requests = rl("cpu", "1800m", "memory", "64Mi")
	deferred.Status.Conditions[0].Reason = v1.PodReasonDeferred
	s.AddPod(deferred)
	if got := s.NodeInfo("n").Requested.MilliCPU; got != 1800 {
		t.Fatalf("node requested %dm cpu with the resize deferred, want 1800m", got)
	}
	if st := s.Filter(mkPod("next", "1", "64Mi"), "n"); st.IsSuccess() {
		t.Fatal("a 1-cpu pod fits into the room a deferred resize waits for")
	}
}

func TestScaledDown(t *testing.T) {
	was := Resource{MilliCPU: 1000, Memory: 100, Scalar: map[v1.ResourceName]int64{"example.com/gpu": 1}}
	for _, tc := range []struct {
		name string
		now  Resource
		want bool
	}{
		{"same", was, false},
		{"cpu up", Resource{MilliCPU: 2000, Memory: 100, Scalar: map[v1.ResourceName]int64{"example.com/gpu": 1}}, false},
		{"cpu down", Resource{MilliCPU: 500, Memory: 100, Scalar: map[v1.ResourceName]int64{"example.com/gpu": 1}}, true},
		{"memory down, cpu up", Resource{MilliCPU: 2000, Memory: 50, Scalar: map[v1.ResourceName]int64{"example.com/gpu": 1}}, true},
		{"scalar gone", Resource{MilliCPU: 1000, Memory: 100}, true},
	} {
		if got := scaledDown(was, tc.now); got != tc.want {
			t.Errorf("%s: scaledDown = %v, want %v", tc.name, got, tc.want)
		}
	}
}
