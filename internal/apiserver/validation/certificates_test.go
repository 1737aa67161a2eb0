package validation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// testCSR returns a PEM certificate request for CN=jane and its DER.
func testCSR(t *testing.T) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), der
}

func testCert(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jane"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func csrCondition(typ certificatesv1.RequestConditionType, status corev1.ConditionStatus) certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: typ, Status: status}
}

func TestCertificateSigningRequest(t *testing.T) {
	request, der := testCSR(t)
	valid := func() *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "jane"},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request: request, SignerName: certificatesv1.KubeAPIServerClientSignerName,
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			},
		}
	}
	badSig := append([]byte(nil), der...)
	badSig[len(badSig)-1] ^= 0xff
	approved, denied, failed := certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed
	for _, tc := range []struct {
		name   string
		mutate func(*certificatesv1.CertificateSigningRequest)
		want   []wantErr
	}{
		{"valid", func(*certificatesv1.CertificateSigningRequest) {}, nil},
		{"another signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/my-signer.v2" }, nil},
		{"garbage request", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("garbage") },
			[]wantErr{{"spec.request", field.ErrorTypeInvalid, "PEM block type must be CERTIFICATE REQUEST"}}},
		{"certificate instead of request", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = testCert(t) },
			[]wantErr{{"spec.request", field.ErrorTypeInvalid, "PEM block type must be CERTIFICATE REQUEST"}}},
		{"bad signature", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: badSig})
		}, []wantErr{{"spec.request", field.ErrorTypeInvalid, ""}}},
		{"no usages", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil },
			[]wantErr{{"spec.usages", field.ErrorTypeRequired, ""}}},
		{"unknown usage", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = append(c.Spec.Usages, "flying") },
			[]wantErr{{"spec.usages[2]", field.ErrorTypeNotSupported, ""}}},
		{"duplicate usage", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = append(c.Spec.Usages, certificatesv1.UsageClientAuth)
		}, []wantErr{{"spec.usages[2]", field.ErrorTypeDuplicate, ""}}},
		{"no signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" },
			[]wantErr{{"spec.signerName", field.ErrorTypeRequired, ""}}},
		{"signer without path", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com" },
			[]wantErr{{"spec.signerName", field.ErrorTypeInvalid, "must be a fully qualified domain and path"}}},
		{"signer domain of one label", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example/signer" },
			[]wantErr{{"spec.signerName", field.ErrorTypeInvalid, "at least two segments"}}},
		{"signer with a bad path", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/Signer" },
			[]wantErr{{"spec.signerName", field.ErrorTypeInvalid, `validating label "Signer"`}}},
		{"legacy signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "kubernetes.io/legacy-unknown" },
			[]wantErr{{"spec.signerName", field.ErrorTypeInvalid, "not allowed via this API version"}}},
		{"short expiration", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To[int32](599) },
			[]wantErr{{"spec.expirationSeconds", field.ErrorTypeInvalid, "less than 600 seconds"}}},
		{"ten minutes", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To[int32](600) }, nil},
		{"approved and denied", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, csrCondition(approved, corev1.ConditionTrue), csrCondition(denied, corev1.ConditionTrue))
		}, []wantErr{{"status.conditions[1].type", field.ErrorTypeInvalid, "mutually exclusive"}}},
		{"duplicate condition", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, csrCondition(failed, corev1.ConditionTrue), csrCondition(failed, corev1.ConditionTrue))
		}, []wantErr{{"status.conditions[1].type", field.ErrorTypeDuplicate, ""}}},
		{"approved false", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, csrCondition(approved, corev1.ConditionFalse))
		}, []wantErr{{"status.conditions[0].status", field.ErrorTypeNotSupported, ""}}},
		{"other conditions may be false", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, csrCondition("Custom", corev1.ConditionFalse))
		}, nil},
		{"condition without type or status", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{})
		}, []wantErr{{"status.conditions[0].type", field.ErrorTypeRequired, ""}, {"status.conditions[0].status", field.ErrorTypeRequired, ""}}},
		{"certificate", func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = testCert(t) }, nil},
		{"certificate chain", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Certificate = append(testCert(t), testCert(t)...)
		}, nil},
		{"certificate not PEM", func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = []byte("nope") },
			[]wantErr{{"status.certificate", field.ErrorTypeInvalid, "must contain at least one CERTIFICATE PEM block"}}},
		{"certificate of another type", func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = request },
			[]wantErr{{"status.certificate", field.ErrorTypeInvalid, `only CERTIFICATE PEM blocks are allowed, found "CERTIFICATE REQUEST"`}}},
		{"no name", func(c *certificatesv1.CertificateSigningRequest) { c.Name = "" },
			[]wantErr{{"metadata.name", field.ErrorTypeRequired, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(c)
			checkErrs(t, ValidateCreate(c), tc.want...)
		})
	}
}

