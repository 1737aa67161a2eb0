package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxStorageClassParameters bounds the free-form parameters map.
const (
	maxStorageClassParameters    = 512
	maxStorageClassParametersLen = 256 * 1024
)

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	errs := objectMeta(&sc.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, storageClassBody(sc)...)
}

func storageClassBody(sc *storagev1.StorageClass) field.ErrorList {
	var errs field.ErrorList
	pp := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(pp, ""))
	} else {
		errs = append(errs, msgs(pp, sc.Provisioner, utilvalidation.IsQualifiedName(strings.ToLower(sc.Provisioner)))...)
	}
	total := 0
	for k, v := range sc.Parameters {
		if k == "" {
			errs = append(errs, field.Invalid(field.NewPath("parameters"), sc.Parameters, "parameter keys may not be empty"))
		}
		total += len(k) + len(v)
	}
	if len(sc.Parameters) > maxStorageClassParameters {
		errs = append(errs, field.TooMany(field.NewPath("parameters"), len(sc.Parameters), maxStorageClassParameters))
	}
	if total > maxStorageClassParametersLen {
		errs = append(errs, field.TooLong(field.NewPath("parameters"), "", maxStorageClassParametersLen))
	}
	if sc.ReclaimPolicy != nil {
		errs = append(errs, enum(*sc.ReclaimPolicy, false, field.NewPath("reclaimPolicy"), corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain)...)
	}
	if sc.VolumeBindingMode != nil {
		errs = append(errs, enum(*sc.VolumeBindingMode, false, field.NewPath("volumeBindingMode"), storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer)...)
	}
	for i, t := range sc.AllowedTopologies {
		for j, e := range t.MatchLabelExpressions {
			p := field.NewPath("allowedTopologies").Index(i).Child("matchLabelExpressions").Index(j)
			errs = append(errs, qualifiedName(e.Key, p.Child("key"))...)
			if len(e.Values) == 0 {
				errs = append(errs, field.Required(p.Child("values"), "must specify as least one value"))
			}
		}
	}
	return errs
}

// validateStorageClassUpdate: existing PVs were provisioned with these
// settings, so the class may not pretend otherwise later.
func validateStorageClassUpdate(sc, old *storagev1.StorageClass) field.ErrorList {
	errs := objectMetaUpdate(&sc.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, storageClassBody(sc)...)
	if !semanticEqual(sc.Parameters, old.Parameters) {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != old.Provisioner {
		errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if !semanticEqual(sc.ReclaimPolicy, old.ReclaimPolicy) {
		errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	return append(errs, immutable(sc.VolumeBindingMode, old.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
}
