package validation

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- ReplicationController ----

func validateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	errs := objectMeta(&rc.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, rcSpec(&rc.Spec)...)
}

func rcSpec(spec *corev1.ReplicationControllerSpec) field.ErrorList {
	errs := nonNegativePtr(spec.Replicas, specPath.Child("replicas"))
	errs = append(errs, nonNegative(spec.MinReadySeconds, specPath.Child("minReadySeconds"))...)
	if len(spec.Selector) == 0 {
		errs = append(errs, field.Required(specPath.Child("selector"), ""))
	} else {
		errs = append(errs, labels(spec.Selector, specPath.Child("selector"))...)
	}
	if spec.Template == nil {
		return append(errs, field.Required(specPath.Child("template"), ""))
	}
	if len(spec.Selector) > 0 {
		errs = append(errs, selectorMatchesTemplate(k8slabels.SelectorFromSet(spec.Selector), spec.Template, specPath)...)
	}
	return append(errs, alwaysRestartTemplate(spec.Template, "ReplicationController", specPath)...)
}

func validateReplicationControllerUpdate(rc, old *corev1.ReplicationController) field.ErrorList {
	errs := objectMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta)
	return append(errs, rcSpec(&rc.Spec)...)
}

func validateReplicationControllerStatusUpdate(rc, old *corev1.ReplicationController) field.ErrorList {
	errs := objectMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta)
	st, p := rc.Status, field.NewPath("status")
	errs = append(errs, nonNegative(st.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, replicaCounts(p, st.Replicas, map[string]int32{
		"fullyLabeledReplicas": st.FullyLabeledReplicas, "readyReplicas": st.ReadyReplicas, "availableReplicas": st.AvailableReplicas,
	}, "fullyLabeledReplicas", "readyReplicas", "availableReplicas")...)
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

// ---- PodTemplate ----

func validatePodTemplate(pt *corev1.PodTemplate) field.ErrorList {
	errs := objectMeta(&pt.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, validatePodTemplateSpec(&pt.Template, field.NewPath("template"))...)
}

func validatePodTemplateUpdate(pt, old *corev1.PodTemplate) field.ErrorList {
	errs := objectMetaUpdate(&pt.ObjectMeta, &old.ObjectMeta)
	return append(errs, validatePodTemplateSpec(&pt.Template, field.NewPath("template"))...)
}

// ---- Endpoints ----

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := objectMeta(&ep.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, endpointSubsets(ep.Subsets, nil)...)
}

func validateEndpointsUpdate(ep, old *corev1.Endpoints) field.ErrorList {
	errs := objectMetaUpdate(&ep.ObjectMeta, &old.ObjectMeta)
	var oldIPs []string
	for _, ss := range old.Subsets {
		for _, a := range append(append([]corev1.EndpointAddress{}, ss.Addresses...), ss.NotReadyAddresses...) {
			oldIPs = append(oldIPs, a.IP)
		}
	}
	return append(errs, endpointSubsets(ep.Subsets, oldIPs)...)
}

func endpointSubsets(subsets []corev1.EndpointSubset, oldIPs []string) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range subsets {
		p := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, endpointAddress(a, p.Child("addresses").Index(j), oldIPs)...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, endpointAddress(a, p.Child("notReadyAddresses").Index(j), oldIPs)...)
		}
		names := uniqueNames{}
		for j, port := range ss.Ports {
			pp := p.Child("ports").Index(j)
			if port.Name == "" {
				if len(ss.Ports) > 1 {
					errs = append(errs, field.Required(pp.Child("name"), ""))
				}
			} else {
				errs = append(errs, dns1123Label(port.Name, pp.Child("name"))...)
				if names.add(port.Name) {
					errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
				}
			}
			errs = append(errs, portNum(port.Port, pp.Child("port"))...)
			errs = append(errs, protocol(port.Protocol, pp.Child("protocol"))...)
		}
	}
	return errs
}

