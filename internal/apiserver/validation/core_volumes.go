package validation

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const volumeModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// validateVolumes checks pod volumes and returns them by name so container
// mounts can be resolved against them.
func validateVolumes(vols []corev1.Volume, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	byName := map[string]corev1.VolumeSource{}
	for i, v := range vols {
		p := fldPath.Index(i)
		namePath := p.Child("name")
		if v.Name == "" {
			errs = append(errs, field.Required(namePath, ""))
		} else {
			errs = append(errs, dns1123Label(v.Name, namePath)...)
			if _, dup := byName[v.Name]; dup {
				errs = append(errs, field.Duplicate(namePath, v.Name))
			}
		}
		errs = append(errs, validateVolumeSource(&v.VolumeSource, p)...)
		if v.Name != "" {
			if _, dup := byName[v.Name]; !dup {
				byName[v.Name] = v.VolumeSource
			}
		}
	}
	return byName, errs
}

// volumeSourceKinds lists which members of a VolumeSource are set, in field
// order; the JSON names are used in error paths.
func volumeSourceKinds(s *corev1.VolumeSource) []string {
	var set []string
	add := func(name string, isSet bool) {
		if isSet {
			set = append(set, name)
		}
	}
	add("hostPath", s.HostPath != nil)
	add("emptyDir", s.EmptyDir != nil)
	add("gcePersistentDisk", s.GCEPersistentDisk != nil)
	add("awsElasticBlockStore", s.AWSElasticBlockStore != nil)
	add("gitRepo", s.GitRepo != nil)
	add("secret", s.Secret != nil)
	add("nfs", s.NFS != nil)
	add("iscsi", s.ISCSI != nil)
	add("glusterfs", s.Glusterfs != nil)
	add("persistentVolumeClaim", s.PersistentVolumeClaim != nil)
	add("rbd", s.RBD != nil)
	add("flexVolume", s.FlexVolume != nil)
	add("cinder", s.Cinder != nil)
	add("cephfs", s.CephFS != nil)
	add("flocker", s.Flocker != nil)
	add("downwardAPI", s.DownwardAPI != nil)
	add("fc", s.FC != nil)
	add("azureFile", s.AzureFile != nil)
	add("configMap", s.ConfigMap != nil)
	add("vsphereVolume", s.VsphereVolume != nil)
	add("quobyte", s.Quobyte != nil)
	add("azureDisk", s.AzureDisk != nil)
	add("photonPersistentDisk", s.PhotonPersistentDisk != nil)
	add("projected", s.Projected != nil)
	add("portworxVolume", s.PortworxVolume != nil)
	add("scaleIO", s.ScaleIO != nil)
	add("storageos", s.StorageOS != nil)
	add("csi", s.CSI != nil)
	add("ephemeral", s.Ephemeral != nil)
	add("image", s.Image != nil)
	return set
}

func validateVolumeSource(s *corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	kinds := volumeSourceKinds(s)
	if len(kinds) == 0 {
		return field.ErrorList{field.Required(fldPath, "must specify a volume type")}
	}
	for _, k := range kinds[1:] {
		errs = append(errs, field.Forbidden(fldPath.Child(k), "may not specify more than 1 volume type"))
	}
	if s.HostPath != nil {
		p := fldPath.Child("hostPath")
		errs = append(errs, validateHostPath(s.HostPath, p)...)
	}
	if s.EmptyDir != nil {
		if sl := s.EmptyDir.SizeLimit; sl != nil && sl.Sign() < 0 {
			errs = append(errs, field.Forbidden(fldPath.Child("emptyDir", "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
	}
	if s.GitRepo != nil {
		p := fldPath.Child("gitRepo")
		if s.GitRepo.Repository == "" {
			errs = append(errs, field.Required(p.Child("repository"), ""))
		}
		errs = append(errs, localDescendingPath(s.GitRepo.Directory, p.Child("directory"))...)
	}
	if s.Secret != nil {
		p := fldPath.Child("secret")
		if s.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secretName"), ""))
		} else {
			errs = append(errs, dns1123Subdomain(s.Secret.SecretName, p.Child("secretName"))...)
		}
		errs = append(errs, fileMode(s.Secret.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, keyToPaths(s.Secret.Items, p.Child("items"))...)
	}
	if s.ConfigMap != nil {
		p := fldPath.Child("configMap")
		errs = append(errs, refName(s.ConfigMap.Name, p.Child("name"))...)
		errs = append(errs, fileMode(s.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, keyToPaths(s.ConfigMap.Items, p.Child("items"))...)
	}
	if s.NFS != nil {
		p := fldPath.Child("nfs")
		if s.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("server"), ""))
		}
		if s.NFS.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else if !path.IsAbs(s.NFS.Path) {
			errs = append(errs, field.Invalid(p.Child("path"), s.NFS.Path, "must be an absolute path"))
		}
	}
	if s.PersistentVolumeClaim != nil && s.PersistentVolumeClaim.ClaimName == "" {
		errs = append(errs, field.Required(fldPath.Child("persistentVolumeClaim", "claimName"), ""))
	}
	if s.DownwardAPI != nil {
		p := fldPath.Child("downwardAPI")
		errs = append(errs, fileMode(s.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, downwardAPIFiles(s.DownwardAPI.Items, p.Child("items"))...)
	}
	if s.Projected != nil {
		errs = append(errs, validateProjected(s.Projected, fldPath.Child("projected"))...)
	}
	if s.CSI != nil {
		p := fldPath.Child("csi")
		if s.CSI.Driver == "" {
			errs = append(errs, field.Required(p.Child("driver"), ""))
		} else {
			errs = append(errs, csiDriverName(s.CSI.Driver, p.Child("driver"))...)
		}
	}
	if s.Ephemeral != nil {
		p := fldPath.Child("ephemeral", "volumeClaimTemplate")
		if s.Ephemeral.VolumeClaimTemplate == nil {
			errs = append(errs, field.Required(p, ""))
		} else {
			t := s.Ephemeral.VolumeClaimTemplate
			errs = append(errs, labels(t.Labels, p.Child("metadata", "labels"))...)
			errs = append(errs, validateAnnotations(t.Annotations, p.Child("metadata", "annotations"))...)
			// The claim gets its name from the pod and volume, so a template
			// may not carry identity of its own.
			if t.Name != "" || t.GenerateName != "" || t.Namespace != "" {
				errs = append(errs, field.Forbidden(p.Child("metadata"), "only labels and annotations may be set"))
			}
			errs = append(errs, validatePVCSpec(&t.Spec, p.Child("spec"))...)
		}
	}
	if s.Image != nil {
		p := fldPath.Child("image")
		if s.Image.PullPolicy != "" {
			errs = append(errs, enum(s.Image.PullPolicy, false, p.Child("pullPolicy"), supportedPullPolicies...)...)
		}
	}
	return errs
}

func validateHostPath(h *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	} else {
		for _, part := range strings.Split(h.Path, "/") {
			if part == ".." {
				errs = append(errs, field.Invalid(p.Child("path"), h.Path, "must not contain '..'"))
				break
			}
		}
	}
	if h.Type != nil {
		errs = append(errs, enum(*h.Type, true, p.Child("type"),
			corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
			corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev)...)
	}
	return errs
}

func fileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0777) {
		return field.ErrorList{field.Invalid(fldPath, *mode, volumeModeErrorMsg)}
	}
	return nil
}

func keyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		p := fldPath.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(p.Child("key"), ""))
		}
		if it.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else {
			errs = append(errs, localNonReservedPath(it.Path, p.Child("path"))...)
		}
		errs = append(errs, fileMode(it.Mode, p.Child("mode"))...)
	}
	return errs
}

func downwardAPIFiles(items []corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		p := fldPath.Index(i)
		if it.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else {
			errs = append(errs, localNonReservedPath(it.Path, p.Child("path"))...)
		}
		errs = append(errs, fileMode(it.Mode, p.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef != nil:
			errs = append(errs, validateObjectFieldSelector(it.FieldRef, volumeFieldPaths, false, p.Child("fieldRef"))...)
		case it.ResourceFieldRef != nil:
			errs = append(errs, validateResourceFieldSelector(it.ResourceFieldRef, true, p.Child("resourceFieldRef"))...)
		default:
			errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

func validateProjected(pr *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := fileMode(pr.DefaultMode, fldPath.Child("defaultMode"))
	for i, src := range pr.Sources {
		p := fldPath.Child("sources").Index(i)
		var set []string
		if src.Secret != nil {
			set = append(set, "secret")
			sp := p.Child("secret")
			errs = append(errs, refName(src.Secret.Name, sp.Child("name"))...)
			errs = append(errs, keyToPaths(src.Secret.Items, sp.Child("items"))...)
		}
		if src.ConfigMap != nil {
			set = append(set, "configMap")
			cp := p.Child("configMap")
			errs = append(errs, refName(src.ConfigMap.Name, cp.Child("name"))...)
			errs = append(errs, keyToPaths(src.ConfigMap.Items, cp.Child("items"))...)
		}
		if src.DownwardAPI != nil {
			set = append(set, "downwardAPI")
			errs = append(errs, downwardAPIFiles(src.DownwardAPI.Items, p.Child("downwardAPI", "items"))...)
		}
		if t := src.ServiceAccountToken; t != nil {
			set = append(set, "serviceAccountToken")
			tp := p.Child("serviceAccountToken")
			// Short tokens churn the kubelet; absurdly long ones defeat rotation.
			if t.ExpirationSeconds != nil {
				if *t.ExpirationSeconds < 10*60 {
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				} else if *t.ExpirationSeconds > 1<<32 {
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if t.Path == "" {
				errs = append(errs, field.Required(tp.Child("path"), ""))
			} else {
				errs = append(errs, localNonReservedPath(t.Path, tp.Child("path"))...)
			}
		}
		if src.ClusterTrustBundle != nil {
			set = append(set, "clusterTrustBundle")
			cp := p.Child("clusterTrustBundle")
			if src.ClusterTrustBundle.Path == "" {
				errs = append(errs, field.Required(cp.Child("path"), ""))
			}
			if src.ClusterTrustBundle.Name == nil && src.ClusterTrustBundle.SignerName == nil {
				errs = append(errs, field.Required(cp, "either name or signerName must be specified"))
			}
		}
		if src.PodCertificate != nil {
			set = append(set, "podCertificate")
		}
		if len(set) == 0 {
			errs = append(errs, field.Required(p, "must specify exactly 1 of: `secret`, `configMap`, `downwardAPI`, `serviceAccountToken`, `clusterTrustBundle`, `podCertificate`"))
		}
		for _, k := range set[min(1, len(set)):] {
			errs = append(errs, field.Forbidden(p.Child(k), "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

// csiDriverName: CSI drivers are named like DNS subdomains, but upper-case
// letters are tolerated and the name is capped at 63 characters.
func csiDriverName(name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(name) > 63 {
		errs = append(errs, field.TooLong(fldPath, name, 63))
	}
	errs = append(errs, msgs(fldPath, name, subdomainProblems(strings.ToLower(name)))...)
	return errs
}

func subdomainProblems(s string) []string {
	var out []string
	for _, m := range dns1123Subdomain(s, field.NewPath("x")) {
		out = append(out, m.Detail)
	}
	return out
}
