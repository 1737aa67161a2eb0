package apiserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/storage"
)

// Pod admission, as Kubernetes' default admission plugins do it on create:
//
//   - ServiceAccount: a pod without one runs as the namespace's "default" service account,
//     and gets the projected service account token volume (serviceaccounttoken.go).
//   - Priority: spec.priority (and preemptionPolicy) come from spec.priorityClassName, or from
//     the global-default PriorityClass, or are 0.
//   - DefaultTolerationSeconds: pods tolerate the not-ready and unreachable NoExecute taints
//     for 300 seconds unless they say otherwise, so a brief node outage does not evict them.

// defaultTolerationSeconds is how long pods stay on a not-ready or unreachable node by default.
const defaultTolerationSeconds = 300

// systemPriorityClasses are the built-in classes every cluster has.
var systemPriorityClasses = []schedulingv1.PriorityClass{
	{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000,
		Description: "Used for system critical pods that must not be moved from their current node."},
	{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000,
		Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
}

func (s *Server) admitPod(ctx context.Context, pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = pod.Spec.DeprecatedServiceAccount
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
	}
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	if err := s.admitServiceAccount(ctx, pod); err != nil {
		return err
	}
	if err := s.admitPriority(ctx, pod); err != nil {
		return err
	}
	addDefaultToleration(pod, corev1.TaintNodeNotReady)
	addDefaultToleration(pod, corev1.TaintNodeUnreachable)
	return nil
}

func addDefaultToleration(pod *corev1.Pod, key string) {
	for _, t := range pod.Spec.Tolerations {
		if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") &&
			(t.Operator == corev1.TolerationOpExists || t.Key == key) {
			return
		}
	}
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
		Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute,
		TolerationSeconds: ptr.To[int64](defaultTolerationSeconds),
	})
}

var priorityClassesGR = schema.GroupResource{Group: "scheduling.k8s.io", Resource: "priorityclasses"}

func (s *Server) admitPriority(ctx context.Context, pod *corev1.Pod) error {
	res := s.byGroupResource["scheduling.k8s.io/priorityclasses"]
	var pc *schedulingv1.PriorityClass
	if name := pod.Spec.PriorityClassName; name != "" {
		obj, err := res.store.Get(ctx, res.store.Key("", name))
		if errors.Is(err, storage.ErrNotFound) {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, pod.Name, fmt.Errorf("no PriorityClass with name %s was found", name))
		}
		if err != nil {
			return storageError(err, priorityClassesGR, name)
		}
		pc = obj.(*schedulingv1.PriorityClass)
	} else {
		var err error
		if pc, err = s.defaultPriority.find(ctx, res.store); err != nil {
			return storageError(err, priorityClassesGR, "")
		}
		if pc != nil {
			pod.Spec.PriorityClassName = pc.Name
		}
	}
	value := int32(0)
	policy := corev1.PreemptLowerPriority
	if pc != nil {
		value = pc.Value
		if pc.PreemptionPolicy != nil {
			policy = *pc.PreemptionPolicy
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, pod.Name,
			errors.New("the integer value of priority must not be provided in pod spec; priority admission controller computed "+fmt.Sprint(value)+" from the given PriorityClass name"))
	}
	pod.Spec.Priority = &value
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = &policy
	}
	return nil
}

// admitClaim gives a claim without a storage class the cluster's default class (the
// DefaultStorageClass admission plugin): the newest class annotated as default.
func (s *Server) admitClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Spec.StorageClassName != nil {
		return nil
	}
	res := s.byGroupResource["storage.k8s.io/storageclasses"]
	list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{Stale: true})
	if err != nil {
		return storageError(err, res.gr, "")
	}
	var best *storagev1.StorageClass
	for _, o := range list.Items {
		sc := o.(*storagev1.StorageClass)
		if sc.Annotations[defaultClassAnnotation] != "true" && sc.Annotations[betaDefaultClassAnnotation] != "true" {
			continue
		}
		if best == nil || sc.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name) {
			best = sc
		}
	}
	if best != nil {
		name := best.Name
		pvc.Spec.StorageClassName = &name
	}
	return nil
}

const (
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// priorityDefault finds the default PriorityClass (the global default of the highest
// value), for the pods created without a class. It remembers its last answer with the keys
// and revisions of the classes it decided from: while they are those listed, it is the
// answer again, without decoding every class for every pod.
type priorityDefault struct {
	mu   sync.Mutex
	keys []string
	revs []int64
	pc   *schedulingv1.PriorityClass // shared: not to be modified
}

func (d *priorityDefault) find(ctx context.Context, store *storage.Store) (*schedulingv1.PriorityClass, error) {
	list, err := store.List(ctx, store.Prefix(""), storage.ListOptions{Stale: true, Stored: true})
	if err != nil {
		return nil, err
	}
	revs := make([]int64, len(list.Stored))
	for i, o := range list.Stored {
		revs[i] = o.Revision
	}
	d.mu.Lock()
	if slices.Equal(d.keys, list.Keys) && slices.Equal(d.revs, revs) && d.keys != nil {
		pc := d.pc
		d.mu.Unlock()
		return pc, nil
	}
	d.mu.Unlock()
	var pc *schedulingv1.PriorityClass
	for _, o := range list.Stored {
		obj, err := store.Decode(o)
		if err != nil {
			return nil, err
		}
		if c := obj.(*schedulingv1.PriorityClass); c.GlobalDefault && (pc == nil || c.Value > pc.Value) {
			pc = c
		}
	}
	d.mu.Lock()
	d.keys, d.revs, d.pc = slices.Clone(list.Keys), revs, pc
	if d.keys == nil {
		d.keys = []string{}
	}
	d.mu.Unlock()
	return pc, nil
}