func endpointAddress(a corev1.EndpointAddress, p *field.Path, oldIPs []string) field.ErrorList {
	errs := legacyIP(a.IP, p.Child("ip"), oldIPs)
	if len(errs) == 0 {
		errs = append(errs, nonSpecialIP(a.IP, p.Child("ip"))...)
	}
	if a.Hostname != "" {
		errs = append(errs, dns1123Label(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, msgs(p.Child("nodeName"), *a.NodeName, nameIsDNSSubdomain(*a.NodeName, false))...)
	}
	return errs
}

// nonSpecialIP rejects addresses that can never be a pod or node endpoint;
// letting them through would let a user redirect a Service to the node itself.
func nonSpecialIP(ip string, p *field.Path) field.ErrorList {
	switch {
	case ip == "0.0.0.0" || ip == "::":
		return field.ErrorList{field.Invalid(p, ip, "may not be unspecified (0.0.0.0)")}
	case strings.HasPrefix(ip, "127.") || ip == "::1":
		return field.ErrorList{field.Invalid(p, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)")}
	case strings.HasPrefix(ip, "169.254.") || strings.HasPrefix(strings.ToLower(ip), "fe80:"):
		return field.ErrorList{field.Invalid(p, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")}
	case strings.HasPrefix(ip, "224.0.0.") || strings.HasPrefix(strings.ToLower(ip), "ff02:"):
		return field.ErrorList{field.Invalid(p, ip, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")}
	}
	return nil
}

// ---- Node ----

func validateNode(n *corev1.Node) field.ErrorList {
	errs := objectMeta(&n.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, nodeSpec(&n.Spec, nil)...)
}

func nodeSpec(spec *corev1.NodeSpec, old *corev1.NodeSpec) field.ErrorList {
	var errs field.ErrorList
	var oldCIDRs []string
	if old != nil {
		oldCIDRs = old.PodCIDRs
	}
	for i, c := range spec.PodCIDRs {
		errs = append(errs, legacyCIDR(c, specPath.Child("podCIDRs").Index(i), oldCIDRs)...)
	}
	if len(spec.PodCIDRs) > 2 {
		errs = append(errs, field.Invalid(specPath.Child("podCIDRs"), spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	if spec.PodCIDR != "" && len(spec.PodCIDRs) > 0 && spec.PodCIDR != spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(specPath.Child("podCIDR"), spec.PodCIDR, "must match the first entry of `podCIDRs`"))
	}
	errs = append(errs, validateTaints(spec.Taints, specPath.Child("taints"))...)
	return errs
}

func validateTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := uniqueNames{}
	for i, t := range taints {
		p := fldPath.Index(i)
		errs = append(errs, qualifiedName(t.Key, p.Child("key"))...)
		errs = append(errs, msgs(p.Child("value"), t.Value, labelValueProblems(t.Value))...)
		if t.Effect == "" {
			errs = append(errs, field.Required(p.Child("effect"), ""))
		} else {
			errs = append(errs, enum(t.Effect, false, p.Child("effect"), corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)...)
		}
		if seen.add(t.Key + "\x00" + string(t.Effect)) {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("taints must be unique by key and effect pair, found %s:%s", t.Key, t.Effect)))
		}
	}
	return errs
}

func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	errs := objectMetaUpdate(&n.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, nodeSpec(&n.Spec, &old.Spec)...)
	// The cloud provider and IPAM set these once; changing them under a
	// running node would desynchronise routes and volume attachments.
	if old.Spec.ProviderID != "" && n.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if len(old.Spec.PodCIDRs) > 0 && !semanticEqual(n.Spec.PodCIDRs, old.Spec.PodCIDRs) {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	return errs
}

func validateNodeStatusUpdate(n, old *corev1.Node) field.ErrorList {
	errs := objectMetaUpdate(&n.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	for name, q := range n.Status.Capacity {
		errs = append(errs, quantityNonNegative(q, p.Child("capacity").Key(string(name)))...)
	}
	for name, q := range n.Status.Allocatable {
		errs = append(errs, quantityNonNegative(q, p.Child("allocatable").Key(string(name)))...)
	}
	for i, a := range n.Status.Addresses {
		ap := p.Child("addresses").Index(i)
		errs = append(errs, enum(a.Type, false, ap.Child("type"),
			corev1.NodeHostName, corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeInternalDNS, corev1.NodeExternalDNS)...)
	}
	return errs
}

// ---- core/v1 Event ----

func validateCoreEvent(ev *corev1.Event) field.ErrorList {
	errs := objectMeta(&ev.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, coreEventBody(ev)...)
}

func coreEventBody(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	// Events about namespaced objects live in that object's namespace; events
	// about cluster-scoped objects go to default (or kube-system).
	ioNS := ev.InvolvedObject.Namespace
	if ioNS == "" {
		if ev.Namespace != metav1NamespaceNone && ev.Namespace != metav1NamespaceDefault && ev.Namespace != metav1NamespaceSystem {
			errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), ioNS, "does not match event.namespace"))
		}
	} else if ioNS != ev.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), ioNS, "does not match event.namespace"))
	}
	errs = append(errs, nonNegative(ev.Count, field.NewPath("count"))...)
	if ev.Type != "" && ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), ev.Type, fmt.Sprintf("has invalid value: %v", ev.Type)))
	}
	if len(ev.Action) > 128 {
		errs = append(errs, field.TooLong(field.NewPath("action"), "", 128))
	}
	if len(ev.Reason) > 128 {
		errs = append(errs, field.TooLong(field.NewPath("reason"), "", 128))
	}
	if len(ev.Message) > 1024*4 {
		errs = append(errs, field.TooLong(field.NewPath("message"), "", 1024*4))
	}
	return errs
}

