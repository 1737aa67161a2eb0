package namespace

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
)

// conditionTypes are the namespace conditions this controller maintains, in order.
var conditionTypes = []corev1.NamespaceConditionType{
	corev1.NamespaceDeletionDiscoveryFailure,
	corev1.NamespaceDeletionGVParsingFailure,
	corev1.NamespaceDeletionContentFailure,
	corev1.NamespaceContentRemaining,
	corev1.NamespaceFinalizersRemaining,
}

// okReasons and okMessages describe each condition when nothing is wrong (status False).
var (
	okReasons = map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "ResourcesDiscovered",
		corev1.NamespaceDeletionGVParsingFailure: "ParsedGroupVersions",
		corev1.NamespaceDeletionContentFailure:   "ContentDeleted",
		corev1.NamespaceContentRemaining:         "ContentRemoved",
		corev1.NamespaceFinalizersRemaining:      "ContentHasNoFinalizers",
	}
	okMessages = map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "All resources successfully discovered",
		corev1.NamespaceDeletionGVParsingFailure: "All legacy kube types successfully parsed",
		corev1.NamespaceDeletionContentFailure:   "All content successfully deleted, may be waiting on finalization",
		corev1.NamespaceContentRemaining:         "All content successfully removed",
		corev1.NamespaceFinalizersRemaining:      "All content-preserving finalizers finished",
	}
)

// failingConditions turns a content report into the conditions that are True: one per
// kind of trouble the pass ran into. The caller fills in the "ok" ones (see mergeConditions).
func failingConditions(r *contentReport, now time.Time) []corev1.NamespaceCondition {
	ts := metav1.NewTime(now)
	var out []corev1.NamespaceCondition
	add := func(t corev1.NamespaceConditionType, reason, msg string) {
		out = append(out, corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: ts, Reason: reason, Message: msg})
	}
	if err := r.discoveryErr; err != nil {
		msg := err.Error()
		var derr *discovery.ErrGroupDiscoveryFailed
		if errors.As(err, &derr) {
			msg = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(derr.Groups), err)
		}
		add(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", msg)
	}
	if len(r.parseErrs) > 0 {
		add(corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed", joinErrors(r.parseErrs))
	}
	if len(r.deleteErrs) > 0 {
		add(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(r.deleteErrs), joinErrors(r.deleteErrs)))
	}
	var remaining []string
	for gvr, n := range r.remaining {
		if n > 0 {
			remaining = append(remaining, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
	}
	if len(remaining) > 0 {
		sort.Strings(remaining)
		add(corev1.NamespaceContentRemaining, "SomeResourcesRemain",
			fmt.Sprintf("Some resources are remaining: %s", strings.Join(remaining, ", ")))
	}
	var held []string
	for f, n := range r.finalizers {
		if n > 0 {
			held = append(held, fmt.Sprintf("%s in %d resource instances", f, n))
		}
	}
	if len(held) > 0 {
		sort.Strings(held)
		add(corev1.NamespaceFinalizersRemaining, "SomeFinalizersRemain",
			fmt.Sprintf("Some content in the namespace has finalizers remaining: %s", strings.Join(held, ", ")))
	}
	return out
}

func joinErrors(errs []error) string {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	sort.Strings(msgs)
	return strings.Join(msgs, ", ")
}

// mergeConditions sets every condition this controller maintains on status: the failing
// ones from failing, the others to their "ok" variant. A condition's lastTransitionTime
// changes only when its status does. It reports whether status changed.
func mergeConditions(status *corev1.NamespaceStatus, failing []corev1.NamespaceCondition, now time.Time) bool {
	changed := false
	for _, t := range conditionTypes {
		want := findCondition(failing, t)
		if want == nil {
			want = &corev1.NamespaceCondition{
				Type: t, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(now),
				Reason: okReasons[t], Message: okMessages[t],
			}
		}
		have := findCondition(status.Conditions, t)
		switch {
		case have == nil:
			status.Conditions = append(status.Conditions, *want)
			changed = true
		case have.Status != want.Status || have.Reason != want.Reason || have.Message != want.Message:
			if have.Status != want.Status {
				have.LastTransitionTime = metav1.NewTime(now)
			}
			have.Status, have.Reason, have.Message = want.Status, want.Reason, want.Message
			changed = true
		}
	}
	return changed
}

func findCondition(conds []corev1.NamespaceCondition, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