func TestCertificateSigningRequestUpdates(t *testing.T) {
	request, _ := testCSR(t)
	old := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "jane", ResourceVersion: "1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: request, SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}
	approvedCond := csrCondition(certificatesv1.CertificateApproved, corev1.ConditionTrue)
	approvedCond.Reason = "KubectlApprove"
	approve := func(c *certificatesv1.CertificateSigningRequest) *certificatesv1.CertificateSigningRequest {
		c = c.DeepCopy()
		c.Status.Conditions = append(c.Status.Conditions, approvedCond)
		return c
	}
	cert := testCert(t)
	issue := func(c *certificatesv1.CertificateSigningRequest) *certificatesv1.CertificateSigningRequest {
		c = c.DeepCopy()
		c.Status.Certificate = cert
		return c
	}
	approved := approve(old)
	issued := issue(approved)

	// The approval may add Approved; neither the object nor its status may.
	checkErrs(t, ValidateApprovalUpdate(approve(old), old))
	checkErrs(t, ValidateUpdate(approve(old), old), wantErr{"status.conditions", field.ErrorTypeForbidden, `updates may not add a condition of type "Approved"`})
	checkErrs(t, ValidateStatusUpdate(approve(old), old), wantErr{"status.conditions", field.ErrorTypeForbidden, `updates may not add a condition of type "Approved"`})
	// Denying an approved request is refused: they exclude each other.
	denied := approved.DeepCopy()
	denied.Status.Conditions = append(denied.Status.Conditions, csrCondition(certificatesv1.CertificateDenied, corev1.ConditionTrue))
	checkErrs(t, ValidateApprovalUpdate(denied, approved), wantErr{"status.conditions[1].type", field.ErrorTypeInvalid, "mutually exclusive"})
	// Nobody removes or changes an approval, except through the approval.
	checkErrs(t, ValidateApprovalUpdate(old, approved), wantErr{"status.conditions", field.ErrorTypeForbidden, `may not remove a condition of type "Approved"`})
	changed := approved.DeepCopy()
	changed.Status.Conditions[0].Message = "changed"
	checkErrs(t, ValidateStatusUpdate(changed, approved), wantErr{"status.conditions", field.ErrorTypeForbidden, `may not modify a condition of type "Approved"`})
	checkErrs(t, ValidateApprovalUpdate(changed, approved))

	// The certificate is set through the status, once.
	checkErrs(t, ValidateStatusUpdate(issued, approved))
	checkErrs(t, ValidateApprovalUpdate(issued, approved), wantErr{"status.certificate", field.ErrorTypeForbidden, "may not set certificate content"})
	checkErrs(t, ValidateUpdate(issued, approved), wantErr{"status.certificate", field.ErrorTypeForbidden, "may not set certificate content"})
	reissued := issued.DeepCopy()
	reissued.Status.Certificate = testCert(t)
	checkErrs(t, ValidateStatusUpdate(reissued, issued), wantErr{"status.certificate", field.ErrorTypeForbidden, "may not modify existing certificate content"})
	// A Failed condition may be added by the signer, never removed.
	failed := approved.DeepCopy()
	failed.Status.Conditions = append(failed.Status.Conditions, csrCondition(certificatesv1.CertificateFailed, corev1.ConditionTrue))
	checkErrs(t, ValidateStatusUpdate(failed, approved))
	checkErrs(t, ValidateStatusUpdate(approved, failed), wantErr{"status.conditions", field.ErrorTypeForbidden, `may not remove a condition of type "Failed"`})

	// Metadata updates of a stored request that no longer validates are still allowed for
	// the problems it has (duplicate usages here).
	legacy := old.DeepCopy()
	legacy.Spec.Usages = append(legacy.Spec.Usages, certificatesv1.UsageClientAuth)
	relabelled := legacy.DeepCopy()
	relabelled.Labels = map[string]string{"a": "b"}
	checkErrs(t, ValidateUpdate(relabelled, legacy))
	checkErrs(t, ValidateCreate(relabelled), wantErr{"spec.usages[1]", field.ErrorTypeDuplicate, ""})

	// Only requests have an approval.
	if errs := ValidateApprovalUpdate(validPod(), validPod()); len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
		t.Errorf("approval of a pod: %v", errs)
	}
}

func TestSignerName(t *testing.T) {
	p := field.NewPath("signerName")
	for name, ok := range map[string]bool{
		"kubernetes.io/kube-apiserver-client": true,
		"example.com/ns.name":                 true,
		"a.b/c":                               true,
		"":                                    false,
		"example.com":                         false,
		"example.com/a/b":                     false,
		"example/a":                           false,
		"Example.com/a":                       false,
		"example.com/-a":                      false,
		"example.com/" + strings.Repeat("a", 254): false,
	} {
		if errs := SignerName(p, name); (len(errs) == 0) != ok {
			t.Errorf("SignerName(%q) = %v, want ok %v", name, errs, ok)
		}
	}
}