func validateCoreEventUpdate(ev, old *corev1.Event) field.ErrorList {
	errs := objectMetaUpdate(&ev.ObjectMeta, &old.ObjectMeta)
	return append(errs, coreEventBody(ev)...)
}

const (
	metav1NamespaceNone    = ""
	metav1NamespaceDefault = "default"
	metav1NamespaceSystem  = "kube-system"
)

// ---- PersistentVolume ----

var supportedAccessModes = []corev1.PersistentVolumeAccessMode{
	corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod,
}

func accessModes(modes []corev1.PersistentVolumeAccessMode, requiredMsg string, fldPath *field.Path) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(fldPath, requiredMsg)}
	}
	var errs field.ErrorList
	hasRWOP := false
	for _, m := range modes {
		errs = append(errs, enum(m, false, fldPath, supportedAccessModes...)...)
		hasRWOP = hasRWOP || m == corev1.ReadWriteOncePod
	}
	// ReadWriteOncePod is a stronger promise than the others and cannot be
	// combined with them.
	if hasRWOP && len(modes) > 1 {
		errs = append(errs, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func validatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	errs := objectMeta(&pv.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, pvSpec(&pv.Spec)...)
}

func pvSpec(spec *corev1.PersistentVolumeSpec) field.ErrorList {
	errs := accessModes(spec.AccessModes, "", specPath.Child("accessModes"))
	capPath := specPath.Child("capacity")
	if len(spec.Capacity) == 0 {
		errs = append(errs, field.Required(capPath, ""))
	} else if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		errs = append(errs, field.NotSupported(capPath, spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for name, q := range spec.Capacity {
		errs = append(errs, quantityNonNegative(q, capPath.Key(string(name)))...)
	}
	errs = append(errs, enum(spec.PersistentVolumeReclaimPolicy, true, specPath.Child("persistentVolumeReclaimPolicy"),
		corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain)...)
	if spec.StorageClassName != "" {
		errs = append(errs, dns1123Subdomain(spec.StorageClassName, specPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil {
		errs = append(errs, enum(*spec.VolumeMode, false, specPath.Child("volumeMode"), corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem)...)
	}
	errs = append(errs, pvSource(&spec.PersistentVolumeSource)...)
	if spec.Local != nil && spec.NodeAffinity == nil {
		errs = append(errs, field.Required(specPath.Child("nodeAffinity"), "Local volume requires node affinity"))
	}
	if na := spec.NodeAffinity; na != nil {
		if na.Required == nil {
			errs = append(errs, field.Required(specPath.Child("nodeAffinity", "required"), "must specify required node constraints"))
		} else {
			errs = append(errs, validateNodeSelector(na.Required, specPath.Child("nodeAffinity", "required"))...)
		}
	}
	if ref := spec.ClaimRef; ref != nil && ref.Name != "" && ref.Namespace == "" {
		errs = append(errs, field.Required(specPath.Child("claimRef", "namespace"), ""))
	}
	return errs
}

// pvSource checks the exactly-one rule for persistent volume sources plus the
// required fields of the common ones.
func pvSource(s *corev1.PersistentVolumeSource) field.ErrorList {
	var set []string
	add := func(name string, isSet bool) {
		if isSet {
			set = append(set, name)
		}
	}
	add("gcePersistentDisk", s.GCEPersistentDisk != nil)
	add("awsElasticBlockStore", s.AWSElasticBlockStore != nil)
	add("hostPath", s.HostPath != nil)
	add("glusterfs", s.Glusterfs != nil)
	add("nfs", s.NFS != nil)
	add("rbd", s.RBD != nil)
	add("iscsi", s.ISCSI != nil)
	add("cinder", s.Cinder != nil)
	add("cephfs", s.CephFS != nil)
	add("fc", s.FC != nil)
	add("flocker", s.Flocker != nil)
	add("flexVolume", s.FlexVolume != nil)
	add("azureFile", s.AzureFile != nil)
	add("vsphereVolume", s.VsphereVolume != nil)
	add("quobyte", s.Quobyte != nil)
	add("azureDisk", s.AzureDisk != nil)
	add("photonPersistentDisk", s.PhotonPersistentDisk != nil)
	add("portworxVolume", s.PortworxVolume != nil)
	add("scaleIO", s.ScaleIO != nil)
	add("local", s.Local != nil)
	add("storageos", s.StorageOS != nil)
	add("csi", s.CSI != nil)
	if len(set) == 0 {
		return field.ErrorList{field.Required(specPath, "must specify a volume type")}
	}
	var errs field.ErrorList
	for _, k := range set[1:] {
		errs = append(errs, field.Forbidden(specPath.Child(k), "may not specify more than 1 volume type"))
	}
	if s.HostPath != nil {
		errs = append(errs, validateHostPath(s.HostPath, specPath.Child("hostPath"))...)
	}
	if s.NFS != nil {
		p := specPath.Child("nfs")
		if s.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("server"), ""))
		}
		if s.NFS.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else if !path.IsAbs(s.NFS.Path) {
			errs = append(errs, field.Invalid(p.Child("path"), s.NFS.Path, "must be an absolute path"))
		}
	}
	if s.Local != nil {
		if s.Local.Path == "" {
			errs = append(errs, field.Required(specPath.Child("local", "path"), ""))
		}
	}
	if s.CSI != nil {
		p := specPath.Child("csi")
		if s.CSI.Driver == "" {
			errs = append(errs, field.Required(p.Child("driver"), ""))
		} else {
			errs = append(errs, csiDriverName(s.CSI.Driver, p.Child("driver"))...)
		}
		if s.CSI.VolumeHandle == "" {
			errs = append(errs, field.Required(p.Child("volumeHandle"), ""))
		}
	}
	return errs
}

func validatePersistentVolumeUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	errs := objectMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, pvSpec(&pv.Spec)...)
	// The volume source describes real storage; pointing an existing PV at
	// different storage would silently swap a tenant's data.
	if !semanticEqual(pv.Spec.PersistentVolumeSource, old.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(specPath.Child("persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
	}
	errs = append(errs, immutable(pv.Spec.VolumeMode, old.Spec.VolumeMode, specPath.Child("volumeMode"))...)
	if old.Spec.NodeAffinity != nil {
		errs = append(errs, immutable(pv.Spec.NodeAffinity, old.Spec.NodeAffinity, specPath.Child("nodeAffinity"))...)
	}
	return errs
}

func validatePersistentVolumeStatusUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	errs := objectMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta)
	return append(errs, enum(pv.Status.Phase, true, field.NewPath("status", "phase"),
		corev1.VolumePending, corev1.VolumeAvailable, corev1.VolumeBound, corev1.VolumeReleased, corev1.VolumeFailed)...)
}

// ---- PersistentVolumeClaim ----

func validatePersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := objectMeta(&pvc.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, validatePVCSpec(&pvc.Spec, specPath)...)
}

