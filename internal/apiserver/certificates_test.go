package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/auth"
)

// signerAuthorizer allows verbs on signers by exact name, as listed.
type signerAuthorizer struct {
	allowed map[string]bool // "verb signerName"
	asked   []string
}

func (a *signerAuthorizer) Authorize(attrs auth.Attributes) (bool, string) {
	if attrs.Group != certificatesv1.GroupName || attrs.Resource != "signers" {
		return false, "not a signer"
	}
	key := attrs.Verb + " " + attrs.Name
	a.asked = append(a.asked, key)
	return a.allowed[key], ""
}

func testRequest(t *testing.T, orgs ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestCSRCreateRecordsTheRequestor(t *testing.T) {
	s := &Server{cfg: Config{Authorizer: auth.AllowAll{}}}
	alice := &auth.User{Name: "alice", UID: "42", Groups: []string{"devs", auth.GroupAuthenticated}, Extra: map[string][]string{"scopes": {"a", "b"}}}
	ctx := context.WithValue(context.Background(), userKey, alice)
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "jane"},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: testRequest(t, "dev"), SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Username: "mallory", Groups: []string{auth.GroupMasters}, UID: "0", Extra: map[string]certificatesv1.ExtraValue{"x": {"y"}}},
		Status: certificatesv1.CertificateSigningRequestStatus{Certificate: []byte("forged"),
			Conditions: []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}},
	}
	if err := s.admitCSRCreate(ctx, csr); err != nil {
		t.Fatal(err)
	}
	sp := csr.Spec
	if sp.Username != "alice" || sp.UID != "42" || len(sp.Groups) != 2 || sp.Groups[0] != "devs" ||
		len(sp.Extra) != 1 || strings.Join(sp.Extra["scopes"], ",") != "a,b" {
		t.Errorf("requestor: %+v", sp)
	}
	if len(csr.Status.Certificate) > 0 || len(csr.Status.Conditions) > 0 {
		t.Errorf("status kept: %+v", csr.Status)
	}
	// Changing the user afterwards does not change the request.
	alice.Groups[0] = "changed"
	if sp.Groups[0] != "devs" {
		t.Error("groups share the user's slice")
	}

	// Client certificates for system:masters are refused; for other signers they are the
	// signer's business.
	csr.Spec.Request = testRequest(t, "dev", auth.GroupMasters)
	if err := s.admitCSRCreate(ctx, csr); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed") {
		t.Errorf("system:masters: %v", err)
	}
	csr.Spec.SignerName = "example.com/signer"
	if err := s.admitCSRCreate(ctx, csr); err != nil {
		t.Errorf("system:masters for another signer: %v", err)
	}
}

func TestCSRWritesNeedTheSigner(t *testing.T) {
	authz := &signerAuthorizer{allowed: map[string]bool{
		"approve kubernetes.io/kube-apiserver-client": true,
		"sign example.com/*":                          true,
	}}
	s := &Server{cfg: Config{Authorizer: authz}}
	ctx := context.WithValue(context.Background(), userKey, &auth.User{Name: "alice"})
	csr := func(signer string, cert string) *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "r"},
			Spec:   certificatesv1.CertificateSigningRequestSpec{SignerName: signer},
			Status: certificatesv1.CertificateSigningRequestStatus{Certificate: []byte(cert)}}
	}
	for _, tc := range []struct {
		sub           string
		signer        string
		newCert, cert string
		err           string
	}{
		{"approval", certificatesv1.KubeAPIServerClientSignerName, "", "", ""},
		{"approval", certificatesv1.KubeletServingSignerName, "", "", `user not permitted to approve requests with signerName "kubernetes.io/kubelet-serving"`},
		{"status", certificatesv1.KubeAPIServerClientSignerName, "", "", ""}, // conditions only
		{"status", certificatesv1.KubeAPIServerClientSignerName, "c", "", `user not permitted to sign requests with signerName "kubernetes.io/kube-apiserver-client"`},
		{"status", "example.com/signer", "c", "", ""}, // by the domain's wildcard
		{"", certificatesv1.KubeletServingSignerName, "c", "", ""},
	} {
		err := s.admitCSRUpdate(ctx, tc.sub, csr("changed.example/x", tc.newCert), csr(tc.signer, tc.cert))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q write of a %s request: %v", tc.sub, tc.signer, err)
		case tc.err != "" && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q write of a %s request: %v, want Forbidden: %s", tc.sub, tc.signer, err, tc.err)
		}
	}
	// Asked about the stored signer, by name and then by its domain.
	want := "approve kubernetes.io/kube-apiserver-client,approve kubernetes.io/kubelet-serving,approve kubernetes.io/*," +
		"sign kubernetes.io/kube-apiserver-client,sign kubernetes.io/*,sign example.com/signer,sign example.com/*"
	if got := strings.Join(authz.asked, ","); got != want {
		t.Errorf("asked %s\nwant  %s", got, want)
	}
}

