package replicaset

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func newFakeClock() *clocktesting.FakeClock { return clocktesting.NewFakeClock(t0) }

type fixture struct {
	t      *testing.T
	client *fake.Clientset
	c      *Controller
	clock  *clocktesting.FakeClock
}

// newFixture builds a controller on a fake clientset holding objs, with its informer
// indexers pre-filled with the same objects.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	pods, rss := factory.Core().V1().Pods(), factory.Apps().V1().ReplicaSets()
	clk := newFakeClock()
	c := New(client, pods, rss, WithClock(clk), WithEventRecorder(record.NewFakeRecorder(100)))
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Pod:
			_ = pods.Informer().GetIndexer().Add(o)
		case *appsv1.ReplicaSet:
			_ = rss.Informer().GetIndexer().Add(o)
		}
	}
	// The fake clientset does not implement generateName.
	n := 0
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" && p.GenerateName != "" {
			n++
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, n)
		}
		return false, nil, nil
	})
	client.ClearActions()
	return &fixture{t: t, client: client, c: c, clock: clk}
}

func newRS(name string, n int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "rs-uid", Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(n),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}, Annotations: map[string]string{"note": "x"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
}

func owned(rs *appsv1.ReplicaSet) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)}
	}
}

func (f *fixture) actions(verb, resource string) []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			out = append(out, a)
		}
	}
	return out
}

func TestSyncCreatesPodsAndRespectsExpectations(t *testing.T) {
	rs := newRS("web", 3)
	f := newFixture(t, rs)
	ctx := context.Background()
	if err := f.c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	creates := f.actions("create", "pods")
	if len(creates) != 3 {
		t.Fatalf("created %d pods, want 3", len(creates))
	}
	pod := creates[0].(k8stesting.CreateAction).GetObject().(*corev1.Pod)
	ref := metav1.GetControllerOf(pod)
	if pod.GenerateName != "web-" || pod.Labels["app"] != "a" || pod.Annotations["note"] != "x" ||
		ref == nil || ref.UID != rs.UID || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("pod = %+v", pod.ObjectMeta)
	}
	// The informer has not seen the pods: a second sync must not create more.
	f.client.ClearActions()
	if err := f.c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 0 {
		t.Fatalf("created %d more pods while expectations were pending", n)
	}
	for range 3 {
		f.c.expectations.CreationObserved("ns/web")
	}
	if !f.c.expectations.Satisfied("ns/web") {
		t.Error("expectations not satisfied after observing the creations")
	}
}

func TestSyncDeletesPreferredPods(t *testing.T) {
	rs := newRS("web", 1)
	ready := mkPod("ready", owned(rs), onNode("n"), readySince(t0))
	pending := mkPod("pending", owned(rs), onNode("n"), phase(corev1.PodPending))
	unscheduled := mkPod("unscheduled", owned(rs))
	f := newFixture(t, rs, ready, pending, unscheduled)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	for _, a := range f.actions("delete", "pods") {
		deleted[a.(k8stesting.DeleteAction).GetName()] = true
	}
	if len(deleted) != 2 || !deleted["pending"] || !deleted["unscheduled"] {
		t.Errorf("deleted %v, want pending and unscheduled", deleted)
	}
	// The status no longer counts the deleted pods.
	updates := f.actions("update", "replicasets")
	if len(updates) != 1 || updates[0].GetSubresource() != "status" {
		t.Fatalf("status updates: %v", updates)
	}
	st := updates[0].(k8stesting.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status
	if st.Replicas != 1 || st.ReadyReplicas != 1 || st.AvailableReplicas != 1 || st.ObservedGeneration != 1 {
		t.Errorf("status = %+v", st)
	}
}

func TestSyncAdoptsAndReleases(t *testing.T) {
	rs := newRS("web", 2)
	orphan := mkPod("orphan")
	stray := mkPod("stray", owned(rs))
	stray.Labels = map[string]string{"app": "other"}
	foreign := mkPod("foreign")
	foreign.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: "other", Controller: ptr.To(true)}}
	f := newFixture(t, rs, orphan, stray, foreign)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	patched := map[string]string{}
	for _, a := range f.actions("patch", "pods") {
		p := a.(k8stesting.PatchAction)
		patched[p.GetName()] = string(p.GetPatch())
	}
	if len(patched) != 2 || patched["orphan"] == "" || patched["stray"] == "" {
		t.Fatalf("patched %v", patched)
	}
	if want := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":"stray"}}`, rs.UID); patched["stray"] != want {
		t.Errorf("release patch = %s", patched["stray"])
	}
	// One adopted pod, so one more is created.
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("created %d pods, want 1", n)
	}
}

func TestSyncReportsCreateFailure(t *testing.T) {
	rs := newRS("web", 4)
	f := newFixture(t, rs)
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", fmt.Errorf("exceeded quota"))
	})
	err := f.c.sync(context.Background(), "ns/web")
	if err == nil {
		t.Fatal("want an error for retry")
	}
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("attempted %d creations, want 1 (slow start)", n)
	}
	if !f.c.expectations.Satisfied("ns/web") {
		t.Error("failed creations left expectations pending")
	}
	updates := f.actions("update", "replicasets")
	if len(updates) != 1 {
		t.Fatalf("status updates: %d", len(updates))
	}
	st := updates[0].(k8stesting.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status
	if c := findCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure); c == nil || c.Reason != "FailedCreate" {
		t.Errorf("conditions = %+v", st.Conditions)
	}
}

func TestSyncMissingAndUnchanged(t *testing.T) {
	rs := newRS("web", 1)
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, ObservedGeneration: 1}
	f := newFixture(t, rs, mkPod("p", owned(rs), readySince(t0)))
	ctx := context.Background()
	if err := f.c.sync(ctx, "ns/gone"); err != nil {
		t.Fatalf("missing ReplicaSet: %v", err)
	}
	if err := f.c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if a := f.client.Actions(); len(a) != 0 {
		t.Errorf("steady state made requests: %v", a)
	}
}
