package dns

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const (
	// ServiceName and ServiceNamespace name the cluster DNS Service.
	ServiceName      = "kube-dns"
	ServiceNamespace = metav1.NamespaceSystem
	// ManagedBy is the endpointslice.kubernetes.io/managed-by value of the DNS Service's
	// EndpointSlice; the EndpointSlice controller leaves slices managed by others alone.
	ManagedBy = "kijabi-dns"
)

// serviceLabels are upstream's labels of the kube-dns Service, which tools look for.
var serviceLabels = map[string]string{
	"k8s-app":                       "kube-dns",
	"kubernetes.io/name":            "CoreDNS",
	"kubernetes.io/cluster-service": "true",
}

// EnsureService creates or updates the kube-dns Service of kube-system with ClusterIP ip
// (recreating the Service when it has another ClusterIP, which cannot change) and ports
// dns/UDP and dns-tcp/TCP 53 targeting port (53 when 0). The Service has no selector: the
// DNS server runs on the nodes' host network, so its EndpointSlice, listing endpointIPs
// (all IPv4 or all IPv6, none loopback: the API rejects those), is written here too,
// labelled managed-by kijabi-dns and owned by the Service.
func EnsureService(ctx context.Context, client kubernetes.Interface, ip net.IP, endpointIPs []net.IP, port int32) error {
	if ip == nil {
		return errors.New("dns service: no ClusterIP")
	}
	if port == 0 {
		port = 53
	}
	addrType, err := addressType(endpointIPs)
	if err != nil {
		return fmt.Errorf("dns service: %w", err)
	}
	svc, err := ensureService(ctx, client, ip, port)
	if err != nil {
		return fmt.Errorf("dns service: %w", err)
	}
	if err := ensureSlice(ctx, client, svc, addrType, endpointIPs, port); err != nil {
		return fmt.Errorf("dns service endpointslice: %w", err)
	}
	return nil
}

func addressType(ips []net.IP) (discoveryv1.AddressType, error) {
	t := discoveryv1.AddressTypeIPv4
	for i, ip := range ips {
		if ip.IsLoopback() || ip.IsUnspecified() {
			return "", fmt.Errorf("endpoint address %v cannot be in an EndpointSlice", ip)
		}
		it := discoveryv1.AddressTypeIPv4
		if ip.To4() == nil {
			if ip.To16() == nil {
				return "", fmt.Errorf("invalid endpoint address %v", ip)
			}
			it = discoveryv1.AddressTypeIPv6
		}
		if i == 0 {
			t = it
		} else if it != t {
			return "", errors.New("endpoint addresses mix IPv4 and IPv6")
		}
	}
	return t, nil
}

func desiredPorts(port int32) []corev1.ServicePort {
	return []corev1.ServicePort{
		{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(port)},
		{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(port)},
	}
}

func ensureService(ctx context.Context, client kubernetes.Interface, ip net.IP, port int32) (*corev1.Service, error) {
	services := client.CoreV1().Services(ServiceNamespace)
	var out *corev1.Service
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := services.Get(ctx, ServiceName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			out, err = services.Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: ServiceNamespace, Labels: maps.Clone(serviceLabels)},
				Spec: corev1.ServiceSpec{
					Type: corev1.ServiceTypeClusterIP, ClusterIP: ip.String(), ClusterIPs: []string{ip.String()},
					Ports: desiredPorts(port),
				},
			}, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("services"), ServiceName, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		if !net.ParseIP(cur.Spec.ClusterIP).Equal(ip) || cur.Spec.Type != corev1.ServiceTypeClusterIP {
			// The ClusterIP cannot change: make the Service anew.
			err := services.Delete(ctx, ServiceName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			return apierrors.NewConflict(corev1.Resource("services"), ServiceName, errors.New("recreating with a new ClusterIP"))
		}
		nu := cur.DeepCopy()
		if nu.Labels == nil {
			nu.Labels = map[string]string{}
		}
		maps.Copy(nu.Labels, serviceLabels)
		nu.Spec.Selector = nil
		nu.Spec.Ports = mergeServicePorts(cur.Spec.Ports, desiredPorts(port))
		if maps.Equal(nu.Labels, cur.Labels) && cur.Spec.Selector == nil && slices.EqualFunc(nu.Spec.Ports, cur.Spec.Ports, portEqual) {
			out = cur
			return nil
		}
		out, err = services.Update(ctx, nu, metav1.UpdateOptions{})
		return err
	})
	return out, err
}

