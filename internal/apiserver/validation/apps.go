package validation

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- Deployment ----

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := objectMeta(&d.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, deploymentSpec(&d.Spec, specPath)...)
}

func deploymentSpec(spec *appsv1.DeploymentSpec, fldPath *field.Path) field.ErrorList {
	errs := nonNegativePtr(spec.Replicas, fldPath.Child("replicas"))
	sel, sErrs := workloadSelector(spec.Selector, "deployment", fldPath.Child("selector"))
	errs = append(errs, sErrs...)
	errs = append(errs, selectorMatchesTemplate(sel, &spec.Template, fldPath)...)
	errs = append(errs, alwaysRestartTemplate(&spec.Template, "Deployment", fldPath)...)
	errs = append(errs, deploymentStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	errs = append(errs, nonNegative(spec.MinReadySeconds, fldPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)
	if spec.ProgressDeadlineSeconds != nil {
		pds := *spec.ProgressDeadlineSeconds
		errs = append(errs, nonNegative(pds, fldPath.Child("progressDeadlineSeconds"))...)
		// A deadline shorter than minReadySeconds could never be met.
		if pds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(fldPath.Child("progressDeadlineSeconds"), pds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func deploymentStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType, "":
		if s.RollingUpdate != nil {
			return rollingUpdateBudget(s.RollingUpdate.MaxUnavailable, s.RollingUpdate.MaxSurge, fldPath.Child("rollingUpdate"))
		}
	default:
		return field.ErrorList{field.NotSupported(fldPath.Child("type"), s.Type,
			[]appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType})}
	}
	return nil
}

// rollingUpdateBudget validates maxUnavailable/maxSurge: both int-or-percent,
// unavailability capped at 100%, and not both zero (the rollout could never
// make progress).
func rollingUpdateBudget(maxUnavailable, maxSurge *intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if maxUnavailable != nil {
		errs = append(errs, intOrPercent(*maxUnavailable, fldPath.Child("maxUnavailable"))...)
		errs = append(errs, notMoreThan100Percent(*maxUnavailable, fldPath.Child("maxUnavailable"))...)
	}
	if maxSurge != nil {
		errs = append(errs, intOrPercent(*maxSurge, fldPath.Child("maxSurge"))...)
	}
	if isZeroIntOrPercent(maxUnavailable) && (maxSurge == nil || isZeroIntOrPercent(maxSurge)) {
		errs = append(errs, field.Invalid(fldPath.Child("maxUnavailable"), maxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	return errs
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := objectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	// apps/v1 made selectors immutable: changing one orphans existing pods.
	errs = append(errs, immutable(d.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	return append(errs, deploymentSpec(&d.Spec, specPath)...)
}

func validateDeploymentStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := objectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	st, p := d.Status, field.NewPath("status")
	errs = append(errs, nonNegative(st.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, replicaCounts(p, st.Replicas, map[string]int32{
		"updatedReplicas": st.UpdatedReplicas, "readyReplicas": st.ReadyReplicas,
		"availableReplicas": st.AvailableReplicas, "unavailableReplicas": st.UnavailableReplicas,
	}, "updatedReplicas", "readyReplicas", "availableReplicas")...)
	errs = append(errs, nonNegativePtr(st.TerminatingReplicas, p.Child("terminatingReplicas"))...)
	errs = append(errs, nonNegativePtr(st.CollisionCount, p.Child("collisionCount"))...)
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

// replicaCounts checks that every count is non-negative and that the listed
// ones do not exceed status.replicas.
func replicaCounts(p *field.Path, replicas int32, counts map[string]int32, boundedByReplicas ...string) field.ErrorList {
	errs := nonNegative(replicas, p.Child("replicas"))
	for _, name := range sortedKeys(counts) {
		errs = append(errs, nonNegative(counts[name], p.Child(name))...)
	}
	for _, name := range boundedByReplicas {
		if counts[name] > replicas {
			errs = append(errs, field.Invalid(p.Child(name), counts[name], "cannot be greater than status.replicas"))
		}
	}
	return errs
}

// ---- ReplicaSet ----

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := objectMeta(&rs.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, replicaSetSpec(&rs.Spec)...)
}

func replicaSetSpec(spec *appsv1.ReplicaSetSpec) field.ErrorList {
	errs := nonNegativePtr(spec.Replicas, specPath.Child("replicas"))
	errs = append(errs, nonNegative(spec.MinReadySeconds, specPath.Child("minReadySeconds"))...)
	sel, sErrs := workloadSelector(spec.Selector, "replicaset", specPath.Child("selector"))
	errs = append(errs, sErrs...)
	errs = append(errs, selectorMatchesTemplate(sel, &spec.Template, specPath)...)
	return append(errs, alwaysRestartTemplate(&spec.Template, "ReplicaSet", specPath)...)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := objectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, immutable(rs.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	return append(errs, replicaSetSpec(&rs.Spec)...)
}

func validateReplicaSetStatusUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := objectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	st, p := rs.Status, field.NewPath("status")
	errs = append(errs, nonNegative(st.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, replicaCounts(p, st.Replicas, map[string]int32{
		"fullyLabeledReplicas": st.FullyLabeledReplicas, "readyReplicas": st.ReadyReplicas, "availableReplicas": st.AvailableReplicas,
	}, "fullyLabeledReplicas", "readyReplicas", "availableReplicas")...)
	errs = append(errs, nonNegativePtr(st.TerminatingReplicas, p.Child("terminatingReplicas"))...)
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

// ---- DaemonSet ----

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := objectMeta(&ds.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, daemonSetSpec(&ds.Spec)...)
}

func daemonSetSpec(spec *appsv1.DaemonSetSpec) field.ErrorList {
	sel, errs := workloadSelector(spec.Selector, "daemonset", specPath.Child("selector"))
	errs = append(errs, selectorMatchesTemplate(sel, &spec.Template, specPath)...)
	errs = append(errs, alwaysRestartTemplate(&spec.Template, "DaemonSet", specPath)...)
	errs = append(errs, nonNegative(spec.MinReadySeconds, specPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	us := spec.UpdateStrategy
	usPath := specPath.Child("updateStrategy")
	switch us.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType, "":
		if us.RollingUpdate != nil {
			errs = append(errs, rollingUpdateBudget(us.RollingUpdate.MaxUnavailable, us.RollingUpdate.MaxSurge, usPath.Child("rollingUpdate"))...)
		}
	default:
		errs = append(errs, field.NotSupported(usPath.Child("type"), us.Type,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.OnDeleteDaemonSetStrategyType, appsv1.RollingUpdateDaemonSetStrategyType}))
	}
	return errs
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := objectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, immutable(ds.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	return append(errs, daemonSetSpec(&ds.Spec)...)
}

func validateDaemonSetStatusUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := objectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	st, p := ds.Status, field.NewPath("status")
	for _, c := range []struct {
		name string
		v    int32
	}{
		{"currentNumberScheduled", st.CurrentNumberScheduled}, {"numberMisscheduled", st.NumberMisscheduled},
		{"desiredNumberScheduled", st.DesiredNumberScheduled}, {"numberReady", st.NumberReady},
		{"updatedNumberScheduled", st.UpdatedNumberScheduled}, {"numberAvailable", st.NumberAvailable},
		{"numberUnavailable", st.NumberUnavailable},
	} {
		errs = append(errs, nonNegative(c.v, p.Child(c.name))...)
	}
	errs = append(errs, nonNegative(st.ObservedGeneration, p.Child("observedGeneration"))...)
	return append(errs, nonNegativePtr(st.CollisionCount, p.Child("collisionCount"))...)
}

// ---- StatefulSet ----

const statefulSetUpdateForbiddenMsg = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', " +
	"'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	errs := objectMeta(&ss.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, statefulSetSpec(&ss.Spec)...)
}

func statefulSetSpec(spec *appsv1.StatefulSetSpec) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, enum(spec.PodManagementPolicy, true, specPath.Child("podManagementPolicy"),
		appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)...)
	us, usPath := spec.UpdateStrategy, specPath.Child("updateStrategy")
	switch us.Type {
	case appsv1.OnDeleteStatefulSetStrategyType:
		if us.RollingUpdate != nil {
			errs = append(errs, field.Invalid(usPath.Child("rollingUpdate"), us.RollingUpdate,
				"only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType, "":
		if ru := us.RollingUpdate; ru != nil {
			errs = append(errs, nonNegativePtr(ru.Partition, usPath.Child("rollingUpdate", "partition"))...)
			if ru.MaxUnavailable != nil {
				mp := usPath.Child("rollingUpdate", "maxUnavailable")
				errs = append(errs, intOrPercent(*ru.MaxUnavailable, mp)...)
				errs = append(errs, notMoreThan100Percent(*ru.MaxUnavailable, mp)...)
				if isZeroIntOrPercent(ru.MaxUnavailable) {
					errs = append(errs, field.Invalid(mp, ru.MaxUnavailable, "must be greater than 0"))
				}
			}
		}
	default:
		errs = append(errs, field.NotSupported(usPath.Child("type"), us.Type,
			[]appsv1.StatefulSetUpdateStrategyType{appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType}))
	}
	if pol := spec.PersistentVolumeClaimRetentionPolicy; pol != nil {
		pp := specPath.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, enum(pol.WhenDeleted, true, pp.Child("whenDeleted"), appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType)...)
		errs = append(errs, enum(pol.WhenScaled, true, pp.Child("whenScaled"), appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType)...)
	}
	errs = append(errs, nonNegativePtr(spec.Replicas, specPath.Child("replicas"))...)
	if spec.Ordinals != nil {
		errs = append(errs, nonNegative(spec.Ordinals.Start, specPath.Child("ordinals", "start"))...)
	}
	errs = append(errs, nonNegative(spec.MinReadySeconds, specPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	if spec.ServiceName != "" {
		errs = append(errs, dns1123Label(spec.ServiceName, specPath.Child("serviceName"))...)
	}
	sel, sErrs := workloadSelector(spec.Selector, "statefulset", specPath.Child("selector"))
	errs = append(errs, sErrs...)
	errs = append(errs, selectorMatchesTemplate(sel, &spec.Template, specPath)...)
	// Containers may mount the volumes the claim templates will give each pod.
	tmpl := spec.Template.DeepCopy()
	for _, t := range spec.VolumeClaimTemplates {
		found := false
		for _, v := range tmpl.Spec.Volumes {
			found = found || v.Name == t.Name
		}
		if !found && t.Name != "" {
			tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: t.Name,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: t.Name}}})
		}
	}
	errs = append(errs, alwaysRestartTemplate(tmpl, "StatefulSet", specPath)...)
	for i := range spec.VolumeClaimTemplates {
		p := specPath.Child("volumeClaimTemplates").Index(i)
		t := &spec.VolumeClaimTemplates[i]
		if t.Name == "" {
			errs = append(errs, field.Required(p.Child("metadata", "name"), ""))
		} else {
			errs = append(errs, dns1123Subdomain(t.Name, p.Child("metadata", "name"))...)
		}
		errs = append(errs, labels(t.Labels, p.Child("metadata", "labels"))...)
		errs = append(errs, validatePVCSpec(&t.Spec, p.Child("spec"))...)
	}
	return errs
}

func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	errs := objectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta)
	// Copy the mutable fields from new into old; anything left over changed
	// something immutable.
	restoreOld := old.Spec.DeepCopy()
	restoreOld.Replicas = ss.Spec.Replicas
	restoreOld.Ordinals = ss.Spec.Ordinals
	restoreOld.Template = ss.Spec.Template
	restoreOld.UpdateStrategy = ss.Spec.UpdateStrategy
	restoreOld.MinReadySeconds = ss.Spec.MinReadySeconds
	restoreOld.PersistentVolumeClaimRetentionPolicy = ss.Spec.PersistentVolumeClaimRetentionPolicy
	restoreOld.RevisionHistoryLimit = ss.Spec.RevisionHistoryLimit
	// Status and type metadata on claim templates are never user intent.
	newCopy := ss.Spec.DeepCopy()
	for _, s := range []*appsv1.StatefulSetSpec{restoreOld, newCopy} {
		for i := range s.VolumeClaimTemplates {
			s.VolumeClaimTemplates[i].Status = corev1.PersistentVolumeClaimStatus{}
			s.VolumeClaimTemplates[i].TypeMeta = metav1.TypeMeta{}
		}
	}
	if !semanticEqual(*restoreOld, *newCopy) {
		errs = append(errs, field.Forbidden(specPath, statefulSetUpdateForbiddenMsg))
	}
	return append(errs, statefulSetSpec(&ss.Spec)...)
}

func validateStatefulSetStatusUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	errs := objectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta)
	st, p := ss.Status, field.NewPath("status")
	errs = append(errs, replicaCounts(p, st.Replicas, map[string]int32{
		"readyReplicas": st.ReadyReplicas, "currentReplicas": st.CurrentReplicas,
		"updatedReplicas": st.UpdatedReplicas, "availableReplicas": st.AvailableReplicas,
	}, "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas")...)
	errs = append(errs, nonNegative(st.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, nonNegativePtr(st.CollisionCount, p.Child("collisionCount"))...)
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

// ---- ControllerRevision ----

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	errs := objectMeta(&cr.ObjectMeta, true, nameIsDNSSubdomain)
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, nonNegative(cr.Revision, field.NewPath("revision"))...)
}

// validateControllerRevisionUpdate keeps data immutable. The revision number
// stays mutable on purpose: controllers renumber an existing revision when a
// rollback re-selects it.
func validateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	errs := objectMetaUpdate(&cr.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, nonNegative(cr.Revision, field.NewPath("revision"))...)
	if string(cr.Data.Raw) != string(old.Data.Raw) || !semanticEqual(cr.Data.Object, old.Data.Object) {
		errs = append(errs, field.Invalid(field.NewPath("data"), "<data>", immutableFieldMsg))
	}
	return errs
}
