package garbagecollector

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func obj(uid types.UID, finalizers ...string) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Name: string(uid), Namespace: "ns", UID: uid, Finalizers: finalizers}
}

func deleting(o *metav1.ObjectMeta) *metav1.ObjectMeta {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o.DeletionTimestamp = &now
	return o
}

func TestClassifyOwner(t *testing.T) {
	ref := metav1.OwnerReference{UID: "o"}
	for _, tc := range []struct {
		name  string
		owner *metav1.ObjectMeta
		want  ownerState
	}{
		{"absent", nil, dangling},
		{"replaced", obj("other"), dangling},
		{"alive", obj("o"), solid},
		{"background deleting", deleting(obj("o", "example.com/x")), solid},
		{"foreground deleting", deleting(obj("o", metav1.FinalizerDeleteDependents)), waiting},
	} {
		var owner metav1.Object
		if tc.owner != nil {
			owner = tc.owner
		}
		if got := classifyOwner(ref, owner); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name          string
		obj           *metav1.ObjectMeta
		states        []ownerState
		hasDependents bool
		depWaits      bool
		want          action
	}{
		{"no owners", obj("a"), nil, false, false, action{kind: keep}},
		{"solid owner", obj("a"), []ownerState{solid}, false, false, action{kind: keep}},
		{"solid and dangling", obj("a"), []ownerState{solid, dangling}, false, false, action{kind: removeRefs}},
		{"solid and waiting", obj("a"), []ownerState{waiting, solid}, true, false, action{kind: removeRefs}},
		{"all dangling", obj("a"), []ownerState{dangling, dangling}, true, false,
			action{kind: deleteObject, policy: metav1.DeletePropagationBackground}},
		{"waiting owner, no dependents", obj("a"), []ownerState{waiting}, false, false,
			action{kind: deleteObject, policy: metav1.DeletePropagationBackground}},
		{"waiting owner, dependents", obj("a"), []ownerState{waiting}, true, false,
			action{kind: deleteObject, policy: metav1.DeletePropagationForeground}},
		{"waiting owner, waiting dependent", obj("a"), []ownerState{waiting}, true, true,
			action{kind: deleteObject, policy: metav1.DeletePropagationForeground, unblock: true}},
		{"dangling, own orphan finalizer", obj("a", metav1.FinalizerOrphanDependents), []ownerState{dangling}, true, false,
			action{kind: deleteObject, policy: metav1.DeletePropagationOrphan}},
		{"dangling, own foreground finalizer", obj("a", metav1.FinalizerDeleteDependents), []ownerState{dangling}, false, false,
			action{kind: deleteObject, policy: metav1.DeletePropagationForeground}},
	} {
		if got := decide(tc.obj, tc.states, tc.hasDependents, tc.depWaits); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

type recorder struct{ deletes, settled []types.UID }

func newTestGraph() (*graph, *recorder) {
	r := &recorder{}
	return newGraph(func(u types.UID) { r.deletes = append(r.deletes, u) },
		func(u types.UID, _ bool) { r.settled = append(r.settled, u) }), r
}

func id(uid types.UID) objectRef {
	return objectRef{APIVersion: "v1", Kind: "Pod", Namespace: "ns", Name: string(uid), UID: uid}
}

func owned(o *metav1.ObjectMeta, owner types.UID, block bool) *metav1.ObjectMeta {
	o.OwnerReferences = append(o.OwnerReferences, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: string(owner),
		UID: owner, BlockOwnerDeletion: ptr.To(block)})
	return o
}

func TestGraphVirtualOwner(t *testing.T) {
	g, r := newTestGraph()
	g.observe(id("pod"), owned(obj("pod"), "rs", true))
	s, ok := g.snapshot("rs")
	if !ok || !s.virtual || len(s.dependents) != 1 || s.identity.Kind != "ReplicaSet" || s.identity.Namespace != "ns" {
		t.Fatalf("virtual owner %+v", s)
	}
	if len(r.deletes) != 1 || r.deletes[0] != "rs" {
		t.Errorf("virtual owner not queued for a check: %v", r.deletes)
	}
	// Found absent: it goes, and its dependent is looked at.
	g.remove("rs", true)
	if _, ok := g.snapshot("rs"); ok || r.deletes[len(r.deletes)-1] != "pod" {
		t.Errorf("absent virtual owner: queue %v", r.deletes)
	}
}

func TestGraphObservedOwnerStaysOnVirtualRemove(t *testing.T) {
	g, _ := newTestGraph()
	g.observe(id("pod"), owned(obj("pod"), "rs", true))
	g.observe(objectRef{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "ns", Name: "rs", UID: "rs"}, obj("rs"))
	g.remove("rs", true)
	if s, ok := g.snapshot("rs"); !ok || s.virtual || len(s.dependents) != 1 {
		t.Errorf("observed owner %+v, %v", s, ok)
	}
}

func TestGraphForegroundTransition(t *testing.T) {
	g, r := newTestGraph()
	g.observe(id("rs"), obj("rs"))
	g.observe(id("a"), owned(obj("a"), "rs", true))
	g.observe(id("b"), owned(obj("b"), "rs", false))
	r.deletes = nil
	g.observe(id("rs"), deleting(obj("rs", metav1.FinalizerDeleteDependents)))
	s, _ := g.snapshot("rs")
	if !s.deletingDependents || len(s.blocking) != 1 || s.blocking[0].uid != "a" {
		t.Errorf("owner %+v", s)
	}
	if len(r.deletes) != 2 || len(r.settled) != 1 || r.settled[0] != "rs" {
		t.Errorf("queued %v, settled %v", r.deletes, r.settled)
	}
	// The blocking dependent goes: the owner is looked at again.
	r.deletes = nil
	g.remove("a", false)
	s, _ = g.snapshot("rs")
	if len(s.blocking) != 0 || len(r.deletes) != 1 || r.deletes[0] != "rs" {
		t.Errorf("after dependent left: %+v, queued %v", s, r.deletes)
	}
}

func TestGraphOwnerRefChanges(t *testing.T) {
	g, r := newTestGraph()
	g.observe(id("rs"), deleting(obj("rs", metav1.FinalizerDeleteDependents)))
	g.observe(id("a"), owned(obj("a"), "rs", true))
	r.deletes = nil
	// The reference stops blocking: the waiting owner is looked at.
	g.observe(id("a"), owned(obj("a"), "rs", false))
	if len(r.deletes) != 1 || r.deletes[0] != "rs" {
		t.Errorf("unblocked: queued %v", r.deletes)
	}
	// The reference goes: the dependent leaves the owner.
	g.observe(id("a"), obj("a"))
	if s, _ := g.snapshot("rs"); len(s.dependents) != 0 {
		t.Errorf("dependents %v", s.dependents)
	}
}

func TestGraphOrphanTransition(t *testing.T) {
	g, r := newTestGraph()
	g.observe(id("rs"), deleting(obj("rs", metav1.FinalizerOrphanDependents)))
	if len(r.settled) != 1 || r.settled[0] != "rs" {
		t.Errorf("orphaning owner not queued: %v", r.settled)
	}
}

func TestDeletableResources(t *testing.T) {
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Kind: "Pod", Verbs: []string{"list", "watch", "delete", "get"}},
			{Name: "pods/status", Kind: "Pod", Verbs: []string{"get", "update"}},
			{Name: "events", Kind: "Event", Verbs: []string{"list", "watch", "delete"}},
			{Name: "bindings", Kind: "Binding", Verbs: []string{"create"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "replicasets", Kind: "ReplicaSet", Verbs: []string{"list", "watch", "delete"}}}},
	}
	got := deletableResources(lists)
	if len(got) != 2 {
		t.Errorf("resources %v", got)
	}
	for gvr, gvk := range got {
		if gvr.Resource != "pods" && gvr.Resource != "replicasets" || gvk.Kind == "" {
			t.Errorf("unexpected %v -> %v", gvr, gvk)
		}
	}
}
