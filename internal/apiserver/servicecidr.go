package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kijabi/kijabi/internal/storage"
)

// Service address ranges and addresses (networking.k8s.io/v1), as kube-apiserver keeps them:
//
//   - The default ServiceCIDR, named "kubernetes", holds --service-cluster-ip-range. It is
//     created at first start and marked Ready, as upstream's default-servicecidr controller
//     does. ClusterIPs are allocated from that range only (other ServiceCIDRs are stored,
//     not used).
//   - Every allocated ClusterIP has an IPAddress named after it, pointing at its Service,
//     as upstream's allocator writes them: created when a Service gets the address (before
//     the Service is stored; a failed create removes it again), deleted when the Service
//     goes or gives the address up. At start, the IPAddresses are brought in line with the
//     stored Services (the repair upstream's allocator runs).

const (
	defaultServiceCIDRName    = "kubernetes"
	serviceCIDRManager        = "kubernetes-service-cidr-controller"
	ipAllocatorName           = "ipallocator.k8s.io"
	ipAddressReleaseTimeout   = 30 * time.Second
	serviceCIDRReadyMessage   = "Kubernetes default Service CIDR is ready"
	serviceCIDRsGroupResource = "networking.k8s.io/servicecidrs"
	ipAddressesGroupResource  = "networking.k8s.io/ipaddresses"
)

// bootstrapServiceCIDR creates the default ServiceCIDR and sets its Ready condition, unless
// it is being deleted or holds other ranges than this server's (then it is left alone, as
// upstream does, with a warning).
func (s *Server) bootstrapServiceCIDR(ctx context.Context) error {
	cidrs := []string{s.cfg.ServiceCIDR.String()}
	sc := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: defaultServiceCIDRName},
		Spec: networkingv1.ServiceCIDRSpec{CIDRs: cidrs}}
	if err := s.ensure(ctx, serviceCIDRsGroupResource, "", sc); err != nil {
		return err
	}
	res := s.byGroupResource[serviceCIDRsGroupResource]
	obj, err := res.store.Get(ctx, res.store.Key("", defaultServiceCIDRName))
	if errors.Is(err, storage.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("apiserver: reading the default ServiceCIDR: %w", err)
	}
	cur := obj.(*networkingv1.ServiceCIDR)
	switch ready := meta.FindStatusCondition(cur.Status.Conditions, networkingv1.ServiceCIDRConditionReady); {
	case cur.DeletionTimestamp != nil:
		return nil
	case !slices.Equal(cur.Spec.CIDRs, cidrs):
		s.log.Warn("the default ServiceCIDR does not match --service-cluster-ip-range; configure the flag to match it or delete it",
			"serviceCIDR", cur.Spec.CIDRs, "flag", cidrs)
		return nil
	case ready != nil && ready.Status != metav1.ConditionUnknown:
		return nil
	}
	info := &requestInfo{group: res.group, version: res.version, resource: res.name, name: defaultServiceCIDRName, subresource: "status", verb: "update"}
	_, _, err = s.updateObject(ctx, nil, res, info, serviceCIDRManager, false, false, func(current runtime.Object) (runtime.Object, error) {
		c := current.DeepCopyObject().(*networkingv1.ServiceCIDR)
		meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{Type: networkingv1.ServiceCIDRConditionReady,
			Status: metav1.ConditionTrue, Message: serviceCIDRReadyMessage, LastTransitionTime: metav1.Now()})
		return c, nil
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("apiserver: marking the default ServiceCIDR ready: %w", err)
	}
	return nil
}

// serviceIPs are the ClusterIPs of svc that have an IPAddress (not "None").
func serviceIPs(svc *corev1.Service) []string {
	var out []string
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, ip)
		}
	}
	return out
}

func serviceRef(svc *corev1.Service) *networkingv1.ParentReference {
	return &networkingv1.ParentReference{Group: "", Resource: "services", Namespace: svc.Namespace, Name: svc.Name}
}

func refersTo(ip *networkingv1.IPAddress, svc *corev1.Service) bool {
	r := ip.Spec.ParentRef
	return r != nil && r.Group == "" && r.Resource == "services" && r.Namespace == svc.Namespace && r.Name == svc.Name
}

func newIPAddress(ip string, svc *corev1.Service) *networkingv1.IPAddress {
	family := corev1.IPv4Protocol
	if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() == nil {
		family = corev1.IPv6Protocol
	}
	return &networkingv1.IPAddress{
		ObjectMeta: metav1.ObjectMeta{Name: ip, Labels: map[string]string{
			networkingv1.LabelIPAddressFamily: string(family),
			networkingv1.LabelManagedBy:       ipAllocatorName,
		}},
		Spec: networkingv1.IPAddressSpec{ParentRef: serviceRef(svc)},
	}
}

// claimIPAddresses creates the IPAddresses of the ClusterIPs svc has and old (nil on create)
// had not, and deletes those of the addresses it gave up. An address whose IPAddress belongs
// to something else is refused, as upstream's allocator refuses it.
func (s *Server) claimIPAddresses(ctx context.Context, svc, old *corev1.Service) error {
	var had []string
	if old != nil {
		had = serviceIPs(old)
	}
	now := serviceIPs(svc)
	for i, ip := range now {
		if slices.Contains(had, ip) {
			continue
		}
		if err := s.ensureIPAddress(ctx, ip, svc); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "clusterIPs").Index(i), ip, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip))})
			}
			return err
		}
	}
	for _, ip := range had {
		if !slices.Contains(now, ip) {
			s.releaseIPAddress(ctx, ip, old)
		}
	}
	return nil
}

