package daemonset

import (
	"slices"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newDS() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{
					MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0)),
				},
			},
		},
	}
}

func newNode(name string, opts ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func taint(key string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect}) }
}

func label(k, v string) func(*corev1.Node) { return func(n *corev1.Node) { n.Labels[k] = v } }

type podOpt func(*corev1.Pod)

// dsPod is a daemon pod of ds on node at hash, created at t0+age seconds.
func dsPod(name, node, hash string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
			Labels: map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: hash}, CreationTimestamp: metav1.NewTime(t0)},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(p *corev1.Pod) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func createdAt(sec int) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(sec) * time.Second)) }
}

func TestNodeShouldRunDaemonPod(t *testing.T) {
	cases := []struct {
		name             string
		node             *corev1.Node
		ds               func(*appsv1.DaemonSet)
		run, continueRun bool
	}{
		{name: "plain node", node: newNode("a"), run: true, continueRun: true},
		{name: "nodeSelector matches", node: newNode("a", label("role", "infra")),
			ds: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "infra"} }, run: true, continueRun: true},
		{name: "nodeSelector does not match", node: newNode("a"),
			ds: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "infra"} }},
		{name: "required affinity does not match", node: newNode("a"), ds: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}}},
			}}}
		}},
		{name: "template nodeName elsewhere", node: newNode("a"), ds: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeName = "b" }},
		{name: "untolerated NoSchedule: keep running pods", node: newNode("a", taint("dedicated", corev1.TaintEffectNoSchedule)), continueRun: true},
		{name: "untolerated NoExecute: evict", node: newNode("a", taint("dedicated", corev1.TaintEffectNoExecute))},
		{name: "PreferNoSchedule is ignored", node: newNode("a", taint("dedicated", corev1.TaintEffectPreferNoSchedule)), run: true, continueRun: true},
		{name: "tolerated taint", node: newNode("a", taint("dedicated", corev1.TaintEffectNoSchedule)), ds: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
		}, run: true, continueRun: true},
		{name: "cordoned node", node: newNode("a", taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)), run: true, continueRun: true},
		{name: "not-ready node", node: newNode("a", taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)), run: true, continueRun: true},
		{name: "unreachable node", node: newNode("a", taint(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)), run: true, continueRun: true},
		{name: "memory pressure", node: newNode("a", taint(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)), run: true, continueRun: true},
		{name: "network unavailable", node: newNode("a", taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), continueRun: true},
		{name: "network unavailable, hostNetwork", node: newNode("a", taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)),
			ds: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true }, run: true, continueRun: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDS()
			if tc.ds != nil {
				tc.ds(ds)
			}
			run, cont := nodeShouldRunDaemonPod(tc.node, ds)
			if run != tc.run || cont != tc.continueRun {
				t.Errorf("got (%v, %v), want (%v, %v)", run, cont, tc.run, tc.continueRun)
			}
		})
	}
}

