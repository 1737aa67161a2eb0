package apiserver

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kijabi/kijabi/internal/quota"
	"github.com/kijabi/kijabi/internal/storage"
)

// ResourceQuota admission, as Kubernetes' ResourceQuota plugin does it: after validation, a
// new object (or an update that grows what an object counts) is checked against every quota
// of its namespace that applies to it, and charged to their status.used in the same etcd
// transaction that checks it, so that concurrent writers cannot overrun a quota together. The
// resourcequota controller recomputes usage from the objects themselves (deletions, pods that
// finished, charges for writes that failed after admission).
//
// Refusals are 403s worded as upstream's: "exceeded quota: NAME, requested: ..., used: ...,
// limited: ...", "failed quota: NAME: must specify limits.cpu for: app", and "status unknown
// for quota: NAME, resources: ..." while the controller has not yet computed a new quota's
// usage.

var (
	servicesGR = schema.GroupResource{Resource: "services"}
	claimsGR   = schema.GroupResource{Resource: "persistentvolumeclaims"}
)

var errQuotaUnchanged = errors.New("quota unchanged")

// quotaRefusal carries a refusal out of a quota's update.
type quotaRefusal struct{ err error }

func (r *quotaRefusal) Error() string { return r.err.Error() }

// chargeQuota checks obj (replacing old, nil on create) against its namespace's quotas and,
// unless dry, records its usage in them.
func (s *Server) chargeQuota(ctx context.Context, res *resource, obj, old runtime.Object, dry bool) error {
	if !res.namespaced || res.store == nil {
		return nil
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	qres := s.coreResource("resourcequotas")
	if n, ok := qres.store.CachedLen(); ok && n == 0 {
		return nil // the common case: no quota anywhere
	}
	list, err := qres.store.List(ctx, qres.store.Prefix(a.GetNamespace()), storage.ListOptions{Stale: true})
	if err != nil {
		return storageError(err, qres.gr, "")
	}
	if len(list.Items) == 0 {
		return nil
	}
	usage := quota.Usage(res.gr, obj)
	if old != nil {
		usage = quota.Subtract(usage, quota.Usage(res.gr, old))
	}
	for _, item := range list.Items {
		q := item.(*corev1.ResourceQuota)
		if !quota.Matches(q, res.gr, obj) {
			continue
		}
		check := func(q *corev1.ResourceQuota) (corev1.ResourceList, error) {
			return quotaDelta(q, obj, old, usage)
		}
		delta, err := check(q)
		if err != nil {
			return apierrors.NewForbidden(res.gr, a.GetName(), err)
		}
		if len(delta) == 0 || dry {
			continue
		}
		_, err = qres.store.GuaranteedUpdate(ctx, qres.store.Key(q.Namespace, q.Name), false, func(current runtime.Object) (runtime.Object, error) {
			if current == nil {
				return nil, errQuotaUnchanged // deleted meanwhile: nothing to charge
			}
			cur := current.(*corev1.ResourceQuota).DeepCopy()
			delta, err := check(cur)
			if err != nil {
				return nil, &quotaRefusal{err}
			}
			if len(delta) == 0 {
				return nil, errQuotaUnchanged
			}
			cur.Status.Used = quota.Add(cur.Status.Used, delta)
			return cur, nil
		})
		var refused *quotaRefusal
		switch {
		case err == nil, errors.Is(err, errQuotaUnchanged), errors.Is(err, storage.ErrNotFound):
		case errors.As(err, &refused):
			return apierrors.NewForbidden(res.gr, a.GetName(), refused.err)
		default:
			return storageError(err, qres.gr, q.Name)
		}
	}
	return nil
}

// quotaDelta checks one quota for an object whose usage changes by usage, and returns what
// to add to the quota's status.used (empty: nothing it tracks grows). As upstream, a quota
// is enforced once the controller has written its status.hard.
func quotaDelta(q *corev1.ResourceQuota, obj, old runtime.Object, usage corev1.ResourceList) (corev1.ResourceList, error) {
	hard := q.Status.Hard
	if len(hard) == 0 {
		return nil, nil
	}
	if pod, ok := obj.(*corev1.Pod); ok && old == nil {
		if missing := quota.MissingResources(hard, pod); len(missing) > 0 {
			return nil, fmt.Errorf("failed quota: %s: must specify %s", q.Name, strings.Join(missing, "; "))
		}
	}
	tracked := quota.Mask(usage, hard)
	var unknown []string
	for name := range tracked {
		if _, ok := q.Status.Used[name]; !ok {
			unknown = append(unknown, string(name))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("status unknown for quota: %s, resources: %s", q.Name, strings.Join(unknown, ","))
	}
	grows := corev1.ResourceList{}
	for name, v := range tracked {
		if v.Sign() > 0 {
			grows[name] = v
		}
	}
	if len(grows) == 0 {
		return nil, nil
	}
	if exceeded := quota.Exceeded(q.Status.Used, hard, grows); len(exceeded) > 0 {
		names := corev1.ResourceList{}
		for _, name := range exceeded {
			names[name] = hard[name]
		}
		return nil, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s", q.Name,
			prettyResources(quota.Mask(grows, names)), prettyResources(quota.Mask(q.Status.Used, names)), prettyResources(quota.Mask(hard, names)))
	}
	return grows, nil
}

// prettyResources prints a ResourceList as upstream's quota messages do: name=value, sorted,
// comma-separated.
func prettyResources(l corev1.ResourceList) string {
	parts := make([]string, 0, len(l))
	for _, name := range sortedNames(l) {
		v := l[name]
		parts = append(parts, fmt.Sprintf("%s=%s", name, v.String()))
	}
	return strings.Join(parts, ",")
}
