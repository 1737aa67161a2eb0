package apiserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kijabi/kijabi/internal/storage"
)

// maxDisruptedPods bounds status.disruptedPods: past it, evictions wait for the disruption
// controller to catch up.
const maxDisruptedPods = 2000

// evict deletes a pod unless that would break its PodDisruptionBudget, as Kubernetes does:
// pods that are not running (or already going) are deleted at once; a pod covered by more than
// one budget cannot be evicted; an unready pod may go while its budget is met (or always, with
// unhealthyPodEvictionPolicy AlwaysAllow); otherwise the budget must allow a disruption, which
// the eviction uses up (status.disruptionsAllowed is decremented and the pod recorded in
// status.disruptedPods) before the pod is deleted. A refusal is 429 TooManyRequests with a
// DisruptionBudget cause, which `kubectl drain` retries.
func (s *Server) evict(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions) error {
	obj, err := res.store.Get(ctx, res.store.Key(namespace, name))
	if err != nil {
		return storageError(err, res.gr, name)
	}
	pod := obj.(*corev1.Pod)
	if p := opts.Preconditions; p != nil && p.UID != nil && *p.UID != pod.UID {
		return apierrors.NewConflict(res.gr, name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, pod.UID))
	}
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded ||
		pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodPending {
		return s.deleteEvicted(ctx, res, namespace, name, opts)
	}
	pdbRes := s.byGroupResource["policy/poddisruptionbudgets"]
	list, err := pdbRes.store.List(ctx, pdbRes.store.Prefix(namespace), storage.ListOptions{})
	if err != nil {
		return storageError(err, pdbRes.gr, "")
	}
	var budgets []*policyv1.PodDisruptionBudget
	for _, o := range list.Items {
		pdb := o.(*policyv1.PodDisruptionBudget)
		if pdb.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && sel.Matches(labels.Set(pod.Labels)) {
			budgets = append(budgets, pdb)
		}
	}
	switch len(budgets) {
	case 0:
		return s.deleteEvicted(ctx, res, namespace, name, opts)
	case 1:
	default:
		return apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
	}
	pdb := budgets[0]
	if !podReady(pod) {
		if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
			return s.deleteEvicted(ctx, res, namespace, name, opts)
		}
		if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
			return s.deleteEvicted(ctx, res, namespace, name, opts)
		}
	}
	dry := len(opts.DryRun) > 0
	_, err = pdbRes.store.GuaranteedUpdate(ctx, pdbRes.store.Key(namespace, pdb.Name), false, func(current runtime.Object) (runtime.Object, error) {
		cur := current.(*policyv1.PodDisruptionBudget).DeepCopy()
		if err := useDisruption(cur, pod.Name, time.Now()); err != nil {
			return nil, err
		}
		if dry {
			return nil, errUnchanged
		}
		return cur, nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			return err
		}
		return storageError(err, pdbRes.gr, pdb.Name)
	}
	return s.deleteEvicted(ctx, res, namespace, name, opts)
}

// useDisruption takes one allowed disruption from the budget for the named pod.
func useDisruption(pdb *policyv1.PodDisruptionBudget, podName string, now time.Time) error {
	refuse := func(message string) error {
		err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: message})
		return err
	}
	switch {
	case pdb.Status.ObservedGeneration < pdb.Generation:
		return refuse(fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	case pdb.Status.DisruptionsAllowed < 0:
		return apierrors.NewForbidden(policyv1.Resource("poddisruptionbudgets"), pdb.Name, errors.New("pdb disruptions allowed is negative"))
	case len(pdb.Status.DisruptedPods) > maxDisruptedPods:
		return apierrors.NewForbidden(policyv1.Resource("poddisruptionbudgets"), pdb.Name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	case pdb.Status.DisruptionsAllowed == 0:
		return refuse(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy))
	}
	pdb.Status.DisruptionsAllowed--
	if pdb.Status.DisruptedPods == nil {
		pdb.Status.DisruptedPods = map[string]metav1.Time{}
	}
	pdb.Status.DisruptedPods[podName] = metav1.NewTime(now)
	if pdb.Status.DisruptionsAllowed == 0 {
		apimeta.SetStatusCondition(&pdb.Status.Conditions, metav1.Condition{Type: policyv1.DisruptionAllowedCondition,
			Status: metav1.ConditionFalse, Reason: policyv1.InsufficientPodsReason, ObservedGeneration: pdb.Status.ObservedGeneration,
			LastTransitionTime: metav1.NewTime(now)})
	}
	return nil
}

func (s *Server) deleteEvicted(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions) error {
	_, _, err := s.deleteObject(ctx, res, namespace, name, opts)
	return err
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