func TestNewPod(t *testing.T) {
	ds := newDS()
	ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "x", Operator: corev1.NodeSelectorOpExists}}}},
	}}}
	ds.Annotations = map[string]string{TemplateGenerationAnnotation: "3"}
	p := newPod(ds, "node-a", "h1")
	if p.GenerateName != "agent-" || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != "h1" || p.Labels[PodTemplateGenerationLabel] != "3" || p.Labels["app"] != "agent" {
		t.Errorf("meta %+v", p.ObjectMeta)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != ds.UID || ref.Kind != "DaemonSet" {
		t.Errorf("owner %+v", p.OwnerReferences)
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 0 || terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != "node-a" {
		t.Errorf("affinity %+v", terms)
	}
	if n, ok := targetNodeName(p); !ok || n != "node-a" {
		t.Errorf("targetNodeName = %q, %v", n, ok)
	}
	if len(p.Spec.Tolerations) != 6 {
		t.Errorf("tolerations %+v", p.Spec.Tolerations)
	}
	if ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions == nil {
		t.Error("template was modified")
	}
}

func podNames(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func TestPlanManage(t *testing.T) {
	ds := newDS()
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"daemon": "yes"}
	on := label("daemon", "yes")
	nodes := []*corev1.Node{
		newNode("has-pod", on), newNode("needs-pod", on), newNode("ineligible"),
		newNode("noschedule", on, taint("x", corev1.TaintEffectNoSchedule)),
		newNode("noexecute", on, taint("x", corev1.TaintEffectNoExecute)),
		newNode("two-pods", on), newNode("failed", on), newNode("succeeded", on), newNode("terminating", on),
		newNode("noschedule-empty", on, taint("x", corev1.TaintEffectNoSchedule)),
	}
	gone := dsPod("p-gone", "gone", "h")
	terminating := dsPod("p-term", "terminating", "h")
	terminating.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	pods := []*corev1.Pod{
		dsPod("p-has", "has-pod", "h"), dsPod("p-inel", "ineligible", "h"), dsPod("p-nosched", "noschedule", "h"),
		dsPod("p-noexec", "noexecute", "h"), dsPod("p-old", "two-pods", "h"), dsPod("p-new", "two-pods", "h", createdAt(10)),
		dsPod("p-failed", "failed", "h", phase(corev1.PodFailed)), dsPod("p-succ", "succeeded", "h", phase(corev1.PodSucceeded)),
		gone, terminating,
	}
	p := planManage(ds, "h", nodes, nodesToPods(pods), t0, func(string) bool { return true })
	if want := []string{"needs-pod"}; !slices.Equal(p.createOn, want) {
		t.Errorf("createOn %v, want %v", p.createOn, want)
	}
	if got, want := podNames(p.delete), []string{"p-failed", "p-gone", "p-inel", "p-new", "p-noexec", "p-succ"}; !slices.Equal(got, want) {
		t.Errorf("delete %v, want %v", got, want)
	}

	// A failed pod in backoff stays.
	p = planManage(ds, "h", nodes, nodesToPods(pods), t0, func(string) bool { return false })
	if slices.Contains(podNames(p.delete), "p-failed") {
		t.Error("deleted a failed pod in backoff")
	}

	// An unscheduled pod counts for the node its affinity names.
	pending := newPod(ds, "needs-pod", "h")
	pending.Name = "p-pending"
	p = planManage(ds, "h", nodes, nodesToPods([]*corev1.Pod{pending}), t0, nil)
	if slices.Contains(p.createOn, "needs-pod") {
		t.Error("created a second pod for a node with an unscheduled pod")
	}
}

func TestPlanManageSurgeKeepsOldAndNew(t *testing.T) {
	ds := newDS()
	ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}
	nodes := []*corev1.Node{newNode("a")}
	old, cur := dsPod("old", "a", "h1", ready), dsPod("new", "a", "h2", createdAt(5))
	if p := planManage(ds, "h2", nodes, nodesToPods([]*corev1.Pod{old, cur}), t0.Add(time.Minute), nil); len(p.delete) != 0 {
		t.Errorf("deleted %v while the new pod is not available", podNames(p.delete))
	}
	ready(cur)
	if p := planManage(ds, "h2", nodes, nodesToPods([]*corev1.Pod{old, cur}), t0.Add(time.Minute), nil); !slices.Equal(podNames(p.delete), []string{"old"}) {
		t.Errorf("deleted %v, want old", podNames(p.delete))
	}
}

func TestPlanRollingUpdate(t *testing.T) {
	nodes := []*corev1.Node{newNode("a"), newNode("b"), newNode("c")}
	cases := []struct {
		name          string
		surge, unavai intstr.IntOrString
		pods          []*corev1.Pod
		wantDelete    []string
		wantCreate    []string
	}{
		{name: "one at a time", surge: intstr.FromInt32(0), unavai: intstr.FromInt32(1),
			pods:       []*corev1.Pod{dsPod("pa", "a", "old", ready), dsPod("pb", "b", "old", ready), dsPod("pc", "c", "old", ready)},
			wantDelete: []string{"pa"}},
		{name: "percentage rounds up", surge: intstr.FromInt32(0), unavai: intstr.FromString("50%"),
			pods:       []*corev1.Pod{dsPod("pa", "a", "old", ready), dsPod("pb", "b", "old", ready), dsPod("pc", "c", "old", ready)},
			wantDelete: []string{"pa", "pb"}},
		{name: "wait for the new pod", surge: intstr.FromInt32(0), unavai: intstr.FromInt32(1),
			pods: []*corev1.Pod{dsPod("pa", "a", "new"), dsPod("pb", "b", "old", ready), dsPod("pc", "c", "old", ready)}},
		{name: "a node without pods is the manage loop's business", surge: intstr.FromInt32(0), unavai: intstr.FromInt32(1),
			pods:       []*corev1.Pod{dsPod("pb", "b", "old", ready), dsPod("pc", "c", "old", ready)},
			wantDelete: []string{"pb"}},
		{name: "unavailable old pods are always replaced", surge: intstr.FromInt32(0), unavai: intstr.FromInt32(1),
			pods:       []*corev1.Pod{dsPod("pa", "a", "new"), dsPod("pb", "b", "old"), dsPod("pc", "c", "old", ready)},
			wantDelete: []string{"pb"}},
		{name: "next after the new pod is available", surge: intstr.FromInt32(0), unavai: intstr.FromInt32(1),
			pods:       []*corev1.Pod{dsPod("pa", "a", "new", ready), dsPod("pb", "b", "old", ready), dsPod("pc", "c", "old", ready)},
			wantDelete: []string{"pb"}},
		{name: "surge creates next to old pods", surge: intstr.FromInt32(1), unavai: intstr.FromInt32(0),
			pods:       []*corev1.Pod{dsPod("pa", "a", "old", ready), dsPod("pb", "b", "old", ready), dsPod("pc", "c", "old", ready)},
			wantCreate: []string{"a"}},
		{name: "surge: old pod goes once the new one is available", surge: intstr.FromInt32(1), unavai: intstr.FromInt32(0),
			pods: []*corev1.Pod{dsPod("pa", "a", "old", ready), dsPod("pa2", "a", "new", ready), dsPod("pb", "b", "old", ready),
				dsPod("pc", "c", "old", ready)},
			wantDelete: []string{"pa"}, wantCreate: []string{"b"}},
		{name: "surge: waiting new pod uses the budget", surge: intstr.FromInt32(1), unavai: intstr.FromInt32(0),
			pods: []*corev1.Pod{dsPod("pa", "a", "old", ready), dsPod("pa2", "a", "new"), dsPod("pb", "b", "old", ready),
				dsPod("pc", "c", "old")},
			wantCreate: []string{"c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDS()
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: &tc.surge, MaxUnavailable: &tc.unavai}
			p, err := planRollingUpdate(ds, "new", nodes, nodesToPods(tc.pods), t0.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if got := podNames(p.delete); !slices.Equal(got, tc.wantDelete) {
				t.Errorf("delete %v, want %v", got, tc.wantDelete)
			}
			if !slices.Equal(p.createOn, tc.wantCreate) {
				t.Errorf("create on %v, want %v", p.createOn, tc.wantCreate)
			}
		})
	}
}

