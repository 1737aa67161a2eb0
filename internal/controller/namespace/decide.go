package namespace

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

const (
	// finalizerToken is the spec finalizer this controller owns.
	finalizerToken = corev1.FinalizerKubernetes
	// finalizerEstimateSeconds is how long we assume an object held by a finalizer takes to go.
	finalizerEstimateSeconds int64 = 15
)

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// needsFinalization reports whether ns is terminating and still waits for this controller.
func needsFinalization(ns *corev1.Namespace) bool {
	return ns.DeletionTimestamp != nil && slices.Contains(ns.Spec.Finalizers, finalizerToken)
}

// released reports whether ns is terminating and held by no finalizer at all, so that
// nothing but a last delete stands between it and its removal.
func released(ns *corev1.Namespace) bool {
	return ns.DeletionTimestamp != nil && len(ns.Spec.Finalizers) == 0 && len(ns.Finalizers) == 0
}

// withoutFinalizer returns finalizers without token, in a new slice (never nil).
func withoutFinalizer(finalizers []corev1.FinalizerName, token corev1.FinalizerName) []corev1.FinalizerName {
	out := make([]corev1.FinalizerName, 0, len(finalizers))
	for _, f := range finalizers {
		if f != token {
			out = append(out, f)
		}
	}
	return out
}

// deletableResource is a namespaced resource type whose objects the controller deletes.
type deletableResource struct {
	gvr schema.GroupVersionResource
	// list and deleteCollection tell whether discovery lists those verbs.
	list, deleteCollection bool
}

// deletableResources picks, from discovery's namespaced resource lists, the types that
// support delete (subresources left out), without duplicates and in a stable order. Lists
// whose groupVersion does not parse are skipped and reported, one error each.
func deletableResources(lists []*metav1.APIResourceList) ([]deletableResource, []error) {
	var errs []error
	seen := map[schema.GroupVersionResource]bool{}
	var out []deletableResource
	for _, rl := range lists {
		if rl == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(rl.GroupVersion)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range rl.APIResources {
			if !r.Namespaced || strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			if seen[gvr] {
				continue
			}
			seen[gvr] = true
			out = append(out, deletableResource{
				gvr:              gvr,
				list:             slices.Contains(r.Verbs, "list"),
				deleteCollection: slices.Contains(r.Verbs, "deletecollection"),
			})
		}
	}
	slices.SortFunc(out, func(a, b deletableResource) int {
		return strings.Compare(a.gvr.String(), b.gvr.String())
	})
	return out, errs
}

// gvrOutcome is what remains of one resource type after a deletion pass.
type gvrOutcome struct {
	// estimate is how many seconds to wait for what remains; 0 when nothing is known.
	estimate int64
	// remaining counts the objects still listed.
	remaining int
	// finalizers counts, per finalizer, the remaining objects it holds.
	finalizers map[string]int
}

// assessRemaining judges the objects of gvr still listed in namespace after deletion, given
// graceEstimate, the seconds graceful termination may still take (pods). Objects that remain
// with neither a grace period nor a finalizer to explain them are an error.
func assessRemaining(namespace string, gvr schema.GroupVersionResource, items []metav1.PartialObjectMetadata, graceEstimate int64) (gvrOutcome, error) {
	if len(items) == 0 {
		return gvrOutcome{}, nil
	}
	finalizers := map[string]int{}
	for _, item := range items {
		for _, f := range item.Finalizers {
			finalizers[f]++
		}
	}
	out := gvrOutcome{estimate: graceEstimate, remaining: len(items), finalizers: finalizers}
	if graceEstimate != 0 {
		return out, nil
	}
	if len(finalizers) > 0 {
		out.estimate = finalizerEstimateSeconds
		return out, nil
	}
	return gvrOutcome{remaining: len(items)}, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", namespace, gvr)
}

// podGraceEstimate is the longest termination grace period among pods that still run,
// or 0 once that much time has passed since the namespace was deleted.
func podGraceEstimate(pods []corev1.Pod, deletedAt, now time.Time) int64 {
	var estimate int64
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil && *g > estimate {
			estimate = *g
		}
	}
	if now.Sub(deletedAt) >= time.Duration(estimate)*time.Second {
		return 0
	}
	return estimate
}

// contentReport is the outcome of one pass over a namespace's content.
type contentReport struct {
	discoveryErr error
	parseErrs    []error
	deleteErrs   []error
	// estimate is the longest wait any remaining content asked for, in seconds.
	estimate int64
	// remaining counts remaining objects per resource type; finalizers per finalizer.
	remaining  map[schema.GroupVersionResource]int
	finalizers map[string]int
}

func newContentReport() *contentReport {
	return &contentReport{remaining: map[schema.GroupVersionResource]int{}, finalizers: map[string]int{}}
}

// add folds one resource type's outcome into the report.
func (r *contentReport) add(gvr schema.GroupVersionResource, o gvrOutcome, err error) {
	if err != nil {
		r.deleteErrs = append(r.deleteErrs, err)
	}
	if o.estimate > r.estimate {
		r.estimate = o.estimate
	}
	if o.remaining > 0 {
		r.remaining[gvr] += o.remaining
		for f, n := range o.finalizers {
			if n > 0 {
				r.finalizers[f] += n
			}
		}
	}
}

// err is every error of the pass, nil when there is none.
func (r *contentReport) err() error {
	var errs []error
	if r.discoveryErr != nil {
		errs = append(errs, r.discoveryErr)
	}
	errs = append(errs, r.parseErrs...)
	errs = append(errs, r.deleteErrs...)
	return utilerrors.NewAggregate(errs)
}

// contentRemainingError tells the worker to look at the namespace again after a while,
// because content is still going away.
type contentRemainingError struct {
	estimate int64
}

func (e *contentRemainingError) Error() string {
	return fmt.Sprintf("some content remains in the namespace, estimate %d seconds before it is removed", e.estimate)
}

// requeueDelay is how long to wait before looking at a namespace whose content needs
// estimate more seconds to go: half of it, plus a second.
func requeueDelay(estimate int64) time.Duration {
	if estimate < 0 {
		estimate = 0
	}
	return time.Duration(estimate/2+1) * time.Second
}
