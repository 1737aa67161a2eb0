package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFilters(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	tests := []struct {
		name     string
		node     *v1.Node
		existing []*v1.Pod
		pod      *v1.Pod
		code     Code
		reasons  []string
	}{
		{name: "fits", node: mkNode("n", "2", "4Gi"), pod: mkPod("p", "1", "1Gi")},
		// NodeName
		{name: "nodename mismatch", node: mkNode("n", "2", "4Gi"), pod: mkPod("p", "1", "1Gi", func(p *v1.Pod) { p.Spec.NodeName = "other" }),
			code: UnschedulableAndUnresolvable, reasons: []string{ReasonNodeName}},
		// NodeUnschedulable
		{name: "unschedulable node", node: mkNode("n", "2", "4Gi", unschedulableNode), pod: mkPod("p", "1", "1Gi"),
			code: UnschedulableAndUnresolvable, reasons: []string{ReasonNodeUnschedulable}},
		{name: "unschedulable node tolerated", node: mkNode("n", "2", "4Gi", unschedulableNode),
			pod: mkPod("p", "1", "1Gi", tolerate(v1.Toleration{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}))},
		// NodeResourcesFit
		{name: "insufficient cpu", node: mkNode("n", "2", "4Gi"), existing: []*v1.Pod{mkPod("e", "1500m", "1Gi", onNode("n"))},
			pod: mkPod("p", "1", "1Gi"), code: Unschedulable, reasons: []string{"Insufficient cpu"}},
		{name: "insufficient cpu and memory", node: mkNode("n", "2", "4Gi"), existing: []*v1.Pod{mkPod("e", "1500m", "3Gi", onNode("n"))},
			pod: mkPod("p", "1", "2Gi"), code: Unschedulable, reasons: []string{"Insufficient cpu", "Insufficient memory"}},
		{name: "request larger than node is unresolvable", node: mkNode("n", "2", "4Gi"),
			pod: mkPod("p", "3", "1Gi"), code: UnschedulableAndUnresolvable, reasons: []string{"Insufficient cpu"}},
		{name: "ephemeral storage", node: mkNode("n", "2", "4Gi", withAlloc("ephemeral-storage", "1Gi")),
			pod: mkPod("p", "1", "1Gi", func(p *v1.Pod) {
				p.Spec.Containers[0].Resources.Requests["ephemeral-storage"] = resource.MustParse("2Gi")
			}),
			code: UnschedulableAndUnresolvable, reasons: []string{"Insufficient ephemeral-storage"}},
		{name: "extended resource missing", node: mkNode("n", "2", "4Gi"),
			pod:  mkPod("p", "1", "1Gi", func(p *v1.Pod) { p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1") }),
			code: UnschedulableAndUnresolvable, reasons: []string{"Insufficient example.com/gpu"}},
		{name: "extended resource present", node: mkNode("n", "2", "4Gi", withAlloc("example.com/gpu", "2")),
			pod: mkPod("p", "1", "1Gi", func(p *v1.Pod) { p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("2") })},
		{name: "too many pods", node: mkNode("n", "2", "4Gi", withAlloc("pods", "1")), existing: []*v1.Pod{mkPod("e", "", "", onNode("n"))},
			pod: mkPod("p", "", ""), code: Unschedulable, reasons: []string{ReasonTooManyPods}},
		{name: "init container max", node: mkNode("n", "2", "4Gi"),
			pod: mkPod("p", "500m", "1Gi", func(p *v1.Pod) {
				p.Spec.InitContainers = []v1.Container{{Name: "i", Resources: v1.ResourceRequirements{Requests: rl("cpu", "2500m")}}}
			}), code: UnschedulableAndUnresolvable, reasons: []string{"Insufficient cpu"}},
		{name: "sidecar adds to containers", node: mkNode("n", "2", "4Gi"),
			pod: mkPod("p", "1500m", "1Gi", func(p *v1.Pod) {
				p.Spec.InitContainers = []v1.Container{{Name: "s", RestartPolicy: &always, Resources: v1.ResourceRequirements{Requests: rl("cpu", "600m")}}}
			}), code: UnschedulableAndUnresolvable, reasons: []string{"Insufficient cpu"}},
		{name: "overhead counts", node: mkNode("n", "2", "4Gi"), existing: []*v1.Pod{mkPod("e", "1", "1Gi", onNode("n"))},
			pod:  mkPod("p", "900m", "1Gi", func(p *v1.Pod) { p.Spec.Overhead = rl("cpu", "200m") }),
			code: Unschedulable, reasons: []string{"Insufficient cpu"}},
		// NodeAffinity
		{name: "node selector mismatch", node: mkNode("n", "2", "4Gi", withLabels("disk", "hdd")), pod: mkPod("p", "1", "1Gi", nodeSelector("disk", "ssd")),
			code: UnschedulableAndUnresolvable, reasons: []string{ReasonNodeAffinity}},
		{name: "node selector match", node: mkNode("n", "2", "4Gi", withLabels("disk", "ssd")), pod: mkPod("p", "1", "1Gi", nodeSelector("disk", "ssd"))},
		{name: "required node affinity NotIn", node: mkNode("n", "2", "4Gi", withLabels("zone", "a")),
			pod:  mkPod("p", "1", "1Gi", requiredNodeAffinityOpt(v1.NodeSelectorRequirement{Key: "zone", Operator: v1.NodeSelectorOpNotIn, Values: []string{"a"}})),
			code: UnschedulableAndUnresolvable, reasons: []string{ReasonNodeAffinity}},
		{name: "required node affinity Gt", node: mkNode("n", "2", "4Gi", withLabels("gen", "5")),
			pod: mkPod("p", "1", "1Gi", requiredNodeAffinityOpt(v1.NodeSelectorRequirement{Key: "gen", Operator: v1.NodeSelectorOpGt, Values: []string{"4"}}))},
		// TaintToleration
		{name: "untolerated NoSchedule", node: mkNode("n", "2", "4Gi", withTaint("node-role.kubernetes.io/control-plane", "", v1.TaintEffectNoSchedule)),
			pod: mkPod("p", "1", "1Gi"), code: UnschedulableAndUnresolvable, reasons: []string{ReasonUntoleratedTaint}},
		{name: "untolerated NoExecute", node: mkNode("n", "2", "4Gi", withTaint("k", "v", v1.TaintEffectNoExecute)),
			pod: mkPod("p", "1", "1Gi"), code: UnschedulableAndUnresolvable, reasons: []string{ReasonUntoleratedTaint}},
		{name: "PreferNoSchedule does not filter", node: mkNode("n", "2", "4Gi", withTaint("k", "v", v1.TaintEffectPreferNoSchedule)), pod: mkPod("p", "1", "1Gi")},
		{name: "tolerated taint", node: mkNode("n", "2", "4Gi", withTaint("k", "v", v1.TaintEffectNoSchedule)),
			pod: mkPod("p", "1", "1Gi", tolerate(v1.Toleration{Key: "k", Value: "v", Effect: v1.TaintEffectNoSchedule}))},
		{name: "toleration value mismatch", node: mkNode("n", "2", "4Gi", withTaint("k", "v", v1.TaintEffectNoSchedule)),
			pod: mkPod("p", "1", "1Gi", tolerate(v1.Toleration{Key: "k", Value: "x"})), code: UnschedulableAndUnresolvable, reasons: []string{ReasonUntoleratedTaint}},
		{name: "NotReady is not filtered", node: mkNode("n", "2", "4Gi", func(n *v1.Node) { n.Status.Conditions[0].Status = v1.ConditionFalse }), pod: mkPod("p", "1", "1Gi")},
		// NodePorts
		{name: "host port conflict", node: mkNode("n", "2", "4Gi"), existing: []*v1.Pod{mkPod("e", "", "", onNode("n"), hostPortOpt(8080, ""))},
			pod: mkPod("p", "", "", hostPortOpt(8080, "127.0.0.1")), code: Unschedulable, reasons: []string{ReasonNodePorts}},
		{name: "host port different ips", node: mkNode("n", "2", "4Gi"), existing: []*v1.Pod{mkPod("e", "", "", onNode("n"), hostPortOpt(8080, "10.0.0.1"))},
			pod: mkPod("p", "", "", hostPortOpt(8080, "10.0.0.2"))},
		{name: "host port other port", node: mkNode("n", "2", "4Gi"), existing: []*v1.Pod{mkPod("e", "", "", onNode("n"), hostPortOpt(8080, ""))},
			pod: mkPod("p", "", "", hostPortOpt(8081, ""))},
		// InterPodAffinity
		{name: "anti-affinity to existing", node: mkNode("n", "2", "4Gi"), existing: []*v1.Pod{mkPod("e", "", "", onNode("n"), podLabels("app", "web"))},
			pod:  mkPod("p", "", "", podLabels("app", "web"), requiredAntiAffinity(v1.LabelHostname, sel("app", "web"))),
			code: Unschedulable, reasons: []string{ReasonAntiAffinityRulesNotMatch}},
		{name: "existing pod anti-affinity", node: mkNode("n", "2", "4Gi"),
			existing: []*v1.Pod{mkPod("e", "", "", onNode("n"), requiredAntiAffinity(v1.LabelHostname, sel("app", "web")))},
			pod:      mkPod("p", "", "", podLabels("app", "web")), code: Unschedulable, reasons: []string{ReasonExistingAntiAffinityRules}},
		{name: "affinity unmet", node: mkNode("n", "2", "4Gi"), existing: []*v1.Pod{mkPod("e", "", "", onNode("elsewhere"), podLabels("app", "db"))},
			pod:  mkPod("p", "", "", requiredAffinity(v1.LabelHostname, sel("app", "db"))),
			code: UnschedulableAndUnresolvable, reasons: []string{ReasonAffinityRulesNotMatch}},
		{name: "affinity met", node: mkNode("n", "2", "4Gi"), existing: []*v1.Pod{mkPod("e", "", "", onNode("n"), podLabels("app", "db"))},
			pod: mkPod("p", "", "", requiredAffinity(v1.LabelHostname, sel("app", "db")))},
		{name: "self affinity first pod", node: mkNode("n", "2", "4Gi"),
			pod: mkPod("p", "", "", podLabels("app", "db"), requiredAffinity(v1.LabelHostname, sel("app", "db")))},
		{name: "affinity missing topology key", node: mkNode("n", "2", "4Gi"),
			pod:  mkPod("p", "", "", podLabels("app", "db"), requiredAffinity(zoneKey, sel("app", "db"))),
			code: UnschedulableAndUnresolvable, reasons: []string{ReasonAffinityRulesNotMatch}},
		// PodTopologySpread
		{name: "spread missing label", node: mkNode("n", "2", "4Gi"),
			pod:  mkPod("p", "", "", podLabels("app", "web"), spread(1, zoneKey, v1.DoNotSchedule, sel("app", "web"))),
			code: UnschedulableAndUnresolvable, reasons: []string{ReasonSpreadMissingLabel}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := snapshotWith([]*v1.Node{tc.node}, tc.existing...)
			st := s.Filter(tc.pod, tc.node.Name)
			if st.IsSuccess() != (tc.code == Success) {
				t.Fatalf("status = %+v, want code %v", st, tc.code)
			}
			if st.IsSuccess() {
				return
			}
			if st.Code != tc.code || st.Message() != joinReasons(tc.reasons) {
				t.Fatalf("status = %+v, want code %v reasons %q", st, tc.code, tc.reasons)
			}
		})
	}
}

func joinReasons(r []string) string {
	out := ""
	for i, x := range r {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

func TestSpreadFilterSkew(t *testing.T) {
	nodes := []*v1.Node{
		mkNode("a1", "4", "8Gi", withLabels(zoneKey, "a")),
		mkNode("b1", "4", "8Gi", withLabels(zoneKey, "b")),
		mkNode("c1", "4", "8Gi", withLabels(zoneKey, "c"), withTaint("k", "v", v1.TaintEffectNoSchedule)),
	}
	existing := []*v1.Pod{
		mkPod("e1", "", "", onNode("a1"), podLabels("app", "web")),
		mkPod("e2", "", "", onNode("a1"), podLabels("app", "web")),
		mkPod("e3", "", "", onNode("b1"), podLabels("app", "web")),
		mkPod("other-ns", "", "", onNode("b1"), podLabels("app", "web"), func(p *v1.Pod) { p.Namespace = "x" }),
	}
	s := snapshotWith(nodes, existing...)
	pod := mkPod("p", "", "", podLabels("app", "web"), spread(1, zoneKey, v1.DoNotSchedule, sel("app", "web")))
	// zone c is counted (taints policy Ignore by default) with 0 pods, so min = 0:
	// a: 2+1-0 = 3 > 1, b: 1+1-0 = 2 > 1.
	if st := s.Filter(pod, "a1"); st.IsSuccess() || st.Reasons[0] != ReasonSpreadConstraints || st.Code != Unschedulable {
		t.Fatalf("a1: %+v", st)
	}
	if st := s.Filter(pod, "b1"); st.IsSuccess() {
		t.Fatalf("b1 should fail: %+v", st)
	}
	// With nodeTaintsPolicy Honor zone c drops out: min = 1, b: 1+1-1 = 1 ok.
	honor := v1.NodeInclusionPolicyHonor
	pod.Spec.TopologySpreadConstraints[0].NodeTaintsPolicy = &honor
	if st := s.Filter(pod, "b1"); !st.IsSuccess() {
		t.Fatalf("b1 with taints policy Honor: %+v", st)
	}
	if st := s.Filter(pod, "a1"); st.IsSuccess() {
		t.Fatalf("a1 should still fail")
	}
	// minDomains larger than the number of domains forces min = 0.
	md := int32(5)
	pod.Spec.TopologySpreadConstraints[0].MinDomains = &md
	if st := s.Filter(pod, "b1"); st.IsSuccess() {
		t.Fatalf("b1 with minDomains 5 should fail")
	}
}

func TestAffinityNamespaceSelector(t *testing.T) {
	s := snapshotWith([]*v1.Node{mkNode("n", "2", "4Gi")}, mkPod("e", "", "", onNode("n"), podLabels("app", "db"), func(p *v1.Pod) { p.Namespace = "prod" }))
	s.SetNamespace(&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"env": "prod"}}})
	pod := mkPod("p", "", "", requiredAntiAffinity(v1.LabelHostname, sel("app", "db")))
	if st := s.Filter(pod, "n"); !st.IsSuccess() {
		t.Fatalf("pod's own namespace only: %+v", st)
	}
	pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].NamespaceSelector = sel("env", "prod")
	if st := s.Filter(pod, "n"); st.IsSuccess() {
		t.Fatalf("namespaceSelector should match prod")
	}
}

