package validation

import (
	"strings"

	storagev1 "k8s.io/api/storage/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- storage.k8s.io/v1 CSIStorageCapacity ----

func validateCSIStorageCapacity(c *storagev1.CSIStorageCapacity) field.ErrorList {
	errs := objectMeta(&c.ObjectMeta, true, nameIsDNSSubdomain)
	errs = append(errs, metav1validation.ValidateLabelSelector(c.NodeTopology, noLabelSelectorOpts, field.NewPath("nodeTopology"))...)
	errs = append(errs, msgs(field.NewPath("storageClassName"), c.StorageClassName, nameIsDNSSubdomain(c.StorageClassName, false))...)
	if c.Capacity != nil {
		errs = append(errs, quantityNonNegative(*c.Capacity, field.NewPath("capacity"))...)
	}
	if c.MaximumVolumeSize != nil {
		errs = append(errs, quantityNonNegative(*c.MaximumVolumeSize, field.NewPath("maximumVolumeSize"))...)
	}
	return errs
}

// validateCSIStorageCapacityUpdate: the topology and class are the inputs of the driver's
// GetCapacity call; only its results may change.
func validateCSIStorageCapacityUpdate(c, old *storagev1.CSIStorageCapacity) field.ErrorList {
	errs := validateCSIStorageCapacity(c)
	errs = append(errs, objectMetaUpdate(&c.ObjectMeta, &old.ObjectMeta)...)
	errs = append(errs, immutable(c.NodeTopology, old.NodeTopology, field.NewPath("nodeTopology"))...)
	return append(errs, immutable(c.StorageClassName, old.StorageClassName, field.NewPath("storageClassName"))...)
}

// ---- storage.k8s.io/v1 VolumeAttributesClass ----

func validateVolumeAttributesClass(vac *storagev1.VolumeAttributesClass) field.ErrorList {
	errs := objectMeta(&vac.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, volumeAttributesClassBody(vac)...)
}

func volumeAttributesClassBody(vac *storagev1.VolumeAttributesClass) field.ErrorList {
	var errs field.ErrorList
	dp := field.NewPath("driverName")
	if vac.DriverName == "" {
		errs = append(errs, field.Required(dp, ""))
	} else {
		errs = append(errs, msgs(dp, vac.DriverName, utilvalidation.IsQualifiedName(strings.ToLower(vac.DriverName)))...)
	}
	pp := field.NewPath("parameters")
	if len(vac.Parameters) > maxStorageClassParameters {
		return append(errs, field.TooLong(pp, "Provisioner Parameters exceeded max allowed", maxStorageClassParameters))
	}
	total := 0
	for k, v := range vac.Parameters {
		if k == "" {
			errs = append(errs, field.Invalid(pp, k, "field can not be empty."))
		}
		total += len(k) + len(v)
	}
	if total > maxStorageClassParametersLen {
		errs = append(errs, field.TooLong(pp, "", maxStorageClassParametersLen))
	}
	if len(vac.Parameters) == 0 {
		errs = append(errs, field.Required(pp, "must contain at least one key/value pair"))
	}
	return errs
}

// validateVolumeAttributesClassUpdate: volumes were modified with these attributes, so the
// class may not change them.
func validateVolumeAttributesClassUpdate(vac, old *storagev1.VolumeAttributesClass) field.ErrorList {
	errs := objectMetaUpdate(&vac.ObjectMeta, &old.ObjectMeta)
	if vac.DriverName != old.DriverName {
		errs = append(errs, field.Forbidden(field.NewPath("driverName"), "updates to driverName are forbidden."))
	}
	if !semanticEqual(vac.Parameters, old.Parameters) {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	return errs
}
