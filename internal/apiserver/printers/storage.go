package printers

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// betaStorageClassAnnotation names a volume's or claim's class before spec.storageClassName existed;
	// it still takes precedence over the field.
	betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

func persistentVolumePrinter() Printer {
	spec := corev1.PersistentVolumeSpec{}.SwaggerDoc()
	status := corev1.PersistentVolumeStatus{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Capacity", "string", spec["capacity"]),
		column("Access Modes", "string", spec["accessModes"]),
		column("Reclaim Policy", "string", spec["persistentVolumeReclaimPolicy"]),
		column("Status", "string", status["phase"]),
		column("Claim", "string", spec["claimRef"]),
		column("StorageClass", "string", "StorageClass of the pv"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
		column("Reason", "string", status["reason"]),
		ageColumn(),
		wideColumn("VolumeMode", "string", spec["volumeMode"]),
	}, func(pv *corev1.PersistentVolume, now time.Time) []interface{} {
		claim := ""
		if ref := pv.Spec.ClaimRef; ref != nil {
			claim = ref.Namespace + "/" + ref.Name
		}
		capacity := pv.Spec.Capacity[corev1.ResourceStorage]
		phase := string(pv.Status.Phase)
		if pv.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		class := pv.Spec.StorageClassName
		if a, ok := pv.Annotations[betaStorageClassAnnotation]; ok {
			class = a
		}
		return []interface{}{
			pv.Name,
			capacity.String(),
			accessModes(pv.Spec.AccessModes),
			string(pv.Spec.PersistentVolumeReclaimPolicy),
			phase,
			claim,
			class,
			derefString(pv.Spec.VolumeAttributesClassName, unset),
			pv.Status.Reason,
			since(pv.CreationTimestamp, now),
			volumeMode(pv.Spec.VolumeMode),
		}
	})
}

func persistentVolumeClaimPrinter() Printer {
	spec := corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()
	status := corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", status["phase"]),
		column("Volume", "string", spec["volumeName"]),
		column("Capacity", "string", status["capacity"]),
		column("Access Modes", "string", status["accessModes"]),
		column("StorageClass", "string", "StorageClass of the pvc"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
		ageColumn(),
		wideColumn("VolumeMode", "string", spec["volumeMode"]),
	}, func(pvc *corev1.PersistentVolumeClaim, now time.Time) []interface{} {
		phase := string(pvc.Status.Phase)
		if pvc.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		// Capacity and access modes are only known once the claim is bound to a volume.
		capacity, modes := "", ""
		if pvc.Spec.VolumeName != "" {
			q := pvc.Status.Capacity[corev1.ResourceStorage]
			capacity = q.String()
			modes = accessModes(pvc.Status.AccessModes)
		}
		class := derefString(pvc.Spec.StorageClassName, "")
		if a, ok := pvc.Annotations[betaStorageClassAnnotation]; ok {
			class = a
		}
		return []interface{}{
			pvc.Name,
			phase,
			pvc.Spec.VolumeName,
			capacity,
			modes,
			class,
			derefString(pvc.Spec.VolumeAttributesClassName, unset),
			since(pvc.CreationTimestamp, now),
			volumeMode(pvc.Spec.VolumeMode),
		}
	})
}

// accessModes abbreviates access modes as kubectl does, in a fixed order: RWO,ROX,RWX,RWOP.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	has := map[corev1.PersistentVolumeAccessMode]bool{}
	for _, m := range modes {
		has[m] = true
	}
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has[m.mode] {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return unset
	}
	return string(*m)
}

func storageClassPrinter() Printer {
	doc := storagev1.StorageClass{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Provisioner", "string", doc["provisioner"]),
		column("ReclaimPolicy", "string", doc["reclaimPolicy"]),
		column("VolumeBindingMode", "string", doc["volumeBindingMode"]),
		column("AllowVolumeExpansion", "string", doc["allowVolumeExpansion"]),
		ageColumn(),
	}, func(sc *storagev1.StorageClass, now time.Time) []interface{} {
		name := sc.Name
		if sc.Annotations[defaultClassAnnotation] == "true" || sc.Annotations[betaDefaultClassAnnotation] == "true" {
			name += " (default)"
		}
		reclaim := string(corev1.PersistentVolumeReclaimDelete)
		if sc.ReclaimPolicy != nil {
			reclaim = string(*sc.ReclaimPolicy)
		}
		binding := string(storagev1.VolumeBindingImmediate)
		if sc.VolumeBindingMode != nil {
			binding = string(*sc.VolumeBindingMode)
		}
		expansion := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
		return []interface{}{name, sc.Provisioner, reclaim, binding, expansion, since(sc.CreationTimestamp, now)}
	})
}

func volumeAttributesClassPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("DriverName", "string", storagev1.VolumeAttributesClass{}.SwaggerDoc()["driverName"]),
		ageColumn(),
	}, func(vac *storagev1.VolumeAttributesClass, now time.Time) []interface{} {
		return []interface{}{vac.Name, vac.DriverName, since(vac.CreationTimestamp, now)}
	})
}

func volumeAttachmentPrinter() Printer {
	spec := storagev1.VolumeAttachmentSpec{}.SwaggerDoc()
	attacher := column("Attacher", "string", spec["attacher"])
	attacher.Format = "name"
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		attacher,
		column("PV", "string", storagev1.VolumeAttachmentSource{}.SwaggerDoc()["persistentVolumeName"]),
		column("Node", "string", spec["nodeName"]),
		column("Attached", "boolean", storagev1.VolumeAttachmentStatus{}.SwaggerDoc()["attached"]),
		ageColumn(),
	}, func(va *storagev1.VolumeAttachment, now time.Time) []interface{} {
		return []interface{}{
			va.Name, va.Spec.Attacher, derefString(va.Spec.Source.PersistentVolumeName, ""),
			va.Spec.NodeName, va.Status.Attached, since(va.CreationTimestamp, now),
		}
	})
}

func csiNodePrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
		ageColumn(),
	}, func(n *storagev1.CSINode, now time.Time) []interface{} {
		return []interface{}{n.Name, int64(len(n.Spec.Drivers)), since(n.CreationTimestamp, now)}
	})
}

func csiDriverPrinter() Printer {
	spec := storagev1.CSIDriverSpec{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("AttachRequired", "boolean", spec["attachRequired"]),
		column("PodInfoOnMount", "boolean", spec["podInfoOnMount"]),
		column("StorageCapacity", "boolean", spec["storageCapacity"]),
		column("TokenRequests", "string", spec["tokenRequests"]),
		column("RequiresRepublish", "boolean", spec["requiresRepublish"]),
		column("Modes", "string", spec["volumeLifecycleModes"]),
		ageColumn(),
	}, func(d *storagev1.CSIDriver, now time.Time) []interface{} {
		flag := func(b *bool, def bool) bool {
			if b == nil {
				return def
			}
			return *b
		}
		tokens := unset
		if d.Spec.TokenRequests != nil {
			audiences := make([]string, 0, len(d.Spec.TokenRequests))
			for _, t := range d.Spec.TokenRequests {
				audiences = append(audiences, t.Audience)
			}
			tokens = strings.Join(audiences, ",")
		}
		modes := make([]string, 0, len(d.Spec.VolumeLifecycleModes))
		for _, m := range d.Spec.VolumeLifecycleModes {
			modes = append(modes, string(m))
		}
		return []interface{}{
			d.Name,
			flag(d.Spec.AttachRequired, true),
			flag(d.Spec.PodInfoOnMount, false),
			flag(d.Spec.StorageCapacity, false),
			tokens,
			flag(d.Spec.RequiresRepublish, false),
			orNone(strings.Join(modes, ",")),
			since(d.CreationTimestamp, now),
		}
	})
}

func csiStorageCapacityPrinter() Printer {
	doc := storagev1.CSIStorageCapacity{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("StorageClassName", "string", doc["storageClassName"]),
		column("Capacity", "string", doc["capacity"]),
	}, func(c *storagev1.CSIStorageCapacity, _ time.Time) []interface{} {
		capacity := unset
		if c.Capacity != nil {
			capacity = c.Capacity.String()
		}
		return []interface{}{c.Name, c.StorageClassName, capacity}
	})
}
