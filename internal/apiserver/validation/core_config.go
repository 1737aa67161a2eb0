package validation

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- Namespace ----

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := objectMeta(&ns.ObjectMeta, false, apimachineryvalidation.ValidateNamespaceName)
	return append(errs, namespaceFinalizers(ns.Spec.Finalizers)...)
}

// namespaceFinalizers: spec.finalizers are either the built-in "kubernetes"
// finalizer or domain-qualified names owned by some controller.
func namespaceFinalizers(fins []corev1.FinalizerName) field.ErrorList {
	var errs field.ErrorList
	p := specPath.Child("finalizers")
	for i, f := range fins {
		s := string(f)
		fp := p.Index(i)
		errs = append(errs, apimachineryvalidation.ValidateFinalizerName(s, fp)...)
		if !strings.Contains(s, "/") && f != corev1.FinalizerKubernetes {
			errs = append(errs, field.Invalid(fp, s, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

func validateNamespaceUpdate(ns, old *corev1.Namespace) field.ErrorList {
	errs := objectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, namespaceFinalizers(ns.Spec.Finalizers)...)
	// A terminating namespace is waiting for its finalizers to drain; adding
	// new ones would keep it alive indefinitely.
	if old.Status.Phase == corev1.NamespaceTerminating || old.DeletionTimestamp != nil {
		have := map[corev1.FinalizerName]bool{}
		for _, f := range old.Spec.Finalizers {
			have[f] = true
		}
		for i, f := range ns.Spec.Finalizers {
			if !have[f] {
				errs = append(errs, field.Forbidden(specPath.Child("finalizers").Index(i), "no new finalizers can be added if the namespace is being deleted"))
			}
		}
	}
	return errs
}

func validateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	errs := objectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != "" && ns.Status.Phase != corev1.NamespaceActive {
			errs = append(errs, field.Invalid(field.NewPath("status", "Phase"), ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(field.NewPath("status", "Phase"), ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return errs
}

// ---- ConfigMap ----

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := objectMeta(&cm.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, configMapContents(cm)...)
}

func configMapContents(cm *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	total := 0
	dataPath, binPath := field.NewPath("data"), field.NewPath("binaryData")
	for k, v := range cm.Data {
		errs = append(errs, msgs(dataPath.Key(k), k, utilvalidation.IsConfigMapKey(k))...)
		if _, dup := cm.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(dataPath.Key(k), k, "duplicate of key present in binaryData"))
		}
		total += len(k) + len(v)
	}
	for k, v := range cm.BinaryData {
		errs = append(errs, msgs(binPath.Key(k), k, utilvalidation.IsConfigMapKey(k))...)
		total += len(k) + len(v)
	}
	// The limit keeps single objects from exhausting etcd request sizes and
	// kubelet memory; "" means the whole object.
	if total > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", corev1.MaxSecretSize))
	}
	return errs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	errs := objectMetaUpdate(&cm.ObjectMeta, &old.ObjectMeta)
	if isTrue(old.Immutable) {
		errs = append(errs, immutableContents(cm.Immutable, semanticEqual(cm.Data, old.Data), semanticEqual(cm.BinaryData, old.BinaryData), "binaryData")...)
	}
	return append(errs, configMapContents(cm)...)
}

// immutableContents implements the `immutable: true` contract shared by
// ConfigMaps and Secrets: the flag cannot be cleared and no data may change.
func immutableContents(newImmutable *bool, dataEqual, otherEqual bool, otherName string) field.ErrorList {
	var errs field.ErrorList
	const msg = "field is immutable when `immutable` is set"
	if !isTrue(newImmutable) {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), msg))
	}
	if !dataEqual {
		errs = append(errs, field.Forbidden(field.NewPath("data"), msg))
	}
	if !otherEqual {
		errs = append(errs, field.Forbidden(field.NewPath(otherName), msg))
	}
	return errs
}

func isTrue(b *bool) bool { return b != nil && *b }

// ---- Secret ----

func validateSecret(s *corev1.Secret) field.ErrorList {
	errs := objectMeta(&s.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, validateSecretContents(s)...)
}

// secretData merges stringData into data the way the v1 conversion does, so
// type checks see what will actually be stored.
func secretData(s *corev1.Secret) map[string][]byte {
	if len(s.StringData) == 0 {
		return s.Data
	}
	out := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		out[k] = v
	}
	for k, v := range s.StringData {
		out[k] = []byte(v)
	}
	return out
}

func validateSecretContents(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	dataPath := field.NewPath("data")
	total := 0
	for k, v := range s.Data {
		errs = append(errs, msgs(dataPath.Key(k), k, utilvalidation.IsConfigMapKey(k))...)
		total += len(v)
	}
	for k, v := range s.StringData {
		errs = append(errs, msgs(field.NewPath("stringData").Key(k), k, utilvalidation.IsConfigMapKey(k))...)
		if _, dup := s.Data[k]; !dup {
			total += len(v)
		}
	}
	if total > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(dataPath, "", corev1.MaxSecretSize))
	}

	data := secretData(s)
	requireKey := func(key string) {
		if _, ok := data[key]; !ok {
			errs = append(errs, field.Required(dataPath.Key(key), ""))
		}
	}
	requireJSON := func(key string) {
		v, ok := data[key]
		if !ok {
			errs = append(errs, field.Required(dataPath.Key(key), ""))
			return
		}
		var out map[string]interface{}
		if err := json.Unmarshal(v, &out); err != nil {
			errs = append(errs, field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error()))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		// The token controller needs to know which account the secret is for.
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(metaPath.Child("annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		requireJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		requireJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		_, hasUser := data[corev1.BasicAuthUsernameKey]
		_, hasPass := data[corev1.BasicAuthPasswordKey]
		if !hasUser && !hasPass {
			errs = append(errs, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""))
			errs = append(errs, field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		requireKey(corev1.TLSCertKey)
		requireKey(corev1.TLSPrivateKeyKey)
	case corev1.SecretTypeOpaque, "":
	default:
		// Custom types are allowed but must be a plausible type name.
		if len(s.Type) > 253 {
			errs = append(errs, field.TooLong(field.NewPath("type"), s.Type, 253))
		}
	}
	return errs
}

func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	errs := objectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, immutable(s.Type, old.Type, field.NewPath("type"))...)
	if isTrue(old.Immutable) {
		errs = append(errs, immutableContents(s.Immutable, semanticEqual(secretData(s), secretData(old)), true, "stringData")...)
	}
	return append(errs, validateSecretContents(s)...)
}

// ---- ServiceAccount ----

func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	errs := objectMeta(&sa.ObjectMeta, true, apimachineryvalidation.ValidateServiceAccountName)
	return append(errs, serviceAccountRefs(sa)...)
}

func serviceAccountRefs(sa *corev1.ServiceAccount) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sa.Secrets {
		if s.Name != "" {
			errs = append(errs, dns1123Subdomain(s.Name, field.NewPath("secrets").Index(i).Child("name"))...)
		}
	}
	for i, s := range sa.ImagePullSecrets {
		if s.Name != "" {
			errs = append(errs, dns1123Subdomain(s.Name, field.NewPath("imagePullSecrets").Index(i).Child("name"))...)
		}
	}
	return errs
}

func validateServiceAccountUpdate(sa, old *corev1.ServiceAccount) field.ErrorList {
	errs := objectMetaUpdate(&sa.ObjectMeta, &old.ObjectMeta)
	return append(errs, serviceAccountRefs(sa)...)
}
