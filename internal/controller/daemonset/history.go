package daemonset

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"reflect"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// maxRevisionNamePrefix keeps ControllerRevision names within the 253 character limit.
const maxRevisionNamePrefix = 223

// computeHash hashes the pod template and collision count as upstream's controller.ComputeHash
// does (FNV-32a over a deterministic dump of the template, then the collision count), encoded
// with only safe characters.
func computeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(dump.ForHash(template)))
	if collisionCount != nil {
		b := make([]byte, 4)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		_, _ = h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revisionName is the ControllerRevision name for a DaemonSet and hash.
func revisionName(dsName, hash string) string {
	if len(dsName) > maxRevisionNamePrefix {
		dsName = dsName[:maxRevisionNamePrefix]
	}
	return dsName + "-" + hash
}

// templatePatch is what a ControllerRevision stores: a strategic merge patch replacing the
// DaemonSet's pod template.
func templatePatch(ds *appsv1.DaemonSet) ([]byte, error) {
	raw, err := json.Marshal(ds.Spec.Template)
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

// revisionMatches reports whether the revision stores ds's current template (compared as
// JSON values, so formatting does not matter).
func revisionMatches(ds *appsv1.DaemonSet, rev *appsv1.ControllerRevision) bool {
	want, err := templatePatch(ds)
	if err != nil {
		return false
	}
	return jsonEqual(want, revisionData(rev))
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

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// constructHistory returns the ControllerRevision for ds's current template (creating it, or
// bumping its revision number when rolling back to it) and the other revisions ds owns.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	histories, err := c.claimRevisions(ctx, ds, selector)
	if err != nil {
		return nil, nil, err
	}
	var current, old []*appsv1.ControllerRevision
	for _, h := range histories {
		if revisionMatches(ds, h) {
			current = append(current, h)
		} else {
			old = append(old, h)
		}
	}
	next := int64(1)
	for _, h := range old {
		next = max(next, h.Revision+1)
	}
	if len(current) == 0 {
		cur, err := c.snapshot(ctx, ds, next)
		return cur, old, err
	}
	// Keep the newest of several equal revisions (there should be one).
	slices.SortFunc(current, func(a, b *appsv1.ControllerRevision) int { return int(b.Revision - a.Revision) })
	cur := current[0]
	for _, dup := range current[1:] {
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, dup.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &dup.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, nil, err
		}
	}
	if cur.Revision < next {
		upd := cur.DeepCopy()
		upd.Revision = next
		if cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return nil, nil, err
		}
	}
	return cur, old, nil
}

// snapshot creates the ControllerRevision for ds's current template. A name clash with a
// revision of different content bumps status.collisionCount (and fails, to retry).
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, revision int64) (*appsv1.ControllerRevision, error) {
	patch, err := templatePatch(ds)
	if err != nil {
		return nil, err
	}
	hash := computeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := maps.Clone(ds.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            revisionName(ds.Name, hash),
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     maps.Clone(ds.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}
	revs := c.client.AppsV1().ControllerRevisions(ds.Namespace)
	created, err := revs.Create(ctx, rev, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return created, err
	}
	existing, err := revs.Get(ctx, rev.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if ref := metav1.GetControllerOfNoCopy(existing); ref != nil && ref.UID == ds.UID && revisionMatches(ds, existing) {
		return existing, nil
	}
	// A hash collision: bump the collision count so the next attempt gets another name.
	fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if fresh.UID != ds.UID {
		return nil, fmt.Errorf("daemonset %s/%s was replaced", ds.Namespace, ds.Name)
	}
	n := int32(0)
	if fresh.Status.CollisionCount != nil {
		n = *fresh.Status.CollisionCount
	}
	n++
	fresh.Status.CollisionCount = &n
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("found a hash collision for daemonset %s/%s, bumping collisionCount to %d", ds.Namespace, ds.Name, n)
}

// claimRevisions adopts orphaned revisions matching ds's selector and returns those ds owns.
func (c *Controller) claimRevisions(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revLister.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controllerutil.Claim(ctx, controllerutil.Claimer{
		Owner:     ds,
		OwnerKind: controllerKind,
		Selector:  selector,
		CanAdopt:  c.canAdopt(ds),
		Patch: func(ctx context.Context, namespace, name string, patch []byte) error {
			_, err := c.client.AppsV1().ControllerRevisions(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}, all)
}

// cleanupHistory deletes the oldest old revisions beyond spec.revisionHistoryLimit that no
// live pod still runs.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, pods []*corev1.Pod, old []*appsv1.ControllerRevision) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	for _, name := range revisionsToDelete(old, pods, limit) {
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// revisionsToDelete picks, oldest first, the old revisions beyond limit whose hash no pod
// carries.
func revisionsToDelete(old []*appsv1.ControllerRevision, pods []*corev1.Pod, limit int) []string {
	toKill := len(old) - limit
	if toKill <= 0 {
		return nil
	}
	live := sets.New[string]()
	for _, p := range pods {
		if h, ok := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; ok {
			live.Insert(h)
		}
	}
	sorted := slices.Clone(old)
	slices.SortFunc(sorted, func(a, b *appsv1.ControllerRevision) int { return int(a.Revision - b.Revision) })
	var out []string
	for _, h := range sorted {
		if toKill == 0 {
			break
		}
		if live.Has(h.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]) {
			continue
		}
		out = append(out, h.Name)
		toKill--
	}
	return out
}
