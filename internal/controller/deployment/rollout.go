package deployment

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// rsSets splits the Deployment's ReplicaSets into the new one (created if create and missing)
// and the old ones, bringing the new one's revision and annotations up to date.
func (c *Controller) rsSets(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := findNewRS(d, rsList)
	oldRSs := findOldRSs(rsList, existing)
	newRS, err := c.newRS(ctx, d, existing, oldRSs, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, oldRSs, nil
}

// newRS returns the Deployment's new ReplicaSet: existing (annotations and minReadySeconds
// brought up to date, and the Deployment's revision synced with it) or, if create, a newly
// created one.
func (c *Controller) newRS(ctx context.Context, d *appsv1.Deployment, existing *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	now := c.clock.Now()
	newRevision := strconv.FormatInt(maxRevision(oldRSs)+1, 10)

	if existing != nil {
		rs := existing.DeepCopy()
		annotationsChanged := setNewReplicaSetAnnotations(d, rs, newRevision, true)
		if annotationsChanged || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			return c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
		}
		needsUpdate := setDeploymentRevision(d, rs.Annotations[RevisionAnnotation])
		if hasProgressDeadline(d) && getCondition(d.Status, appsv1.DeploymentProgressing) == nil {
			msg := fmt.Sprintf("Found new replica set %q", rs.Name)
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonFoundNewRS, msg, now))
			needsUpdate = true
		}
		if needsUpdate {
			if err := c.updateStatus(ctx, d); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}

	rs := buildNewRS(d, oldRSs, newRevision)
	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	alreadyExists := false
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExists = true
		found, getErr := c.rsLister.ReplicaSets(rs.Namespace).Get(rs.Name)
		if getErr != nil {
			return nil, getErr
		}
		if ref := metav1.GetControllerOfNoCopy(found); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &found.Spec.Template) {
			// Ours: an earlier sync created it and the cache has not caught up.
			created, err = found, nil
			break
		}
		// A hash collision: another template hashes the same. Bump collisionCount so the
		// next sync computes another name.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if uerr := c.updateStatus(ctx, d); uerr == nil {
			klog.FromContext(ctx).V(2).Info("Found a hash collision for deployment - bumping collisionCount", "deployment", klog.KObj(d), "collisionCount", *d.Status.CollisionCount)
		}
		return nil, err
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, err
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonFailedRSCreate, msg, now))
			_ = c.updateStatus(ctx, d)
		}
		c.recorder.Event(d, corev1.EventTypeWarning, reasonFailedRSCreate, msg)
		return nil, err
	}
	if !alreadyExists && replicas(rs.Spec.Replicas) > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, replicas(rs.Spec.Replicas))
	}
	needsUpdate := setDeploymentRevision(d, newRevision)
	if !alreadyExists && hasProgressDeadline(d) {
		msg := fmt.Sprintf("Created new replica set %q", created.Name)
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSCreated, msg, now))
		needsUpdate = true
	}
	if needsUpdate {
		if err := c.updateStatus(ctx, d); err != nil {
			return created, err
		}
	}
	return created, nil
}

// buildNewRS builds the Deployment's new ReplicaSet: named <deployment>-<pod-template-hash>,
// the hash added to its labels, selector and template labels, sized as far as the rollout
// allows, with the revision and replica annotations.
func buildNewRS(d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, newRevision string) *appsv1.ReplicaSet {
	template := *d.Spec.Template.DeepCopy()
	hash := computeHash(&template, d.Status.CollisionCount)
	template.Labels = withLabel(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	selector := d.Spec.Selector.DeepCopy()
	if selector.MatchLabels == nil {
		selector.MatchLabels = map[string]string{}
	}
	selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			Labels:          withLabel(template.Labels, "", ""),
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        new(int32),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), rs)
	*rs.Spec.Replicas = newRSReplicas(d, all, rs)
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	return rs
}

// withLabel copies labels and adds key=value (when key is not empty).
func withLabel(labels map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[k] = v
	}
	if key != "" {
		out[key] = value
	}
	return out
}

// setDeploymentRevision sets the Deployment's revision annotation; it reports a change.
func setDeploymentRevision(d *appsv1.Deployment, revision string) bool {
	if d.Annotations[RevisionAnnotation] == revision {
		return false
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[RevisionAnnotation] = revision
	return true
}

// scale applies a scaleAction; it returns the updated ReplicaSet and whether its size changed.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, a scaleAction) (*appsv1.ReplicaSet, bool, error) {
	rs := a.RS
	from := replicas(rs.Spec.Replicas)
	want := replicas(d.Spec.Replicas)
	maxReplicas := want + maxSurge(d)
	resize := from != a.Replicas
	if !resize && !(a.Annotate && replicasAnnotationsNeedUpdate(rs, want, maxReplicas)) {
		return rs, false, nil
	}
	cp := rs.DeepCopy()
	cp.Spec.Replicas = &a.Replicas
	setReplicasAnnotations(cp, want, maxReplicas)
	updated, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return rs, false, err
	}
	if resize {
		op := "up"
		if a.Replicas < from {
			op = "down"
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, rs.Name, from, a.Replicas)
	}
	return updated, resize, nil
}

