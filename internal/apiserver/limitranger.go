package apiserver

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"github.com/kijabi/kijabi/internal/storage"
)

// LimitRanges, as Kubernetes' LimitRanger admission plugin applies them:
//
//   - A new pod's containers (init containers too) get the default limits and requests of
//     the namespace's Container items for the resources they do not set (the LimitRange's
//     own defaulting already derived default limits from max, and default requests from the
//     default limits or min).
//   - Then every container is checked against each Container item's min, max and
//     maxLimitRequestRatio, the pod as a whole (its containers' sum, or its largest init
//     container) against Pod items, and a claim's storage against PersistentVolumeClaim
//     items. Any violation refuses the object with 403, listing every violation in
//     upstream's words.
//
// Pods are checked on create only (their containers' resources cannot change otherwise);
// claims on create and update.

// limitRanges returns the LimitRanges of namespace, from the watch cache.
func (s *Server) limitRanges(ctx context.Context, namespace string) ([]*corev1.LimitRange, error) {
	res := s.coreResource("limitranges")
	if n, ok := res.store.CachedLen(); ok && n == 0 {
		return nil, nil // the common case: no LimitRange anywhere
	}
	list, err := res.store.List(ctx, res.store.Prefix(namespace), storage.ListOptions{Stale: true})
	if err != nil {
		return nil, storageError(err, res.gr, "")
	}
	out := make([]*corev1.LimitRange, 0, len(list.Items))
	for _, obj := range list.Items {
		out = append(out, obj.(*corev1.LimitRange))
	}
	return out, nil
}

// admitPodLimits applies the namespace's LimitRange defaults to a new pod and checks its
// limits.
func (s *Server) admitPodLimits(ctx context.Context, pod *corev1.Pod) error {
	ranges, err := s.limitRanges(ctx, pod.Namespace)
	if err != nil || len(ranges) == 0 {
		return err
	}
	var errs []error
	for _, lr := range ranges {
		applyContainerDefaults(pod, lr)
	}
	for _, lr := range ranges {
		errs = append(errs, checkPodLimits(pod, lr)...)
	}
	if len(errs) > 0 {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, pod.Name, utilerrors.NewAggregate(errs))
	}
	return nil
}

// admitClaimLimits checks a claim's storage request and limit against the namespace's
// PersistentVolumeClaim items.
func (s *Server) admitClaimLimits(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	ranges, err := s.limitRanges(ctx, pvc.Namespace)
	if err != nil || len(ranges) == 0 {
		return err
	}
	var errs []error
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypePersistentVolumeClaim {
				continue
			}
			errs = append(errs, checkItem(string(corev1.LimitTypePersistentVolumeClaim), item, pvc.Spec.Resources.Requests, pvc.Spec.Resources.Limits)...)
		}
	}
	if len(errs) > 0 {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumeclaims"}, pvc.Name, utilerrors.NewAggregate(errs))
	}
	return nil
}

// applyContainerDefaults gives every container the default limits and requests of lr's
// Container items for the resources it does not set.
func applyContainerDefaults(pod *corev1.Pod, lr *corev1.LimitRange) {
	limits, requests := corev1.ResourceList{}, corev1.ResourceList{}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		for name, q := range item.Default {
			limits[name] = q.DeepCopy()
		}
		for name, q := range item.DefaultRequest {
			requests[name] = q.DeepCopy()
		}
	}
	if len(limits) == 0 && len(requests) == 0 {
		return
	}
	fill := func(c *corev1.Container) {
		for name, q := range limits {
			if _, ok := c.Resources.Limits[name]; !ok {
				if c.Resources.Limits == nil {
					c.Resources.Limits = corev1.ResourceList{}
				}
				c.Resources.Limits[name] = q.DeepCopy()
			}
		}
		for name, q := range requests {
			if _, ok := c.Resources.Requests[name]; !ok {
				if c.Resources.Requests == nil {
					c.Resources.Requests = corev1.ResourceList{}
				}
				c.Resources.Requests[name] = q.DeepCopy()
			}
		}
	}
	for i := range pod.Spec.Containers {
		fill(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		fill(&pod.Spec.InitContainers[i])
	}
}