func TestPrepareCSRUpdate(t *testing.T) {
	long := metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	cond := func(typ certificatesv1.RequestConditionType, msg string, at metav1.Time) certificatesv1.CertificateSigningRequestCondition {
		return certificatesv1.CertificateSigningRequestCondition{Type: typ, Status: corev1.ConditionTrue, Message: msg, LastUpdateTime: at, LastTransitionTime: at}
	}
	old := &certificatesv1.CertificateSigningRequest{
		Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: "example.com/a", Username: "alice"},
		Status: certificatesv1.CertificateSigningRequestStatus{
			Conditions: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved, "yes", long)}},
	}
	write := func() *certificatesv1.CertificateSigningRequest {
		n := old.DeepCopy()
		n.Spec.SignerName, n.Spec.Username = "example.com/b", "mallory"
		n.Status.Certificate = []byte("cert")
		n.Status.Conditions[0].Message = "edited"
		n.Status.Conditions = append(n.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: "Custom", Status: corev1.ConditionTrue})
		return n
	}

	// The object: neither spec nor status change.
	n := write()
	prepareCSRUpdate("", n, old)
	if n.Spec.SignerName != "example.com/a" || n.Spec.Username != "alice" || len(n.Status.Certificate) > 0 || len(n.Status.Conditions) != 1 || n.Status.Conditions[0].Message != "yes" {
		t.Errorf("object update: %+v", n)
	}
	// The status: the certificate and other conditions, not the approval.
	n = write()
	prepareCSRUpdate("status", n, old)
	if n.Spec.SignerName != "example.com/a" || string(n.Status.Certificate) != "cert" || len(n.Status.Conditions) != 2 ||
		n.Status.Conditions[0].Message != "yes" || n.Status.Conditions[1].LastUpdateTime.IsZero() || n.Status.Conditions[1].LastTransitionTime.IsZero() {
		t.Errorf("status update: %+v", n)
	}
	// The approval: conditions only, with timestamps where missing.
	n = write()
	n.Status.Conditions[0].LastTransitionTime = metav1.Time{}
	prepareCSRUpdate("approval", n, old)
	if n.Spec.SignerName != "example.com/a" || len(n.Status.Certificate) > 0 || len(n.Status.Conditions) != 2 || n.Status.Conditions[0].Message != "edited" {
		t.Errorf("approval update: %+v", n)
	}
	if !n.Status.Conditions[0].LastTransitionTime.Equal(&long) {
		t.Errorf("the Approved condition did not change status, so its transition time stays: %v", n.Status.Conditions[0].LastTransitionTime)
	}
	if c := n.Status.Conditions[1]; c.LastUpdateTime.IsZero() || !c.LastTransitionTime.Equal(&c.LastUpdateTime) {
		t.Errorf("new condition's times: %+v", c)
	}
	if old.Status.Conditions[0].Message != "yes" || len(old.Status.Certificate) > 0 {
		t.Errorf("the stored object was changed: %+v", old.Status)
	}
}