// validatePVCSpec is shared by claims, claim templates in StatefulSets and
// generic ephemeral volumes.
func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	errs := accessModes(spec.AccessModes, "at least 1 access mode is required", fldPath.Child("accessModes"))
	errs = append(errs, labelSelector(spec.Selector, fldPath.Child("selector"))...)
	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else {
		errs = append(errs, quantityPositive(q, storagePath)...)
	}
	for name, q := range spec.Resources.Limits {
		errs = append(errs, quantityNonNegative(q, fldPath.Child("resources", "limits").Key(string(name)))...)
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		errs = append(errs, dns1123Subdomain(*spec.StorageClassName, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil {
		errs = append(errs, enum(*spec.VolumeMode, false, fldPath.Child("volumeMode"), corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem)...)
	}
	if ds := spec.DataSource; ds != nil {
		p := fldPath.Child("dataSource")
		if ds.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if ds.Kind == "" {
			errs = append(errs, field.Required(p.Child("kind"), ""))
		}
		if (ds.APIGroup == nil || *ds.APIGroup == "") && ds.Kind != "" && ds.Kind != "PersistentVolumeClaim" {
			errs = append(errs, field.Invalid(p, ds.Kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
		}
	}
	if ds := spec.DataSourceRef; ds != nil {
		p := fldPath.Child("dataSourceRef")
		if ds.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if ds.Kind == "" {
			errs = append(errs, field.Required(p.Child("kind"), ""))
		}
	}
	return errs
}

func validatePersistentVolumeClaimUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := objectMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validatePVCSpec(&pvc.Spec, specPath)...)

	oldClone, newClone := old.Spec.DeepCopy(), pvc.Spec.DeepCopy()
	// The binder fills in volumeName exactly once.
	if old.Spec.VolumeName == "" {
		oldClone.VolumeName = newClone.VolumeName
	}
	// Bound claims may be resized (expansion) and change attributes class.
	if pvc.Status.Phase == corev1.ClaimBound || old.Status.Phase == corev1.ClaimBound {
		if newClone.Resources.Requests != nil {
			if q, ok := old.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
				newClone.Resources.Requests[corev1.ResourceStorage] = q
			}
		}
		oldClone.VolumeAttributesClassName = newClone.VolumeAttributesClassName
	}
	if !semanticEqual(*newClone, *oldClone) {
		errs = append(errs, field.Forbidden(specPath, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	oldSize := old.Spec.Resources.Requests[corev1.ResourceStorage]
	newSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 {
		// Shrinking is allowed only to recover from a failed expansion, and
		// never below what is actually provisioned.
		if statusSize, ok := old.Status.Capacity[corev1.ResourceStorage]; ok {
			if newSize.Cmp(statusSize) <= 0 {
				errs = append(errs, field.Forbidden(specPath.Child("resources", "requests", "storage"), "field can not be less than status.capacity"))
			}
		} else {
			errs = append(errs, field.Forbidden(specPath.Child("resources", "requests", "storage"), "field can not be less than previous value"))
		}
	}
	return errs
}

func validatePersistentVolumeClaimStatusUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := objectMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	errs = append(errs, enum(pvc.Status.Phase, true, p.Child("phase"), corev1.ClaimPending, corev1.ClaimBound, corev1.ClaimLost)...)
	for name, q := range pvc.Status.Capacity {
		errs = append(errs, quantityNonNegative(q, p.Child("capacity").Key(string(name)))...)
	}
	return errs
}

// ---- LimitRange ----

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	errs := objectMeta(&lr.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, limitRangeSpec(&lr.Spec)...)
}

func limitRangeSpec(spec *corev1.LimitRangeSpec) field.ErrorList {
	var errs field.ErrorList
	types := uniqueNames{}
	for i, item := range spec.Limits {
		p := specPath.Child("limits").Index(i)
		if types.add(string(item.Type)) {
			errs = append(errs, field.Duplicate(p.Child("type"), item.Type))
		}
		if item.Type == "" {
			errs = append(errs, field.Required(p.Child("type"), ""))
		}
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		for _, set := range []struct {
			name string
			list corev1.ResourceList
		}{{"max", item.Max}, {"min", item.Min}, {"default", item.Default}, {"defaultRequest", item.DefaultRequest}, {"maxLimitRequestRatio", item.MaxLimitRequestRatio}} {
			for name, q := range set.list {
				errs = append(errs, quantityNonNegative(q, p.Child(set.name).Key(string(name)))...)
			}
		}
		for name, minQ := range item.Min {
			if maxQ, ok := item.Max[name]; ok && minQ.Cmp(maxQ) > 0 {
				errs = append(errs, field.Invalid(p.Child("min").Key(string(name)), minQ.String(), fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
			}
		}
		for name, def := range item.Default {
			if maxQ, ok := item.Max[name]; ok && def.Cmp(maxQ) > 0 {
				errs = append(errs, field.Invalid(p.Child("default").Key(string(name)), def.String(), fmt.Sprintf("default value %s is greater than max value %s", def.String(), maxQ.String())))
			}
			if minQ, ok := item.Min[name]; ok && minQ.Cmp(def) > 0 {
				errs = append(errs, field.Invalid(p.Child("default").Key(string(name)), def.String(), fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), def.String())))
			}
		}
		for name, req := range item.DefaultRequest {
			if def, ok := item.Default[name]; ok && req.Cmp(def) > 0 {
				errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(string(name)), req.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", req.String(), def.String())))
			}
			if maxQ, ok := item.Max[name]; ok && req.Cmp(maxQ) > 0 {
				errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(string(name)), req.String(), fmt.Sprintf("default request value %s is greater than max value %s", req.String(), maxQ.String())))
			}
		}
		for name, r := range item.MaxLimitRequestRatio {
			if r.Cmp(oneQuantity) < 0 {
				errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(string(name)), r.String(), fmt.Sprintf("ratio %s is less than 1", r.String())))
			}
		}
	}
	return errs
}

