package daemonset

import (
	"context"
	"fmt"
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
	dss, pods, nodes, revs := factory.Apps().V1().DaemonSets(), factory.Core().V1().Pods(), factory.Core().V1().Nodes(), factory.Apps().V1().ControllerRevisions()
	c := New(client, dss, pods, nodes, revs, WithClock(clocktesting.NewFakeClock(t0)), WithEventRecorder(record.NewFakeRecorder(100)))
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *appsv1.DaemonSet:
			err = dss.Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = pods.Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = nodes.Informer().GetIndexer().Add(o)
		case *appsv1.ControllerRevision:
			err = revs.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			n++
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, n)
		}
		return false, nil, nil
	})
	client.ClearActions()
	return &fixture{client: client, c: c, factory: factory}
}

func (f *fixture) actions(verb, resource string) []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource && a.GetSubresource() == "" {
			out = append(out, a)
		}
	}
	return out
}

// syncRevisions copies the revisions the controller created into the informer, as a watch would.
func (f *fixture) syncRevisions(t *testing.T) {
	t.Helper()
	list, err := f.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		if err := f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer().Update(&list.Items[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSyncCreatesPodsPerEligibleNode(t *testing.T) {
	ds := newDS()
	f := newFixture(t, ds, newNode("a"), newNode("b"), newNode("tainted", taint("x", corev1.TaintEffectNoSchedule)))
	ctx := context.Background()
	if err := f.c.sync(ctx, "ns/agent"); err != nil {
		t.Fatal(err)
	}
	creates := f.actions("create", "pods")
	if len(creates) != 2 {
		t.Fatalf("created %d pods, want 2", len(creates))
	}
	got := map[string]bool{}
	hash := ""
	for _, a := range creates {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		n, _ := targetNodeName(p)
		got[n] = true
		hash = p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	}
	if !got["a"] || !got["b"] {
		t.Errorf("pods for %v", got)
	}
	revs := f.actions("create", "controllerrevisions")
	if len(revs) != 1 {
		t.Fatalf("created %d revisions", len(revs))
	}
	rev := revs[0].(k8stesting.CreateAction).GetObject().(*appsv1.ControllerRevision)
	if rev.Name != "agent-"+hash || rev.Revision != 1 || rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash || !revisionMatches(ds, rev) {
		t.Errorf("revision %s (rev %d, labels %v), pod hash %s", rev.Name, rev.Revision, rev.Labels, hash)
	}
	var status *appsv1.DaemonSet
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			status = a.(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet)
		}
	}
	if status == nil || status.Status.DesiredNumberScheduled != 2 || status.Status.ObservedGeneration != 1 {
		t.Errorf("status update %+v", status)
	}

	// The informer has not seen the pods: the next sync must not create more.
	f.syncRevisions(t)
	f.client.ClearActions()
	if err := f.c.sync(ctx, "ns/agent"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 0 {
		t.Errorf("created %d more pods while expectations were pending", n)
	}
	if n := len(f.actions("create", "controllerrevisions")); n != 0 {
		t.Errorf("created %d more revisions", n)
	}
}

func TestSyncDeletesPodsOfIneligibleNodesAndRollsOne(t *testing.T) {
	ds := newDS()
	hash := computeHash(&ds.Spec.Template, nil)
	f := newFixture(t, ds, newNode("a"), newNode("b"), newNode("evicting", taint("x", corev1.TaintEffectNoExecute)),
		dsPod("pa", "a", "old", ready), dsPod("pb", "b", "old", ready), dsPod("pe", "evicting", hash, ready))
	ctx := context.Background()
	if err := f.c.sync(ctx, "ns/agent"); err != nil {
		t.Fatal(err)
	}
	dels := f.actions("delete", "pods")
	if len(dels) != 1 || dels[0].(k8stesting.DeleteAction).GetName() != "pe" {
		t.Fatalf("deletions %v, want pe only (the manage loop goes first)", dels)
	}
	// Once the deletion is observed, the rolling update deletes one old pod.
	f.c.expectations.DeletionObserved("ns/agent", "ns/pe")
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Delete(dsPod("pe", "evicting", hash)); err != nil {
		t.Fatal(err)
	}
	f.syncRevisions(t)
	f.client.ClearActions()
	if err := f.c.sync(ctx, "ns/agent"); err != nil {
		t.Fatal(err)
	}
	if dels := f.actions("delete", "pods"); len(dels) != 1 || dels[0].(k8stesting.DeleteAction).GetName() != "pa" {
		t.Fatalf("deletions %v, want pa", dels)
	}
}
