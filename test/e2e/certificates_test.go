package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kijabi/kijabi/internal/testserver"
)

// newClientKey makes an ECDSA key and a certificate request for user cn in groups, both PEM.
func newClientKey(t *testing.T, cn string, groups ...string) (keyPEM, csrPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: groups}}, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// csrManifest is a CertificateSigningRequest for the kube-apiserver-client signer, as the
// Kubernetes documentation has users write it.
func csrManifest(name string, csrPEM []byte, usages ...string) string {
	return fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: %s
spec:
  request: %s
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages: [%s]
  username: mallory
  groups: [system:masters]
`, name, base64.StdEncoding.EncodeToString(csrPEM), strings.Join(usages, ", "))
}

// TestCertificateSigningRequests: the documented workflow for giving a user a client
// certificate — key and request made locally, `kubectl apply` of a CertificateSigningRequest,
// `kubectl certificate approve`, the certificate read back with jsonpath — gives a
// certificate the API server takes as that user; denied, refused and unauthorized requests
// stay unsigned.
func TestCertificateSigningRequests(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.Options{Controllers: true})
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	ctx := context.Background()
	csrs := s.Client.CertificatesV1().CertificateSigningRequests()

	janeKey, janeCSR := newClientKey(t, "jane", "dev")
	_, bobCSR := newClientKey(t, "bob", "dev")
	k.run("apply", "-f", k.file("jane.yaml", csrManifest("jane", janeCSR, "client auth")))
	k.mustIn(csrManifest("bob", bobCSR, "digital signature", "key encipherment", "client auth"), "apply", "-f", "-")

	// The server records who asked, whatever the manifest said.
	out := k.run("get", "csr")
	wantMatch(t, "kubectl get csr", out,
		`(?m)^NAME\s+AGE\s+SIGNERNAME\s+REQUESTOR\s+REQUESTEDDURATION\s+CONDITION$`,
		`(?m)^jane\s+\S+\s+kubernetes.io/kube-apiserver-client\s+system:admin\s+24h\s+Pending$`,
		`(?m)^bob\s+\S+\s+kubernetes.io/kube-apiserver-client\s+system:admin\s+24h\s+Pending$`)
	jane, err := csrs.Get(ctx, "jane", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if jane.Spec.Username != "system:admin" || !slices.Contains(jane.Spec.Groups, "system:masters") || !slices.Contains(jane.Spec.Groups, "system:authenticated") {
		t.Errorf("requestor: %q %v, want system:admin in system:masters and system:authenticated", jane.Spec.Username, jane.Spec.Groups)
	}

	// Deny bob, approve jane: jane gets her certificate from the cluster CA.
	wantEqual(t, "deny", k.run("certificate", "deny", "bob"), "certificatesigningrequest.certificates.k8s.io/bob denied\n")
	wantEqual(t, "approve", k.run("certificate", "approve", "jane"), "certificatesigningrequest.certificates.k8s.io/jane approved\n")
	poll(t, 30*time.Second, "jane's certificate", func() (bool, error) {
		c, err := csrs.Get(ctx, "jane", metav1.GetOptions{})
		return err == nil && len(c.Status.Certificate) > 0, err
	})
	wantMatch(t, "kubectl get csr", k.run("get", "csr"),
		`(?m)^jane\s+\S+\s+kubernetes.io/kube-apiserver-client\s+system:admin\s+24h\s+Approved,Issued$`,
		`(?m)^bob\s+\S+\s+kubernetes.io/kube-apiserver-client\s+system:admin\s+24h\s+Denied$`)
	jane, err = csrs.Get(ctx, "jane", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := jane.Status.Conditions; len(c) != 1 || c[0].Type != certificatesv1.CertificateApproved || c[0].Reason != "KubectlApprove" ||
		c[0].Message != "This CSR was approved by kubectl certificate approve." || c[0].LastTransitionTime.IsZero() {
		t.Errorf("jane's conditions: %+v", c)
	}
	certPEM, err := base64.StdEncoding.DecodeString(k.run("get", "csr", "jane", "-o", "jsonpath={.status.certificate}"))
	if err != nil {
		t.Fatalf("decoding the certificate: %v", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("status.certificate is not a PEM certificate: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life < 24*time.Hour-time.Minute || life > 24*time.Hour+time.Minute {
		t.Errorf("the certificate lasts %v, want the 24h asked for (backdated 5m at both ends)", life)
	}

	// The certificate authenticates as jane in dev.
	janeClient, err := kubernetes.NewForConfig(&rest.Config{Host: s.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.Config.CAData, CertData: certPEM, KeyData: janeKey}})
	if err != nil {
		t.Fatal(err)
	}
	review, err := janeClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview with jane's certificate: %v", err)
	}
	if u := review.Status.UserInfo; u.Username != "jane" || !slices.Contains(u.Groups, "dev") {
		t.Errorf("jane's certificate authenticates as %q in %v, want jane in dev", u.Username, u.Groups)
	}
	// Jane holds no other rights.
	if _, err := janeClient.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("jane listing pods: %v, want forbidden", err)
	}

	// Bob stays denied and unsigned, and kubectl will not approve him now.
	bob, err := csrs.Get(ctx, "bob", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bob.Status.Certificate) > 0 || len(bob.Status.Conditions) != 1 || bob.Status.Conditions[0].Type != certificatesv1.CertificateDenied ||
		bob.Status.Conditions[0].Reason != "KubectlDeny" {
		t.Errorf("bob: %+v", bob.Status)
	}
	if r := k.runIn("", nil, "certificate", "approve", "bob"); r.Err == nil || !strings.Contains(r.Stderr, `certificate signing request "bob" is already Denied`) {
		t.Errorf("approving denied bob: %v %s", r.Err, r.Stderr)
	}
	// Approved and Denied exclude each other at the server too.
	bob.Status.Conditions = append(bob.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: "True"})
	if _, err := csrs.UpdateApproval(ctx, "bob", bob, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "mutually exclusive") {
		t.Errorf("approving denied bob through the API: %v", err)
	}
	// The spec cannot be changed, nor the status through the object.
	bob, _ = csrs.Get(ctx, "bob", metav1.GetOptions{})
	edited := bob.DeepCopy()
	edited.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth}
	edited.Status.Conditions = nil
	edited.Labels = map[string]string{"team": "dev"}
	if got, err := csrs.Update(ctx, edited, metav1.UpdateOptions{}); err != nil {
		t.Errorf("updating bob: %v", err)
	} else if len(got.Spec.Usages) != 3 || len(got.Status.Conditions) != 1 || got.Labels["team"] != "dev" {
		t.Errorf("update of bob kept labels only? usages %v, conditions %v, labels %v", got.Spec.Usages, got.Status.Conditions, got.Labels)
	}

	// A request that is no request is refused with the field at fault.
	_, err = csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "garbage"},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: []byte("garbage"), SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageClientAuth}},
	}, metav1.CreateOptions{})
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Code != 422 {
		t.Fatalf("garbage request: %v, want 422 Invalid", err)
	}
	var fields []string
	for _, c := range status.Status().Details.Causes {
		fields = append(fields, c.Field)
	}
	if !slices.Contains(fields, "spec.request") || !slices.Contains(fields, "spec.usages[1]") {
		t.Errorf("garbage request: causes %+v", status.Status().Details.Causes)
	}
	if r := k.runIn(strings.Replace(csrManifest("bad", bobCSR, "client auth"), base64.StdEncoding.EncodeToString(bobCSR), base64.StdEncoding.EncodeToString([]byte("garbage")), 1), nil, "apply", "-f", "-"); r.Err == nil ||
		!strings.Contains(r.Stderr, `The CertificateSigningRequest "bad" is invalid: spec.request: Invalid value:`) ||
		!strings.Contains(r.Stderr, "PEM block type must be CERTIFICATE REQUEST") {
		t.Errorf("kubectl apply of a garbage request: %v %s", r.Err, r.Stderr)
	}
	// Nobody gets a system:masters certificate this way.
	_, mastersCSR := newClientKey(t, "eve", "system:masters")
	if r := k.runIn(csrManifest("eve", mastersCSR, "client auth"), nil, "apply", "-f", "-"); r.Err == nil ||
		!strings.Contains(r.Stderr, "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed") {
		t.Errorf("system:masters request: %v %s", r.Err, r.Stderr)
	}

	// A request the signer's rules refuse fails instead of being signed.
	_, serverCSR := newClientKey(t, "web")
	k.mustIn(csrManifest("web", serverCSR, "server auth"), "apply", "-f", "-")
	k.run("certificate", "approve", "web")
	poll(t, 30*time.Second, "web's failure", func() (bool, error) {
		c, err := csrs.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == certificatesv1.CertificateFailed {
				if cond.Reason != "SignerValidationFailure" || cond.Message != "invalid usage for client certificate: server auth" || len(c.Status.Certificate) > 0 {
					return false, fmt.Errorf("failed condition %+v, certificate %d bytes", cond, len(c.Status.Certificate))
				}
				return true, nil
			}
		}
		return false, nil
	})
	wantMatch(t, "kubectl get csr web", k.run("get", "csr", "web"), `(?m)^web\s+.*\s+Approved,Failed$`)

	// Approving needs "approve" on the signer, beyond the right to write approvals.
	_, carolCSR := newClientKey(t, "carol")
	k.mustIn(csrManifest("carol", carolCSR, "client auth"), "apply", "-f", "-")
	k.run("create", "clusterrole", "csr-approvals", "--verb=get,list,update", "--resource=certificatesigningrequests,certificatesigningrequests/approval")
	k.run("create", "clusterrolebinding", "alice-csr-approvals", "--clusterrole=csr-approvals", "--user=alice")
	if r := k.runIn("", nil, "certificate", "approve", "carol", "--as=alice"); r.Err == nil ||
		!strings.Contains(r.Stderr, `user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client"`) {
		t.Errorf("alice approving without the signer: %v %s", r.Err, r.Stderr)
	}
	k.run("create", "clusterrolebinding", "alice-approver", "--clusterrole=system:certificates.k8s.io:kube-apiserver-client-approver", "--user=alice")
	poll(t, 10*time.Second, "alice's approval", func() (bool, error) {
		return k.runIn("", nil, "certificate", "approve", "carol", "--as=alice").Err == nil, nil
	})
	poll(t, 30*time.Second, "carol's certificate", func() (bool, error) {
		c, err := csrs.Get(ctx, "carol", metav1.GetOptions{})
		return err == nil && len(c.Status.Certificate) > 0, err
	})
	// Only signers write certificates.
	carol, _ := csrs.Get(ctx, "carol", metav1.GetOptions{})
	k.run("create", "clusterrole", "csr-status", "--verb=get,update", "--resource=certificatesigningrequests/status")
	k.run("create", "clusterrolebinding", "alice-csr-status", "--clusterrole=csr-status", "--user=alice")
	aliceConfig := rest.CopyConfig(s.Config)
	aliceConfig.Impersonate = rest.ImpersonationConfig{UserName: "alice"}
	alice, err := kubernetes.NewForConfig(aliceConfig)
	if err != nil {
		t.Fatal(err)
	}
	_, mallory := newClientKey(t, "mallory")
	forged := carol.DeepCopy()
	forged.Name, forged.ResourceVersion = "mallory", ""
	forged.Spec.Request = mallory
	forged.Status = certificatesv1.CertificateSigningRequestStatus{}
	if _, err := csrs.Create(ctx, forged, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	forged, _ = csrs.Get(ctx, "mallory", metav1.GetOptions{})
	forged.Status.Certificate = carol.Status.Certificate
	poll(t, 10*time.Second, "alice's status rights", func() (bool, error) {
		_, err := alice.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, forged, metav1.UpdateOptions{})
		switch {
		case err == nil:
			return false, fmt.Errorf("alice set a certificate without the right to sign")
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "user not permitted to sign requests"):
			return true, nil
		}
		return false, nil // her role is not in effect yet
	})
}
