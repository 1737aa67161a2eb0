package statefulset

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"reflect"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/sets"
)

// maxRevisionNamePrefix keeps ControllerRevision names within the 253 character limit.
const maxRevisionNamePrefix = 223

// templatePatch is what a ControllerRevision stores: a strategic merge patch replacing the
// set's pod template.
func templatePatch(set *appsv1.StatefulSet) ([]byte, error) {
	raw, err := json.Marshal(set.Spec.Template)
	if err != nil {
		return nil, err
	}
	var template map[string]any
	if err := json.Unmarshal(raw, &template); err != nil {
		return nil, err
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// hashRevision hashes revision data and collision count as upstream's
// history.HashControllerRevision (FNV-32 of the data, then the decimal collision count).
func hashRevision(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	_, _ = h.Write(data)
	if collisionCount != nil {
		_, _ = h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(strconv.FormatInt(int64(h.Sum32()), 10))
}

// revisionName is the ControllerRevision name for a set and hash.
func revisionName(setName, hash string) string {
	if len(setName) > maxRevisionNamePrefix {
		setName = setName[:maxRevisionNamePrefix]
	}
	return setName + "-" + hash
}

// newRevision is the (unnamed) revision for set's current template.
func newRevision(set *appsv1.StatefulSet, revision int64) (*appsv1.ControllerRevision, error) {
	patch, err := templatePatch(set)
	if err != nil {
		return nil, err
	}
	lbls := maps.Clone(set.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     maps.Clone(set.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}, nil
}

func revisionData(rev *appsv1.ControllerRevision) []byte {
	if rev.Data.Raw != nil {
		return rev.Data.Raw
	}
	if rev.Data.Object != nil {
		b, _ := json.Marshal(rev.Data.Object)
		return b
	}
	return nil
}

// equalRevision compares revision data as JSON values.
func equalRevision(a, b *appsv1.ControllerRevision) bool {
	var x, y any
	if json.Unmarshal(revisionData(a), &x) != nil || json.Unmarshal(revisionData(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// sortRevisions orders revisions by revision number, then creation time, then name.
func sortRevisions(revs []*appsv1.ControllerRevision) {
	slices.SortStableFunc(revs, func(a, b *appsv1.ControllerRevision) int {
		if c := cmp.Compare(a.Revision, b.Revision); c != 0 {
			return c
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			if a.CreationTimestamp.Before(&b.CreationTimestamp) {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
}

// applyRevision returns a copy of set with the template stored in rev.
func applyRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	var patch struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(revisionData(rev), &patch); err != nil {
		return nil, fmt.Errorf("decoding revision %s: %w", rev.Name, err)
	}
	out := set.DeepCopy()
	out.Spec.Template = patch.Spec.Template
	return out, nil
}

// getRevisions returns the set's current revision (status.currentRevision, or the update
// revision when there is none), its update revision (the revision of the current template:
// created, or an equal older revision brought forward by bumping its number — a rollback)
// and the collision count to report. revs must be sorted.
func (c *Controller) getRevisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	next := int64(1)
	if len(revs) > 0 {
		next = revs[len(revs)-1].Revision + 1
	}
	update, err = newRevision(set, next)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range revs {
		if equalRevision(r, update) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equalRevision(revs[len(revs)-1], equal[len(equal)-1]):
		update = revs[len(revs)-1]
	case len(equal) > 0:
		upd := equal[len(equal)-1].DeepCopy()
		upd.Revision = next
		update, err = c.client.AppsV1().ControllerRevisions(set.Namespace).Update(ctx, upd, metav1.UpdateOptions{})
	default:
		update, err = c.createRevision(ctx, set, update, &collisionCount)
	}
	if err != nil {
		return nil, nil, collisionCount, err
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update, collisionCount, nil
}

// createRevision creates rev named after its hash; a name taken by a revision with other
// data is a hash collision: the collision count goes up and the next name is tried.
func (c *Controller) createRevision(ctx context.Context, set *appsv1.StatefulSet, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	revs := c.client.AppsV1().ControllerRevisions(set.Namespace)
	for range 100 {
		clone := rev.DeepCopy()
		hash := hashRevision(revisionData(clone), collisionCount)
		clone.Name = revisionName(set.Name, hash)
		clone.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
		created, err := revs.Create(ctx, clone, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return created, err
		}
		existing, err := revs.Get(ctx, clone.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if equalRevision(existing, clone) {
			return existing, nil
		}
		*collisionCount++
	}
	return nil, fmt.Errorf("statefulset %s/%s: too many revision hash collisions", set.Namespace, set.Name)
}

// revisionsToDelete picks the oldest revisions beyond limit that are neither the current nor
// the update revision nor carried by any pod. revs must be sorted.
func revisionsToDelete(revs []*appsv1.ControllerRevision, pods []*corev1.Pod, current, update string, limit int) []string {
	live := sets.New(current, update)
	for _, p := range pods {
		if r := revisionOf(p); r != "" {
			live.Insert(r)
		}
	}
	var history []string
	for _, r := range revs {
		if !live.Has(r.Name) {
			history = append(history, r.Name)
		}
	}
	if len(history) <= limit {
		return nil
	}
	return history[:len(history)-limit]
}
