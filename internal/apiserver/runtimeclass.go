package apiserver

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kijabi/kijabi/internal/storage"
)

// The RuntimeClass admission plugin, as Kubernetes runs it on pod creation (after the
// LimitRanger and DefaultTolerationSeconds plugins): a pod naming a RuntimeClass gets the
// class's fixed overhead as spec.overhead and its scheduling constraints (node selector and
// tolerations) merged into its own; a pod naming a class that does not exist, setting an
// overhead of its own that differs from its class's, or whose node selector contradicts
// the class's, is refused.

var runtimeClassesGR = schema.GroupResource{Group: "node.k8s.io", Resource: "runtimeclasses"}

func podForbidden(pod *corev1.Pod, msg string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, pod.Name, errors.New(msg))
}

func (s *Server) admitRuntimeClass(ctx context.Context, pod *corev1.Pod) error {
	var rc *nodev1.RuntimeClass
	if name := pod.Spec.RuntimeClassName; name != nil {
		res := s.byGroupResource[runtimeClassesGR.Group+"/"+runtimeClassesGR.Resource]
		key := res.store.Key("", *name)
		// The watch cache answers for classes it has; etcd is asked when it does not know
		// the class (it may lag behind a class just created).
		if obj, ok := res.store.Cached(key); ok {
			rc = obj.(*nodev1.RuntimeClass)
		} else {
			obj, err := res.store.Get(ctx, key)
			if errors.Is(err, storage.ErrNotFound) {
				return podForbidden(pod, fmt.Sprintf("pod rejected: RuntimeClass %q not found", *name))
			}
			if err != nil {
				return storageError(err, runtimeClassesGR, *name)
			}
			rc = obj.(*nodev1.RuntimeClass)
		}
	}
	return applyRuntimeClass(pod, rc)
}

// applyRuntimeClass sets pod's overhead and merges its scheduling constraints from rc (nil
// when the pod names no class).
func applyRuntimeClass(pod *corev1.Pod, rc *nodev1.RuntimeClass) error {
	if rc == nil || rc.Overhead == nil {
		if pod.Spec.Overhead != nil {
			return podForbidden(pod, "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead")
		}
	} else {
		if pod.Spec.Overhead != nil && !equality.Semantic.DeepEqual(rc.Overhead.PodFixed, pod.Spec.Overhead) {
			return podForbidden(pod, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")
		}
		pod.Spec.Overhead = rc.Overhead.PodFixed.DeepCopy()
	}
	if rc == nil || rc.Scheduling == nil {
		return nil
	}
	selector := pod.Spec.NodeSelector
	if selector == nil {
		selector = map[string]string{}
	}
	for _, k := range sortedMapKeys(rc.Scheduling.NodeSelector) {
		v := rc.Scheduling.NodeSelector[k]
		if podValue, ok := selector[k]; ok && podValue != v {
			return podForbidden(pod, fmt.Sprintf("conflict: runtimeClass.scheduling.nodeSelector[%s] = %s; pod.spec.nodeSelector[%s] = %s", k, v, k, podValue))
		}
		selector[k] = v
	}
	if len(selector) > 0 {
		pod.Spec.NodeSelector = selector
	}
	pod.Spec.Tolerations = mergeTolerations(pod.Spec.Tolerations, rc.Scheduling.Tolerations)
	return nil
}

func sortedMapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mergeTolerations returns the pod's tolerations followed by the class's, leaving out each
// one another of them already covers (equal ones are kept once, the first).
func mergeTolerations(pod, class []corev1.Toleration) []corev1.Toleration {
	all := append(append([]corev1.Toleration(nil), pod...), class...)
	var merged []corev1.Toleration
	for i, t := range all {
		redundant := false
		for _, m := range merged {
			if covers(m, t) {
				redundant = true
				break
			}
		}
		for _, later := range all[i+1:] {
			if redundant {
				break
			}
			if !equality.Semantic.DeepEqual(t, later) && covers(later, t) {
				redundant = true
			}
		}
		if !redundant {
			merged = append(merged, t)
		}
	}
	return merged
}

// covers reports whether every taint t tolerates is tolerated by c as well.
func covers(c, t corev1.Toleration) bool {
	if equality.Semantic.DeepEqual(c, t) {
		return true
	}
	// An empty key with Exists tolerates every key.
	if t.Key != c.Key && (c.Key != "" || c.Operator != corev1.TolerationOpExists) {
		return false
	}
	// An empty effect tolerates every effect.
	if t.Effect != c.Effect && c.Effect != "" {
		return false
	}
	if c.Effect == corev1.TaintEffectNoExecute && c.TolerationSeconds != nil &&
		(t.TolerationSeconds == nil || *t.TolerationSeconds > *c.TolerationSeconds) {
		return false
	}
	switch c.Operator {
	case corev1.TolerationOpEqual, "":
		return (t.Operator == corev1.TolerationOpEqual || t.Operator == "") && t.Value == c.Value
	case corev1.TolerationOpExists:
		return true
	}
	return false
}