// checkPodLimits checks pod against lr's Container and Pod items.
func checkPodLimits(pod *corev1.Pod, lr *corev1.LimitRange) []error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			for _, c := range pod.Spec.InitContainers {
				errs = append(errs, checkItem(string(corev1.LimitTypeContainer), item, c.Resources.Requests, c.Resources.Limits)...)
			}
			for _, c := range pod.Spec.Containers {
				errs = append(errs, checkItem(string(corev1.LimitTypeContainer), item, c.Resources.Requests, c.Resources.Limits)...)
			}
		case corev1.LimitTypePod:
			requests, limits := podTotals(pod)
			errs = append(errs, checkItem(string(corev1.LimitTypePod), item, requests, limits)...)
		}
	}
	return errs
}

// podTotals is a pod's requests and limits for LimitRange purposes: the sum over its
// containers of what each sets, or its largest init container's where that is larger.
func podTotals(pod *corev1.Pod) (requests, limits corev1.ResourceList) {
	total := func(get func(corev1.ResourceRequirements) corev1.ResourceList) corev1.ResourceList {
		sum := corev1.ResourceList{}
		for _, c := range pod.Spec.Containers {
			for name, v := range get(c.Resources) {
				q := sum[name]
				q.Add(v)
				sum[name] = q
			}
		}
		for _, c := range pod.Spec.InitContainers {
			for name, v := range get(c.Resources) {
				if cur, ok := sum[name]; !ok || v.Cmp(cur) > 0 {
					sum[name] = v.DeepCopy()
				}
			}
		}
		return sum
	}
	return total(func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Requests }),
		total(func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Limits })
}

// checkItem checks requests and limits against one item's min, max and
// maxLimitRequestRatio, in a stable order.
func checkItem(kind string, item corev1.LimitRangeItem, requests, limits corev1.ResourceList) []error {
	var errs []error
	for _, name := range sortedNames(item.Min) {
		min := item.Min[name]
		req, hasReq := requests[name]
		lim, hasLim := limits[name]
		reqV, limV, minV := comparable(req, lim, min)
		switch {
		case !hasReq:
			errs = append(errs, fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, kind, min.String()))
		case reqV < minV:
			errs = append(errs, fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, kind, min.String(), req.String()))
		case hasLim && limV < minV:
			errs = append(errs, fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, kind, min.String(), lim.String()))
		}
	}
	for _, name := range sortedNames(item.Max) {
		max := item.Max[name]
		req, hasReq := requests[name]
		lim, hasLim := limits[name]
		reqV, limV, maxV := comparable(req, lim, max)
		switch {
		case !hasLim:
			errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, kind, max.String()))
		case limV > maxV:
			errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, kind, max.String(), lim.String()))
		case hasReq && reqV > maxV:
			errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, kind, max.String(), req.String()))
		}
	}
	for _, name := range sortedNames(item.MaxLimitRequestRatio) {
		ratio := item.MaxLimitRequestRatio[name]
		req, hasReq := requests[name]
		lim, hasLim := limits[name]
		reqV, limV, _ := comparable(req, lim, ratio)
		switch {
		case !hasReq || reqV == 0:
			errs = append(errs, fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, kind, ratio.String()))
		case !hasLim || limV == 0:
			errs = append(errs, fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, kind, ratio.String()))
		default:
			observed := float64(limV) / float64(reqV)
			allowed := float64(ratio.Value())
			if ratio.Value() <= apiresource.MaxMilliValue {
				// Compare in thousandths, so that a ratio like 1.5 is honoured.
				allowed = float64(ratio.MilliValue()) / 1000
			}
			if observed > allowed {
				errs = append(errs, fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, kind, ratio.String(), observed))
			}
		}
	}
	return errs
}

// comparable returns the three quantities as integers of one scale: thousandths when they
// all fit, whole units otherwise.
func comparable(a, b, c apiresource.Quantity) (int64, int64, int64) {
	if a.Value() <= apiresource.MaxMilliValue && b.Value() <= apiresource.MaxMilliValue && c.Value() <= apiresource.MaxMilliValue {
		return a.MilliValue(), b.MilliValue(), c.MilliValue()
	}
	return a.Value(), b.Value(), c.Value()
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for name := range l {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}