func validateLimitRangeUpdate(lr, old *corev1.LimitRange) field.ErrorList {
	errs := objectMetaUpdate(&lr.ObjectMeta, &old.ObjectMeta)
	return append(errs, limitRangeSpec(&lr.Spec)...)
}

// ---- ResourceQuota ----

func validateResourceQuota(rq *corev1.ResourceQuota) field.ErrorList {
	errs := objectMeta(&rq.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, quotaSpec(&rq.Spec)...)
}

var standardQuotaResources = map[string]bool{
	"pods": true, "services": true, "replicationcontrollers": true, "resourcequotas": true, "secrets": true,
	"configmaps": true, "persistentvolumeclaims": true, "services.nodeports": true, "services.loadbalancers": true,
	"cpu": true, "memory": true, "storage": true, "ephemeral-storage": true,
	"requests.cpu": true, "requests.memory": true, "requests.storage": true, "requests.ephemeral-storage": true,
	"limits.cpu": true, "limits.memory": true, "limits.ephemeral-storage": true,
}

// quotaResourceName accepts the built-in quota names, hugepages, and any
// domain-qualified name (extended resources and object counts).
func quotaResourceName(name string, p *field.Path) field.ErrorList {
	errs := qualifiedName(name, p)
	if len(errs) > 0 || strings.Contains(name, "/") {
		return errs
	}
	if standardQuotaResources[name] || strings.HasPrefix(name, "hugepages-") || strings.HasPrefix(name, "requests.hugepages-") {
		return nil
	}
	return field.ErrorList{field.Invalid(p, name, "must be a standard resource for quota")}
}

