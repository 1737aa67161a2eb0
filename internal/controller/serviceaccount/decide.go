package serviceaccount

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// DefaultServiceAccountName is the service account every active namespace gets.
	DefaultServiceAccountName = "default"
	// RootCAConfigMapName is the ConfigMap holding the cluster CA bundle in every namespace.
	RootCAConfigMapName = "kube-root-ca.crt"
	// RootCAKey is the ConfigMap key holding the bundle.
	RootCAKey = "ca.crt"
	// descriptionAnnotation says what the ConfigMap is for.
	descriptionAnnotation = "kubernetes.io/description"
	description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// needsServiceAccount reports whether the namespace should get its default service account
// created: it is active and has none.
func needsServiceAccount(ns *corev1.Namespace, exists bool) bool {
	return ns.Status.Phase == corev1.NamespaceActive && ns.DeletionTimestamp == nil && !exists
}

func defaultServiceAccount(namespace string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccountName, Namespace: namespace}}
}

// rootCAConfigMap returns the ConfigMap to write given the current one (nil when absent):
// create is true when it must be created, and the result is nil when current is fine.
func rootCAConfigMap(namespace string, current *corev1.ConfigMap, bundle []byte) (cm *corev1.ConfigMap, create bool) {
	data := map[string]string{RootCAKey: string(bundle)}
	if current == nil {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMapName, Namespace: namespace,
				Annotations: map[string]string{descriptionAnnotation: description}},
			Data: data,
		}, true
	}
	if equality.Semantic.DeepEqual(current.Data, data) && len(current.BinaryData) == 0 && current.Annotations[descriptionAnnotation] != "" {
		return nil, false
	}
	cm = current.DeepCopy()
	cm.Data = data
	cm.BinaryData = nil
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[descriptionAnnotation] = description
	return cm, false
}