func TestPodRequests(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	p := mkPod("p", "1", "1Gi", func(p *v1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "c2", Resources: v1.ResourceRequirements{Requests: rl("cpu", "500m")}})
		p.Spec.InitContainers = []v1.Container{
			{Name: "side", RestartPolicy: &always, Resources: v1.ResourceRequirements{Requests: rl("cpu", "200m", "memory", "100Mi")}},
			{Name: "init", Resources: v1.ResourceRequirements{Requests: rl("cpu", "3", "memory", "100Mi")}},
		}
		p.Spec.Overhead = rl("cpu", "100m", "memory", "10Mi")
	})
	r := PodRequests(p)
	// containers 1.5 + sidecar 0.2 = 1.7 vs init 3 + sidecar 0.2 = 3.2 -> 3.2 + overhead 0.1
	if r.MilliCPU != 3300 {
		t.Errorf("cpu = %d, want 3300", r.MilliCPU)
	}
	if want := int64(1024+100+10) * 1024 * 1024; r.Memory != want {
		t.Errorf("memory = %d, want %d", r.Memory, want)
	}
	cpu, mem := podNonZeroRequests(mkPod("be", "", ""))
	if cpu != defaultMilliCPURequest || mem != defaultMemoryRequest {
		t.Errorf("non-zero defaults = %d, %d", cpu, mem)
	}
}