// mergeServicePorts keeps the fields the API server filled in (node ports) of ports that
// stay.
func mergeServicePorts(cur, want []corev1.ServicePort) []corev1.ServicePort {
	out := slices.Clone(want)
	for i, w := range out {
		for _, c := range cur {
			if c.Name == w.Name && c.Protocol == w.Protocol && c.Port == w.Port {
				out[i].NodePort = c.NodePort
				out[i].AppProtocol = c.AppProtocol
			}
		}
	}
	return out
}

func portEqual(a, b corev1.ServicePort) bool {
	return a.Name == b.Name && a.Protocol == b.Protocol && a.Port == b.Port && a.TargetPort == b.TargetPort
}

func desiredSlice(svc *corev1.Service, addrType discoveryv1.AddressType, ips []net.IP, port int32) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: ServiceName, Namespace: ServiceNamespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: ServiceName,
				discoveryv1.LabelManagedBy:   ManagedBy,
				"k8s-app":                    "kube-dns",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: ptr.To(true),
			}},
		},
		AddressType: addrType,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("dns"), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(port)},
			{Name: ptr.To("dns-tcp"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(port)},
		},
		Endpoints: []discoveryv1.Endpoint{},
	}
	for _, ip := range ips {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{ip.String()},
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false),
			},
		})
	}
	return sl
}

func ensureSlice(ctx context.Context, client kubernetes.Interface, svc *corev1.Service, addrType discoveryv1.AddressType, ips []net.IP, port int32) error {
	api := client.DiscoveryV1().EndpointSlices(ServiceNamespace)
	want := desiredSlice(svc, addrType, ips, port)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(discoveryv1.Resource("endpointslices"), want.Name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		if cur.AddressType != want.AddressType || !ownedBy(cur, svc) {
			// The address type cannot change; and a slice of an older Service is the
			// garbage collector's to delete, which it may do even after an update: make
			// a new one.
			err := api.Delete(ctx, want.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return err
			}
			return apierrors.NewConflict(discoveryv1.Resource("endpointslices"), want.Name, errors.New("recreating"))
		}
		nu := cur.DeepCopy()
		if nu.Labels == nil {
			nu.Labels = map[string]string{}
		}
		maps.Copy(nu.Labels, want.Labels)
		nu.OwnerReferences = want.OwnerReferences
		nu.Ports = want.Ports
		nu.Endpoints = want.Endpoints
		if maps.Equal(nu.Labels, cur.Labels) && slicesEqual(nu, cur) {
			return nil
		}
		_, err = api.Update(ctx, nu, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return apierrors.NewConflict(discoveryv1.Resource("endpointslices"), want.Name, err)
		}
		return err
	})
}

func ownedBy(sl *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range sl.OwnerReferences {
		if o.Kind == "Service" && o.UID == svc.UID {
			return true
		}
	}
	return false
}

func slicesEqual(a, b *discoveryv1.EndpointSlice) bool {
	if len(a.OwnerReferences) != len(b.OwnerReferences) || len(a.OwnerReferences) != 1 || a.OwnerReferences[0].UID != b.OwnerReferences[0].UID {
		return false
	}
	if !slices.EqualFunc(a.Ports, b.Ports, func(x, y discoveryv1.EndpointPort) bool {
		return ptr.Deref(x.Name, "") == ptr.Deref(y.Name, "") && ptr.Deref(x.Protocol, "") == ptr.Deref(y.Protocol, "") && ptr.Deref(x.Port, 0) == ptr.Deref(y.Port, 0)
	}) {
		return false
	}
	return slices.EqualFunc(a.Endpoints, b.Endpoints, func(x, y discoveryv1.Endpoint) bool {
		return slices.Equal(x.Addresses, y.Addresses) && ptr.Deref(x.Conditions.Ready, false) == ptr.Deref(y.Conditions.Ready, false)
	})
}