// ensureIPAddress creates the IPAddress of ip for svc. One that already points at svc is
// kept; one left by the allocator for a Service that no longer holds the address is taken
// over; any other is an AlreadyExists error.
func (s *Server) ensureIPAddress(ctx context.Context, ip string, svc *corev1.Service) error {
	res := s.byGroupResource[ipAddressesGroupResource]
	_, err := s.createObject(ctx, nil, res, "", newIPAddress(ip, svc), "kube-apiserver", false, false)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	obj, gerr := res.store.Get(ctx, res.store.Key("", ip))
	if gerr != nil {
		return err
	}
	cur := obj.(*networkingv1.IPAddress)
	if refersTo(cur, svc) {
		return nil
	}
	if cur.Labels[networkingv1.LabelManagedBy] != ipAllocatorName || s.serviceHolds(ctx, cur) {
		return err
	}
	// A leftover (its Service is gone or changed): it goes, and the address is ours.
	uid := cur.UID
	if _, _, derr := s.deleteObject(ctx, res, "", ip, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); derr != nil && !apierrors.IsNotFound(derr) {
		return err
	}
	_, err = s.createObject(ctx, nil, res, "", newIPAddress(ip, svc), "kube-apiserver", false, false)
	return err
}

// serviceHolds reports whether the Service an IPAddress points at exists and has its
// address.
func (s *Server) serviceHolds(ctx context.Context, ip *networkingv1.IPAddress) bool {
	r := ip.Spec.ParentRef
	if r == nil || r.Group != "" || r.Resource != "services" {
		return false
	}
	res := s.byGroupResource["/services"]
	obj, err := res.store.Get(ctx, res.store.Key(r.Namespace, r.Name))
	if err != nil {
		// Unknown is not free: only a Service known to be gone gives the address up.
		return !errors.Is(err, storage.ErrNotFound)
	}
	return slices.Contains(serviceIPs(obj.(*corev1.Service)), ip.Name)
}

// releaseIPAddress deletes the IPAddress of ip if it points at svc.
func (s *Server) releaseIPAddress(ctx context.Context, ip string, svc *corev1.Service) {
	res := s.byGroupResource[ipAddressesGroupResource]
	obj, err := res.store.Get(ctx, res.store.Key("", ip))
	if err != nil {
		return
	}
	cur := obj.(*networkingv1.IPAddress)
	if !refersTo(cur, svc) {
		return
	}
	uid := cur.UID
	if _, _, err := s.deleteObject(ctx, res, "", ip, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil &&
		!apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		s.log.Warn("deleting the IPAddress of a Service", "ip", ip, "service", svc.Namespace+"/"+svc.Name, "err", err)
	}
}

// releaseIPAddresses deletes the IPAddresses of a Service that was not stored, or is
// deleted, unless the stored Service of that name still holds them (a create that failed
// because the Service exists, as at every start for the `kubernetes` Service).
func (s *Server) releaseIPAddresses(svc *corev1.Service) {
	ips := serviceIPs(svc)
	if len(ips) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ipAddressReleaseTimeout)
	defer cancel()
	res := s.byGroupResource["/services"]
	if obj, err := res.store.Get(ctx, res.store.Key(svc.Namespace, svc.Name)); err == nil {
		stored := obj.(*corev1.Service)
		var keep []string
		for _, ip := range ips {
			if !slices.Contains(serviceIPs(stored), ip) {
				keep = append(keep, ip)
			}
		}
		ips = keep
	} else if !errors.Is(err, storage.ErrNotFound) {
		return
	}
	for _, ip := range ips {
		s.releaseIPAddress(ctx, ip, svc)
	}
}

// repairIPAddresses brings the IPAddresses in line with the stored Services: each allocated
// ClusterIP gets its IPAddress, and the allocator's IPAddresses of addresses no Service
// holds go.
func (s *Server) repairIPAddresses(ctx context.Context) error {
	svcRes, ipRes := s.byGroupResource["/services"], s.byGroupResource[ipAddressesGroupResource]
	svcs, err := svcRes.store.List(ctx, svcRes.store.Prefix(""), storage.ListOptions{})
	if err != nil {
		return fmt.Errorf("apiserver: listing Services: %w", err)
	}
	ips, err := ipRes.store.List(ctx, ipRes.store.Prefix(""), storage.ListOptions{})
	if err != nil {
		return fmt.Errorf("apiserver: listing IPAddresses: %w", err)
	}
	holder := map[string]*corev1.Service{}
	for _, o := range svcs.Items {
		svc := o.(*corev1.Service)
		for _, ip := range serviceIPs(svc) {
			holder[ip] = svc
		}
	}
	existing := map[string]*networkingv1.IPAddress{}
	for _, o := range ips.Items {
		ip := o.(*networkingv1.IPAddress)
		existing[ip.Name] = ip
		svc := holder[ip.Name]
		if ip.Labels[networkingv1.LabelManagedBy] == ipAllocatorName && ip.DeletionTimestamp == nil && (svc == nil || !refersTo(ip, svc)) {
			uid := ip.UID
			if _, _, err := s.deleteObject(ctx, ipRes, "", ip.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil &&
				!apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("apiserver: deleting a stale IPAddress: %w", err)
			}
			delete(existing, ip.Name)
		}
	}
	for ip, svc := range holder {
		if _, ok := existing[ip]; ok {
			continue
		}
		if _, err := s.createObject(ctx, nil, ipRes, "", newIPAddress(ip, svc), "kube-apiserver", false, false); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("apiserver: creating the IPAddress of %s/%s: %w", svc.Namespace, svc.Name, err)
		}
	}
	return nil
}
