package serviceaccount

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNeedsServiceAccount(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name   string
		ns     corev1.Namespace
		exists bool
		want   bool
	}{
		{"active, missing", corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, false, true},
		{"active, present", corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, true, false},
		{"terminating", corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, false, false},
		{"being deleted", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, false, false},
	} {
		if got := needsServiceAccount(&tc.ns, tc.exists); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRootCAConfigMap(t *testing.T) {
	bundle := []byte("PEM")
	good := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMapName, Namespace: "ns",
		Annotations: map[string]string{descriptionAnnotation: description}}, Data: map[string]string{RootCAKey: "PEM"}}
	tampered := good.DeepCopy()
	tampered.Data[RootCAKey] = "other"
	tampered.Data["extra"] = "x"
	unannotated := good.DeepCopy()
	unannotated.Annotations = nil
	for _, tc := range []struct {
		name       string
		current    *corev1.ConfigMap
		wantWrite  bool
		wantCreate bool
	}{
		{"missing", nil, true, true},
		{"up to date", good, false, false},
		{"tampered", tampered, true, false},
		{"annotation missing", unannotated, true, false},
	} {
		cm, create := rootCAConfigMap("ns", tc.current, bundle)
		if (cm != nil) != tc.wantWrite || create != tc.wantCreate {
			t.Errorf("%s: write %v create %v, want %v %v", tc.name, cm != nil, create, tc.wantWrite, tc.wantCreate)
			continue
		}
		if cm != nil && (len(cm.Data) != 1 || cm.Data[RootCAKey] != "PEM" || cm.Annotations[descriptionAnnotation] == "" || cm.Name != RootCAConfigMapName) {
			t.Errorf("%s: configmap %+v", tc.name, cm)
		}
	}
}
