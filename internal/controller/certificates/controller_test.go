package certificates

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func condition(t certificatesv1.RequestConditionType) certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue}
}

func csrFor(t *testing.T, name, signer string, subject pkix.Name, usages []certificatesv1.KeyUsage, conditions ...certificatesv1.RequestConditionType) *certificatesv1.CertificateSigningRequest {
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    newRequest(t, &x509.CertificateRequest{Subject: subject}),
			SignerName: signer, Usages: usages,
		},
	}
	for _, c := range conditions {
		csr.Status.Conditions = append(csr.Status.Conditions, condition(c))
	}
	return csr
}

var clientUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth}

// TestSync: what one pass over each kind of request does.
func TestSync(t *testing.T) {
	jane := pkix.Name{CommonName: "jane", Organization: []string{"dev"}}
	approved := certificatesv1.CertificateApproved
	secs := int32(3600)
	short := csrFor(t, "short", certificatesv1.KubeAPIServerClientSignerName, jane, clientUsages, approved)
	short.Spec.ExpirationSeconds = &secs
	objs := []*certificatesv1.CertificateSigningRequest{
		csrFor(t, "signed", certificatesv1.KubeAPIServerClientSignerName, jane, clientUsages, approved),
		short,
		csrFor(t, "pending", certificatesv1.KubeAPIServerClientSignerName, jane, clientUsages),
		csrFor(t, "denied", certificatesv1.KubeAPIServerClientSignerName, jane, clientUsages, certificatesv1.CertificateDenied),
		csrFor(t, "failed", certificatesv1.KubeAPIServerClientSignerName, jane, clientUsages, approved, certificatesv1.CertificateFailed),
		csrFor(t, "other-signer", "example.com/signer", jane, clientUsages, approved),
		csrFor(t, "bad-usages", certificatesv1.KubeAPIServerClientSignerName, jane,
			[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}, approved),
		csrFor(t, "kubelet-not-node", certificatesv1.KubeAPIServerClientKubeletSignerName, jane, clientUsages, approved),
	}
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	informer := factory.Certificates().V1().CertificateSigningRequests()
	ca := newCA(t, t0.Add(10*365*24*time.Hour))
	c := New(client, informer, ca, 48*time.Hour)
	c.now = func() time.Time { return t0 }
	ctx := context.Background()
	for _, o := range objs {
		if _, err := client.CertificatesV1().CertificateSigningRequests().Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := informer.Informer().GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		if err := c.sync(ctx, o.Name); err != nil {
			t.Errorf("sync %s: %v", o.Name, err)
		}
	}
	if err := c.sync(ctx, "gone"); err != nil {
		t.Errorf("sync of a deleted request: %v", err)
	}
	get := func(name string) *certificatesv1.CertificateSigningRequest {
		t.Helper()
		csr, err := client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return csr
	}

	signed := get("signed")
	cert := parseCert(t, signed.Status.Certificate)
	if cert.Subject.CommonName != "jane" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "dev" {
		t.Errorf("signed: subject %v", cert.Subject)
	}
	// No expirationSeconds: the configured maximum, backdated at both ends.
	if !cert.NotBefore.Equal(t0.Add(-5*time.Minute)) || !cert.NotAfter.Equal(t0.Add(48*time.Hour-5*time.Minute)) {
		t.Errorf("signed: validity %v – %v", cert.NotBefore, cert.NotAfter)
	}
	if len(signed.Status.Conditions) != 1 {
		t.Errorf("signed: conditions %v", signed.Status.Conditions)
	}
	if cert := parseCert(t, get("short").Status.Certificate); !cert.NotAfter.Equal(t0.Add(time.Hour)) {
		t.Errorf("short: NotAfter %v, want an hour from now", cert.NotAfter)
	}
	for name, conditions := range map[string]int{"pending": 0, "denied": 1, "failed": 2, "other-signer": 1} {
		csr := get(name)
		if len(csr.Status.Certificate) > 0 || len(csr.Status.Conditions) != conditions {
			t.Errorf("%s: touched: %+v", name, csr.Status)
		}
	}
	for name, msg := range map[string]string{
		"bad-usages":       "invalid usage for client certificate: server auth",
		"kubelet-not-node": "subject organization is not system:nodes",
	} {
		csr := get(name)
		if len(csr.Status.Certificate) > 0 {
			t.Errorf("%s: signed", name)
		}
		last := csr.Status.Conditions[len(csr.Status.Conditions)-1]
		if last.Type != certificatesv1.CertificateFailed || last.Status != corev1.ConditionTrue || last.Reason != FailureReason ||
			last.Message != msg || !last.LastUpdateTime.Time.Equal(t0) {
			t.Errorf("%s: last condition %+v", name, last)
		}
	}
}

// TestRun: the controller finds approved requests through its informer.
func TestRun(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory.Certificates().V1().CertificateSigningRequests(), newCA(t, time.Now().Add(24*time.Hour)), 0)
	if c.maxDuration != DefaultMaxDuration {
		t.Errorf("default max duration %v", c.maxDuration)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	factory.Start(ctx.Done())
	go func() { defer close(done); c.Run(ctx, 2) }()

	csrs := client.CertificatesV1().CertificateSigningRequests()
	csr := csrFor(t, "jane", certificatesv1.KubeAPIServerClientSignerName, pkix.Name{CommonName: "jane"}, clientUsages)
	if _, err := csrs.Create(ctx, csr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{condition(certificatesv1.CertificateApproved)}
	if _, err := csrs.UpdateApproval(ctx, "jane", csr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got *certificatesv1.CertificateSigningRequest
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		got, err = csrs.Get(ctx, "jane", metav1.GetOptions{})
		return err == nil && len(got.Status.Certificate) > 0, err
	})
	if err != nil {
		t.Fatalf("waiting for the certificate: %v", err)
	}
	// Capped at the CA's end.
	if cert := parseCert(t, got.Status.Certificate); !cert.NotAfter.Equal(c.ca.Cert.NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", cert.NotAfter, c.ca.Cert.NotAfter)
	}
}
