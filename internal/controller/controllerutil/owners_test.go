package controllerutil

import (
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestOwners(t *testing.T) {
	kind := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u1"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	get := func(name string) (*appsv1.ReplicaSet, error) {
		if name == rs.Name {
			return rs, nil
		}
		return nil, errors.New("not found")
	}
	ref := func(kind, apiVersion, name, uid string) *metav1.OwnerReference {
		return &metav1.OwnerReference{Kind: kind, APIVersion: apiVersion, Name: name, UID: "u1"}
	}
	for _, tc := range []struct {
		name string
		ref  *metav1.OwnerReference
		want bool
	}{
		{"owner", ref("ReplicaSet", "apps/v1", "web", "u1"), true},
		{"no reference", nil, false},
		{"other kind", ref("Deployment", "apps/v1", "web", "u1"), false},
		{"other version", ref("ReplicaSet", "extensions/v1beta1", "web", "u1"), false},
		{"missing", ref("ReplicaSet", "apps/v1", "db", "u1"), false},
		{"successor with the same name", &metav1.OwnerReference{Kind: "ReplicaSet", APIVersion: "apps/v1", Name: "web", UID: "u0"}, false},
	} {
		got, ok := ResolveControllerRef(tc.ref, kind, get)
		if ok != tc.want || (ok && got != rs) || (!ok && got != nil) {
			t.Errorf("%s: got %v %v", tc.name, got, ok)
		}
	}

	empty := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "all"}, Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{}}}
	other := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}
	sel := Selecting([]*appsv1.ReplicaSet{rs, empty, other}, func(r *appsv1.ReplicaSet) *metav1.LabelSelector { return r.Spec.Selector },
		map[string]string{"app": "web", "tier": "front"})
	if len(sel) != 1 || sel[0] != rs {
		t.Errorf("Selecting: %v (an empty selector must select nothing)", sel)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	if got, ok := FromEvent[*corev1.Pod](pod); !ok || got != pod {
		t.Error("FromEvent of a pod")
	}
	if got, ok := FromEvent[*corev1.Pod](cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: pod}); !ok || got != pod {
		t.Error("FromEvent of a tombstone")
	}
	if _, ok := FromEvent[*corev1.Pod](rs); ok {
		t.Error("FromEvent of another type")
	}
}
