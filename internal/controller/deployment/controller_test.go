package deployment

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type fixture struct {
	client *fake.Clientset
	c      *Controller
}

// newFixture builds a controller on a fake clientset holding objs, with its informer
// indexers pre-filled with the same objects.
func newFixture(objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	ds, rss, pods := factory.Apps().V1().Deployments(), factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods()
	c := New(client, ds, rss, pods, WithClock(clocktesting.NewFakeClock(t0)), WithEventRecorder(record.NewFakeRecorder(100)))
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			_ = ds.Informer().GetIndexer().Add(o)
		case *appsv1.ReplicaSet:
			_ = rss.Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			_ = pods.Informer().GetIndexer().Add(o)
		}
	}
	client.ClearActions()
	return &fixture{client: client, c: c}
}

func (f *fixture) created(resource string) []runtime.Object {
	var out []runtime.Object
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == resource {
			out = append(out, a.(k8stesting.CreateAction).GetObject())
		}
	}
	return out
}

func (f *fixture) lastStatus(t *testing.T) *appsv1.Deployment {
	t.Helper()
	var last *appsv1.Deployment
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "deployments" && a.GetSubresource() == "status" {
			last = a.(k8stesting.UpdateAction).GetObject().(*appsv1.Deployment)
		}
	}
	if last == nil {
		t.Fatal("no status update")
	}
	return last
}

// ownedRS is the ReplicaSet the controller would have created for d's current template.
func ownedRS(d *appsv1.Deployment, revision string, spec, available int32) *appsv1.ReplicaSet {
	r := buildNewRS(d, nil, revision)
	r.UID = types.UID("rs-" + revision)
	r.Spec.Replicas = ptr.To(spec)
	r.Status = appsv1.ReplicaSetStatus{Replicas: spec, ReadyReplicas: available, AvailableReplicas: available}
	setReplicasAnnotations(r, replicas(d.Spec.Replicas), replicas(d.Spec.Replicas)+maxSurge(d))
	return r
}

func TestSyncCreatesFirstReplicaSet(t *testing.T) {
	d := rolling(3, intstr.FromString("25%"), intstr.FromString("25%"))
	f := newFixture(d)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	rss := f.created("replicasets")
	if len(rss) != 1 {
		t.Fatalf("created %d ReplicaSets", len(rss))
	}
	r := rss[0].(*appsv1.ReplicaSet)
	hash := computeHash(&d.Spec.Template, nil)
	if r.Name != "web-"+hash || *r.Spec.Replicas != 3 || r.Annotations[RevisionAnnotation] != "1" || metav1.GetControllerOf(r).UID != d.UID {
		t.Errorf("ReplicaSet = %s replicas %d annotations %v", r.Name, *r.Spec.Replicas, r.Annotations)
	}
	got := f.lastStatus(t)
	if got.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("deployment revision = %q", got.Annotations[RevisionAnnotation])
	}
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != reasonNewRSCreated || c.Message != `Created new replica set "web-`+hash+`"` {
		t.Errorf("Progressing = %+v", c)
	}
}

func TestSyncRollsOutNewTemplate(t *testing.T) {
	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	old := ownedRS(d, "1", 3, 3)
	d.Spec.Template.Spec.Containers[0].Image = "nginx:3"
	f := newFixture(d, old)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	rss := f.created("replicasets")
	if len(rss) != 1 {
		t.Fatalf("created %d ReplicaSets", len(rss))
	}
	r := rss[0].(*appsv1.ReplicaSet)
	if *r.Spec.Replicas != 1 || r.Annotations[RevisionAnnotation] != "2" {
		t.Errorf("new ReplicaSet replicas %d revision %q; want 1 (maxSurge), 2", *r.Spec.Replicas, r.Annotations[RevisionAnnotation])
	}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "replicasets" {
			t.Errorf("old ReplicaSet touched before new pods are available: %v", a)
		}
	}
}

func TestSyncRollbackReusesOldReplicaSet(t *testing.T) {
	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	first := ownedRS(d, "1", 0, 0)
	d2 := d.DeepCopy()
	d2.Spec.Template.Spec.Containers[0].Image = "nginx:3"
	second := ownedRS(d2, "2", 3, 3)
	second.CreationTimestamp = metav1.NewTime(t0.Add(1))
	// `kubectl rollout undo` patched the template back to revision 1's.
	f := newFixture(d, first, second)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.created("replicasets")); n != 0 {
		t.Fatalf("created %d ReplicaSets on rollback", n)
	}
	var updated *appsv1.ReplicaSet
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "replicasets" {
			updated = a.(k8stesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
			break
		}
	}
	if updated == nil || updated.Name != first.Name || updated.Annotations[RevisionAnnotation] != "3" || updated.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Fatalf("rolled-back ReplicaSet = %+v", updated)
	}
}

func TestSyncPaused(t *testing.T) {
	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	old := ownedRS(d, "1", 3, 3)
	d.Spec.Template.Spec.Containers[0].Image = "nginx:3"
	d.Spec.Paused = true
	f := newFixture(d, old)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.created("replicasets")); n != 0 {
		t.Errorf("paused deployment created %d ReplicaSets", n)
	}
	got := f.lastStatus(t)
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != reasonPaused {
		t.Errorf("Progressing = %+v", c)
	}
}

func TestSyncRecreate(t *testing.T) {
	d := rolling(2, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	old := ownedRS(d, "1", 2, 2)
	d.Spec.Template.Spec.Containers[0].Image = "nginx:3"
	f := newFixture(d, old)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.created("replicasets")); n != 0 {
		t.Errorf("created the new ReplicaSet while old pods run")
	}
	var scaled *appsv1.ReplicaSet
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "replicasets" {
			scaled = a.(k8stesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
		}
	}
	if scaled == nil || *scaled.Spec.Replicas != 0 {
		t.Errorf("old ReplicaSet not scaled to 0: %+v", scaled)
	}
}