func TestCalculateStatus(t *testing.T) {
	ds := newDS()
	ds.Generation = 4
	ds.Spec.MinReadySeconds = 30
	nodes := []*corev1.Node{newNode("a"), newNode("b"), newNode("c"), newNode("d"), newNode("x", taint("k", corev1.TaintEffectNoExecute))}
	readySince := func(sec int) podOpt {
		return func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(time.Duration(sec) * time.Second))}}
		}
	}
	pods := []*corev1.Pod{
		dsPod("pa", "a", "new", readySince(0)),  // available
		dsPod("pb", "b", "old", readySince(50)), // ready, not yet available
		dsPod("pc", "c", "new"),                 // not ready
		dsPod("px", "x", "new", readySince(0)),  // misscheduled
	}
	got := calculateStatus(ds, "new", nodes, nodesToPods(pods), t0.Add(time.Minute))
	want := appsv1.DaemonSetStatus{ObservedGeneration: 4, DesiredNumberScheduled: 4, CurrentNumberScheduled: 3, NumberMisscheduled: 1,
		NumberReady: 2, NumberAvailable: 1, UpdatedNumberScheduled: 2, NumberUnavailable: 3}
	if !statusEqual(got, want) {
		t.Errorf("status\n got %+v\nwant %+v", got, want)
	}
}

func TestRevisionsToDelete(t *testing.T) {
	rev := func(name, hash string, n int64) *appsv1.ControllerRevision {
		return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}}, Revision: n}
	}
	old := []*appsv1.ControllerRevision{rev("r3", "h3", 3), rev("r1", "h1", 1), rev("r2", "h2", 2)}
	pods := []*corev1.Pod{dsPod("p", "a", "h1")}
	if got := revisionsToDelete(old, pods, 2); !slices.Equal(got, []string{"r2"}) {
		t.Errorf("got %v, want [r2] (r1 is live)", got)
	}
	if got := revisionsToDelete(old, pods, 0); !slices.Equal(got, []string{"r2", "r3"}) {
		t.Errorf("got %v, want [r2 r3]", got)
	}
	if got := revisionsToDelete(old, pods, 3); got != nil {
		t.Errorf("got %v within the limit", got)
	}
}

func TestComputeHashDependsOnCollisionCount(t *testing.T) {
	ds := newDS()
	a, b := computeHash(&ds.Spec.Template, nil), computeHash(&ds.Spec.Template, ptr.To[int32](1))
	if a == b || a != computeHash(&ds.Spec.Template, nil) {
		t.Errorf("hashes %q %q", a, b)
	}
	ds2 := newDS()
	ds2.Spec.Template.Spec.Containers[0].Image = "img:2"
	if computeHash(&ds2.Spec.Template, nil) == a {
		t.Error("hash ignores the template")
	}
}