// applyScale applies actions in order, replacing the scaled ReplicaSets in lists. It reports
// whether any size changed.
func (c *Controller) applyScale(ctx context.Context, d *appsv1.Deployment, actions []scaleAction, lists ...[]*appsv1.ReplicaSet) (bool, error) {
	changed := false
	for _, a := range actions {
		updated, resized, err := c.scale(ctx, d, a)
		if err != nil {
			return changed, err
		}
		changed = changed || resized
		replaceRS(updated, lists...)
	}
	return changed, nil
}

func replaceRS(rs *appsv1.ReplicaSet, lists ...[]*appsv1.ReplicaSet) {
	for _, l := range lists {
		for i := range l {
			if l[i] != nil && l[i].UID == rs.UID {
				l[i] = rs
			}
		}
	}
}

// syncScale resizes the ReplicaSets after the Deployment was resized (or while it is
// paused), cleans up when paused, and records the status. It rolls nothing out.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.rsSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	if _, err := c.applyScale(ctx, d, planScale(d, newRS, oldRSs), all, oldRSs); err != nil {
		return err
	}
	if newRS != nil {
		newRS = all[len(all)-1]
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncStatus(ctx, d, all, newRS)
}

// syncStatusOnly records the status of a Deployment being deleted.
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.rsSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncStatus(ctx, d, append(oldRSs, newRS), newRS)
}

// syncStatus writes calculateStatus if it changed.
func (c *Controller) syncStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := calculateStatus(d, all, newRS, c.clock.Now())
	if equality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	d.Status = st
	return c.updateStatus(ctx, d)
}

// syncRolloutStatus writes rolloutStatus if it changed, else makes sure the Deployment is
// looked at again when its progress deadline would pass.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st, after := rolloutStatus(d, all, newRS, c.clock.Now())
	if equality.Semantic.DeepEqual(d.Status, st) {
		if after >= 0 {
			key, err := cache.MetaNamespaceKeyFunc(d)
			if err == nil {
				if after < time.Second {
					c.queue.AddRateLimited(key)
				} else {
					c.queue.AddAfter(key, after)
				}
			}
		}
		return nil
	}
	d.Status = st
	return c.updateStatus(ctx, d)
}

// cleanup deletes the old ReplicaSets beyond revisionHistoryLimit.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) error {
	for _, rs := range planCleanup(d, oldRSs) {
		klog.FromContext(ctx).V(4).Info("Trying to cleanup replica set for deployment", "replicaSet", klog.KObj(rs), "deployment", klog.KObj(d))
		uid := rs.UID
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// rolloutRolling makes one step of a rolling update: grow the new ReplicaSet within
// maxSurge, else shrink old ones within maxUnavailable, else clean up once complete.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.rsSets(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)

	if n, ok := planNewRS(d, all, newRS); ok {
		updated, scaled, err := c.scale(ctx, d, scaleAction{RS: newRS, Replicas: n})
		if err != nil {
			return err
		}
		if scaled {
			newRS = updated
			all[len(all)-1] = updated
			return c.syncRolloutStatus(ctx, d, all, newRS)
		}
	}

	scaledDown, err := c.applyScale(ctx, d, planOldRSs(d, activeRSs(oldRSs), newRS), all, oldRSs)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if complete(d, &d.Status) {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// rolloutRecreate makes one step of a Recreate rollout: scale every old ReplicaSet to 0,
// wait until their pods are gone, then create and scale up the new one.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, podMap map[types.UID][]*corev1.Pod) error {
	newRS, oldRSs, err := c.rsSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)

	var down []scaleAction
	for _, rs := range activeRSs(oldRSs) {
		down = append(down, scaleAction{RS: rs, Replicas: 0})
	}
	scaledDown, err := c.applyScale(ctx, d, down, all, oldRSs)
	if err != nil {
		return err
	}
	if scaledDown || oldPodsRunning(newRS, oldRSs, podMap) {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if newRS == nil {
		if newRS, oldRSs, err = c.rsSets(ctx, d, rsList, true); err != nil {
			return err
		}
		all = append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	}
	updated, _, err := c.scale(ctx, d, scaleAction{RS: newRS, Replicas: replicas(d.Spec.Replicas)})
	if err != nil {
		return err
	}
	newRS = updated
	all[len(all)-1] = updated
	if complete(d, &d.Status) {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}
