package namespace

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/klog/v2"
)

// deleteAllContent makes one pass over the namespace's content: it deletes the pods first
// and, once none remain, the objects of every other deletable type, then reports what is
// left. Discovery failures are not fatal: what was discovered is still deleted.
func (c *Controller) deleteAllContent(ctx context.Context, ns *corev1.Namespace) *contentReport {
	logger := klog.FromContext(ctx)
	report := newContentReport()

	lists, err := discovery.ServerPreferredNamespacedResourcesWithContext(ctx, discovery.ToDiscoveryInterfaceWithContext(c.disco))
	if err != nil {
		report.discoveryErr = err
	}
	resources, parseErrs := deletableResources(lists)
	report.parseErrs = parseErrs

	var pods *deletableResource
	for i := range resources {
		if resources[i].gvr == podsGVR {
			pods = &resources[i]
		}
	}
	if pods != nil {
		o, err := c.deleteResource(ctx, ns, *pods)
		if err != nil {
			err = fmt.Errorf("failed to delete pods for namespace: %s, err: %w", ns.Name, err)
		}
		report.add(pods.gvr, o, err)
		if o.remaining > 0 {
			logger.V(4).Info("Pods remain, delaying the deletion of other content", "namespace", ns.Name)
			return report
		}
	}
	for _, r := range resources {
		if r.gvr == podsGVR {
			continue
		}
		o, err := c.deleteResource(ctx, ns, r)
		report.add(r.gvr, o, err)
	}
	logger.V(4).Info("Deleted namespace content", "namespace", ns.Name, "estimate", report.estimate, "remaining", len(report.remaining), "err", report.err())
	return report
}

// deleteResource deletes the namespace's objects of one type, then lists them again to see
// what remains.
func (c *Controller) deleteResource(ctx context.Context, ns *corev1.Namespace, r deletableResource) (gvrOutcome, error) {
	var grace int64
	if r.gvr == podsGVR {
		pods, err := c.client.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
		if err != nil {
			return gvrOutcome{}, err
		}
		grace = podGraceEstimate(pods.Items, ns.DeletionTimestamp.Time, c.now())
	}

	client := c.meta.Resource(r.gvr).Namespace(ns.Name)
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}

	deleted := false
	if r.deleteCollection {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
			deleted = true
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
			// Discovery promised more than the server does: fall back to one by one.
		default:
			return gvrOutcome{estimate: grace}, err
		}
	}
	if !r.list {
		// Nothing more we can do, or check, for a type we cannot list.
		return gvrOutcome{estimate: grace}, nil
	}
	if !deleted {
		list, err := client.List(ctx, metav1.ListOptions{})
		if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
			return gvrOutcome{estimate: grace}, nil
		}
		if err != nil {
			return gvrOutcome{estimate: grace}, err
		}
		for _, item := range list.Items {
			err := client.Delete(ctx, item.Name, opts)
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
				return gvrOutcome{estimate: grace}, err
			}
		}
	}

	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return gvrOutcome{estimate: grace}, nil
	}
	if err != nil {
		return gvrOutcome{estimate: grace}, err
	}
	return assessRemaining(ns.Name, r.gvr, list.Items, grace)
}
