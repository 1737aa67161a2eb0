package apiserver

import (
	"context"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// bootstrap creates what every cluster has from its first start: the system namespaces and
// the `kubernetes` Service in default, with endpoints pointing at this server.
func (s *Server) bootstrap(ctx context.Context) error {
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if err := s.ensure(ctx, "namespaces", "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			return err
		}
	}
	for i := range systemPriorityClasses {
		if err := s.ensure(ctx, "scheduling.k8s.io/priorityclasses", "", systemPriorityClasses[i].DeepCopy()); err != nil {
			return err
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: s.alloc.firstIP().String(),
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(int32(s.cfg.Port))}},
			SessionAffinity: corev1.ServiceAffinityNone,
			Type:            corev1.ServiceTypeClusterIP,
		},
	}
	if err := s.ensure(ctx, "services", "default", svc); err != nil {
		return err
	}
	addr := s.cfg.AdvertiseAddress
	if addr == nil || addr.IsUnspecified() {
		addr = net.ParseIP("127.0.0.1")
	}
	port := int32(s.cfg.Port)
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := s.ensure(ctx, "endpoints", "default", ep); err != nil {
		return err
	}
	addrType := discoveryv1.AddressTypeIPv4
	if addr.To4() == nil {
		addrType = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "kube-apiserver"}},
		AddressType: addrType,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if err := s.ensure(ctx, "discovery.k8s.io/endpointslices", "default", slice); err != nil {
		return err
	}
	return s.bootstrapClusterConfig(ctx)
}

// ensure creates obj unless an object of that name exists.
func (s *Server) ensure(ctx context.Context, groupResource, namespace string, obj runtime.Object) error {
	if !containsSlash(groupResource) {
		groupResource = "/" + groupResource
	}
	res := s.byGroupResource[groupResource]
	_, err := s.createObject(ctx, nil, res, namespace, obj, "kube-apiserver", false, false)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("apiserver: bootstrapping %s: %w", groupResource, err)
	}
	return nil
}

func containsSlash(s string) bool {
	for _, c := range s {
		if c == '/' {
			return true
		}
	}
	return false
}
