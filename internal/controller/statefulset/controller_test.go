package statefulset

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

type fixture struct {
	client  *fake.Clientset
	c       *Controller
	factory informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	sets, pods, pvcs, revs := factory.Apps().V1().StatefulSets(), factory.Core().V1().Pods(), factory.Core().V1().PersistentVolumeClaims(), factory.Apps().V1().ControllerRevisions()
	c := New(client, sets, pods, pvcs, revs, WithClock(clocktesting.NewFakeClock(t0)), WithEventRecorder(record.NewFakeRecorder(100)))
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *appsv1.StatefulSet:
			err = sets.Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = pods.Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolumeClaim:
			err = pvcs.Informer().GetIndexer().Add(o)
		case *appsv1.ControllerRevision:
			err = revs.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return &fixture{client: client, c: c, factory: factory}
}

// writes lists the verb/resource of every write, in order.
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if v := a.GetVerb(); v == "create" || v == "delete" || v == "update" || v == "patch" {
			r := a.GetResource().Resource
			if a.GetSubresource() != "" {
				r += "/" + a.GetSubresource()
			}
			out = append(out, v+" "+r)
		}
	}
	return out
}

func TestSyncCreatesClaimsThenFirstPod(t *testing.T) {
	set := newSet(3, func(s *appsv1.StatefulSet) {
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	})
	f := newFixture(t, set)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	want := []string{"create controllerrevisions", "create persistentvolumeclaims", "create pods", "update statefulsets/status"}
	got := f.writes()
	if len(got) != len(want) {
		t.Fatalf("writes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("writes %v, want %v", got, want)
		}
	}
	var (
		pod *corev1.Pod
		rev *appsv1.ControllerRevision
		st  *appsv1.StatefulSet
	)
	for _, a := range f.client.Actions() {
		switch o := objectOf(a).(type) {
		case *corev1.Pod:
			pod = o
		case *appsv1.ControllerRevision:
			rev = o
		case *appsv1.StatefulSet:
			st = o
		}
	}
	if pod.Name != "web-0" || pod.Labels[appsv1.ControllerRevisionHashLabelKey] != rev.Name || rev.Name != "web-"+rev.Labels[appsv1.ControllerRevisionHashLabelKey] {
		t.Errorf("pod %s labels %v, revision %s labels %v", pod.Name, pod.Labels, rev.Name, rev.Labels)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != set.UID {
		t.Errorf("pod owner %+v", pod.OwnerReferences)
	}
	if st.Status.UpdateRevision != rev.Name || st.Status.CurrentRevision != rev.Name || st.Status.ObservedGeneration != 1 || st.Status.Replicas != 0 {
		t.Errorf("status %+v", st.Status)
	}
	// The revision's template is the set's.
	applied, err := applyRevision(set, rev)
	if err != nil || applied.Spec.Template.Spec.Containers[0].Image != "img:1" {
		t.Errorf("applied revision: %v %+v", err, applied)
	}
}

func TestSyncRollbackReusesRevision(t *testing.T) {
	set := newSet(1)
	old, err := newRevision(set, 1)
	if err != nil {
		t.Fatal(err)
	}
	old.Name = "web-old"
	set2 := set.DeepCopy()
	set2.Spec.Template.Spec.Containers[0].Image = "img:2"
	cur, err := newRevision(set2, 2)
	if err != nil {
		t.Fatal(err)
	}
	cur.Name = "web-cur"
	// The set is back at img:1: web-old becomes the update revision with number 3.
	set.Status.CurrentRevision = "web-cur"
	f := newFixture(t, set, old, cur)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	var updated *appsv1.ControllerRevision
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "controllerrevisions" {
			updated = objectOf(a).(*appsv1.ControllerRevision)
		}
		if a.GetVerb() == "create" && a.GetResource().Resource == "controllerrevisions" {
			t.Errorf("created a revision on rollback")
		}
	}
	if updated == nil || updated.Name != "web-old" || updated.Revision != 3 {
		t.Errorf("updated revision %+v", updated)
	}
}

func objectOf(a k8stesting.Action) runtime.Object {
	switch a := a.(type) {
	case k8stesting.CreateAction:
		return a.GetObject()
	case k8stesting.UpdateAction:
		return a.GetObject()
	}
	return nil
}