func quotaSpec(spec *corev1.ResourceQuotaSpec) field.ErrorList {
	var errs field.ErrorList
	for name, q := range spec.Hard {
		p := specPath.Child("hard").Key(string(name))
		errs = append(errs, quotaResourceName(string(name), p)...)
		errs = append(errs, quantityNonNegative(q, p)...)
	}
	for i, s := range spec.Scopes {
		errs = append(errs, enum(s, false, specPath.Child("scopes").Index(i), supportedQuotaScopes...)...)
	}
	if spec.ScopeSelector != nil {
		for i, r := range spec.ScopeSelector.MatchExpressions {
			p := specPath.Child("scopeSelector", "matchExpressions").Index(i)
			errs = append(errs, enum(r.ScopeName, false, p.Child("scopeName"), supportedQuotaScopes...)...)
			switch r.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(r.Values) == 0 {
					errs = append(errs, field.Required(p.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(r.Values) != 0 {
					errs = append(errs, field.Invalid(p.Child("values"), r.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				errs = append(errs, field.Invalid(p.Child("operator"), r.Operator, "not a valid selector operator"))
			}
		}
	}
	return errs
}

var supportedQuotaScopes = []corev1.ResourceQuotaScope{
	corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeBestEffort,
	corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
	corev1.ResourceQuotaScopeVolumeAttributesClass,
}

func validateResourceQuotaUpdate(rq, old *corev1.ResourceQuota) field.ErrorList {
	errs := objectMetaUpdate(&rq.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, quotaSpec(&rq.Spec)...)
	// Scopes decide which objects are counted; changing them would make the
	// recorded usage meaningless.
	return append(errs, immutable(rq.Spec.Scopes, old.Spec.Scopes, specPath.Child("scopes"))...)
}

func validateResourceQuotaStatusUpdate(rq, old *corev1.ResourceQuota) field.ErrorList {
	errs := objectMetaUpdate(&rq.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	for name, q := range rq.Status.Hard {
		errs = append(errs, quantityNonNegative(q, p.Child("hard").Key(string(name)))...)
	}
	for name, q := range rq.Status.Used {
		errs = append(errs, quantityNonNegative(q, p.Child("used").Key(string(name)))...)
	}
	return errs
}
