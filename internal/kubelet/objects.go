package kubelet

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
)

// apiObjects gives the volume manager and the environment resolver the API objects
// pods refer to: Services from an informer (every container start reads them all),
// everything else read fresh from the API so that updates are seen at once.
type apiObjects struct {
	client   kubernetes.Interface
	services listerscorev1.ServiceLister
}

func (o *apiObjects) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return o.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o *apiObjects) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return o.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o *apiObjects) Services(ns string) ([]*corev1.Service, error) {
	if o.services == nil {
		return nil, nil
	}
	return o.services.Services(ns).List(labels.Everything())
}

func (o *apiObjects) PersistentVolumeClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return o.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o *apiObjects) PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	return o.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
}

func (o *apiObjects) ServiceAccountToken(ctx context.Context, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	return o.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
}
