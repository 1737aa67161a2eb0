package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestNamespace(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}}
	checkErrs(t, ValidateCreate(ns))
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Namespace)
		want   wantErr
	}{
		{"subdomain name rejected", func(n *corev1.Namespace) { n.Name = "team.a" }, wantErr{"metadata.name", field.ErrorTypeInvalid, ""}},
		{"namespace set", func(n *corev1.Namespace) { n.Namespace = "default" }, wantErr{"metadata.namespace", field.ErrorTypeForbidden, ""}},
		{"bad finalizer", func(n *corev1.Namespace) { n.Spec.Finalizers = []corev1.FinalizerName{"cleanup"} },
			wantErr{"spec.finalizers[0]", field.ErrorTypeInvalid, "fully qualified"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := ns.DeepCopy()
			tc.mutate(n)
			checkErrs(t, ValidateCreate(n), tc.want)
		})
	}
	old := ns.DeepCopy()
	old.ResourceVersion = "1"
	old.Status.Phase = corev1.NamespaceTerminating
	upd := old.DeepCopy()
	upd.Spec.Finalizers = append(upd.Spec.Finalizers, "example.com/hold")
	checkErrs(t, ValidateUpdate(upd, old), wantErr{"spec.finalizers[1]", field.ErrorTypeForbidden, "being deleted"})
}

func TestConfigMap(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: meta("cfg", "default"), Data: map[string]string{"app.properties": "a=b"}}
	checkErrs(t, ValidateCreate(cm))
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   wantErr
	}{
		{"bad key", func(c *corev1.ConfigMap) { c.Data["bad/key"] = "x" }, wantErr{"data[bad/key]", field.ErrorTypeInvalid, ""}},
		{"key in both", func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"app.properties": nil} },
			wantErr{"data[app.properties]", field.ErrorTypeInvalid, "duplicate of key present in binaryData"}},
		{"too large", func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", corev1.MaxSecretSize) },
			wantErr{"[]", field.ErrorTypeTooLong, ""}},
		{"cluster-scoped namespace missing", func(c *corev1.ConfigMap) { c.Namespace = "" }, wantErr{"metadata.namespace", field.ErrorTypeRequired, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cm.DeepCopy()
			tc.mutate(c)
			checkErrs(t, ValidateCreate(c), tc.want)
		})
	}

	frozen := cm.DeepCopy()
	frozen.Immutable = ptr.To(true)
	changed := frozen.DeepCopy()
	changed.Data["app.properties"] = "a=c"
	checkErrs(t, ValidateUpdate(changed, frozen), wantErr{"data", field.ErrorTypeForbidden, "field is immutable when `immutable` is set"})
	unfrozen := frozen.DeepCopy()
	unfrozen.Immutable = nil
	checkErrs(t, ValidateUpdate(unfrozen, frozen), wantErr{"immutable", field.ErrorTypeForbidden, ""})
	mutable := cm.DeepCopy()
	mutable.Data["app.properties"] = "a=c"
	checkErrs(t, ValidateUpdate(mutable, cm))
}

func TestSecret(t *testing.T) {
	base := func(typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: meta("s", "default"), Type: typ, Data: data}
	}
	for _, tc := range []struct {
		name string
		s    *corev1.Secret
		want []wantErr
	}{
		{"opaque", base(corev1.SecretTypeOpaque, map[string][]byte{"password": []byte("x")}), nil},
		{"tls ok", base(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": {1}, "tls.key": {2}}), nil},
		{"tls via stringData", &corev1.Secret{ObjectMeta: meta("s", "default"), Type: corev1.SecretTypeTLS,
			StringData: map[string]string{"tls.crt": "c", "tls.key": "k"}}, nil},
		{"tls missing key", base(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": {1}}),
			[]wantErr{{"data[tls.key]", field.ErrorTypeRequired, ""}}},
		{"dockerconfigjson missing", base(corev1.SecretTypeDockerConfigJson, nil),
			[]wantErr{{"data[.dockerconfigjson]", field.ErrorTypeRequired, ""}}},
		{"dockerconfigjson invalid json", base(corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte("{")}),
			[]wantErr{{"data[.dockerconfigjson]", field.ErrorTypeInvalid, ""}}},
		{"basic-auth empty", base(corev1.SecretTypeBasicAuth, nil),
			[]wantErr{{"data[username]", field.ErrorTypeRequired, ""}, {"data[password]", field.ErrorTypeRequired, ""}}},
		{"ssh-auth empty", base(corev1.SecretTypeSSHAuth, nil), []wantErr{{"data[ssh-privatekey]", field.ErrorTypeRequired, ""}}},
		{"sa token without annotation", base(corev1.SecretTypeServiceAccountToken, nil),
			[]wantErr{{"metadata.annotations[kubernetes.io/service-account.name]", field.ErrorTypeRequired, ""}}},
		{"bad key", base(corev1.SecretTypeOpaque, map[string][]byte{"a b": nil}), []wantErr{{"data[a b]", field.ErrorTypeInvalid, ""}}},
		{"too large", base(corev1.SecretTypeOpaque, map[string][]byte{"k": make([]byte, corev1.MaxSecretSize+1)}),
			[]wantErr{{"data", field.ErrorTypeTooLong, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrs(t, ValidateCreate(tc.s), tc.want...)
		})
	}

	old := base(corev1.SecretTypeOpaque, map[string][]byte{"k": []byte("v")})
	retyped := old.DeepCopy()
	retyped.Type = corev1.SecretTypeTLS
	retyped.Data = map[string][]byte{"tls.crt": {1}, "tls.key": {2}}
	checkErrs(t, ValidateUpdate(retyped, old), wantErr{"type", field.ErrorTypeInvalid, "field is immutable"})
	old.Immutable = ptr.To(true)
	changed := old.DeepCopy()
	changed.Data["k"] = []byte("w")
	checkErrs(t, ValidateUpdate(changed, old), wantErr{"data", field.ErrorTypeForbidden, "immutable"})
}

func TestServiceAccountAndPVC(t *testing.T) {
	checkErrs(t, ValidateCreate(&corev1.ServiceAccount{ObjectMeta: meta("builder", "default")}))
	checkErrs(t, ValidateCreate(&corev1.ServiceAccount{ObjectMeta: meta("Builder", "default")}), wantErr{"metadata.name", field.ErrorTypeInvalid, ""})

	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: meta("data", "default"), Spec: validStatefulSet().Spec.VolumeClaimTemplates[0].Spec}
	checkErrs(t, ValidateCreate(pvc))
	noStorage := pvc.DeepCopy()
	noStorage.Spec.Resources.Requests = nil
	noStorage.Spec.AccessModes = nil
	checkErrs(t, ValidateCreate(noStorage),
		wantErr{"spec.resources[storage]", field.ErrorTypeRequired, ""},
		wantErr{"spec.accessModes", field.ErrorTypeRequired, "at least 1 access mode is required"})

	bound := pvc.DeepCopy()
	bound.Status.Phase = corev1.ClaimBound
	grown := bound.DeepCopy()
	grown.Spec.Resources.Requests[corev1.ResourceStorage] = mustQ("2Gi")
	checkErrs(t, ValidateUpdate(grown, bound))
	changedMode := bound.DeepCopy()
	changedMode.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	checkErrs(t, ValidateUpdate(changedMode, bound), wantErr{"spec", field.ErrorTypeForbidden, "spec is immutable after creation"})
}
