package certificates

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// newCA makes a CA valid from a year before t0 until caEnd.
func newCA(t *testing.T, caEnd time.Time) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: t0.Add(-365 * 24 * time.Hour), NotAfter: caEnd,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key}
}

// newRequest makes a PEM certificate request for tmpl with a new ECDSA key.
func newRequest(t *testing.T, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func mustParse(t *testing.T, request []byte) *x509.CertificateRequest {
	t.Helper()
	req, err := parseCSR(request)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("not one PEM certificate: %q", data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestSign(t *testing.T) {
	ca := newCA(t, t0.Add(10*365*24*time.Hour))
	u, _ := url.Parse("spiffe://cluster.local/ns/default/sa/jane")
	req := mustParse(t, newRequest(t, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "jane", Organization: []string{"dev", "ops"}},
		DNSNames: []string{"jane.example"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
		EmailAddresses: []string{"jane@example.com"}, URIs: []*url.URL{u},
	}))
	usages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment,
		certificatesv1.UsageClientAuth, certificatesv1.UsageServerAuth}
	data, err := ca.Sign(req, usages, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, data)
	if cert.Subject.CommonName != "jane" || !slices.Equal(cert.Subject.Organization, []string{"dev", "ops"}) {
		t.Errorf("subject = %v", cert.Subject)
	}
	if !slices.Equal(cert.DNSNames, req.DNSNames) || len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(req.IPAddresses[0]) ||
		!slices.Equal(cert.EmailAddresses, req.EmailAddresses) || len(cert.URIs) != 1 || cert.URIs[0].String() != u.String() {
		t.Errorf("SANs = %v %v %v %v", cert.DNSNames, cert.IPAddresses, cert.EmailAddresses, cert.URIs)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("key usage = %v", cert.KeyUsage)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ext key usage = %v", cert.ExtKeyUsage)
	}
	if cert.IsCA || !cert.BasicConstraintsValid {
		t.Errorf("IsCA = %v, basic constraints = %v", cert.IsCA, cert.BasicConstraintsValid)
	}
	// A short certificate: backdated at its start only.
	if !cert.NotBefore.Equal(t0.Add(-5*time.Minute)) || !cert.NotAfter.Equal(t0.Add(time.Hour)) {
		t.Errorf("validity %v – %v", cert.NotBefore, cert.NotAfter)
	}
	if !cert.PublicKey.(*ecdsa.PublicKey).Equal(req.PublicKey) {
		t.Error("the certificate does not carry the request's key")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verifying against the CA: %v", err)
	}
}

func TestSignValidity(t *testing.T) {
	caEnd := t0.Add(30 * 24 * time.Hour)
	ca := newCA(t, caEnd)
	req := mustParse(t, newRequest(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}))
	usages := []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}
	for _, tc := range []struct {
		name    string
		ttl     time.Duration
		wantEnd time.Time
	}{
		{"short", 10 * time.Minute, t0.Add(10 * time.Minute)},
		{"just short", 8*time.Hour - time.Second, t0.Add(8*time.Hour - time.Second)},
		{"long: backdated at the end too", 24 * time.Hour, t0.Add(24*time.Hour - 5*time.Minute)},
		{"past the CA", 365 * 24 * time.Hour, caEnd},
	} {
		data, err := ca.Sign(req, usages, tc.ttl, t0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if cert := parseCert(t, data); !cert.NotAfter.Equal(tc.wantEnd) {
			t.Errorf("%s: NotAfter = %v, want %v", tc.name, cert.NotAfter, tc.wantEnd)
		}
	}
	if _, err := ca.Sign(req, usages, time.Hour, caEnd.Add(time.Second)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("signing with an expired CA: %v", err)
	}
	if _, err := ca.Sign(req, []certificatesv1.KeyUsage{"bogus"}, time.Hour, t0); err == nil || !strings.Contains(err.Error(), "unrecognized usage") {
		t.Errorf("unknown usage: %v", err)
	}
}

func TestValidity(t *testing.T) {
	secs := func(s int32) *int32 { return &s }
	max := 24 * time.Hour
	for _, tc := range []struct {
		req  *int32
		want time.Duration
	}{
		{nil, max},
		{secs(3600), time.Hour},
		{secs(600), 10 * time.Minute},
		{secs(60), 10 * time.Minute}, // at least twice the backdate
		{secs(48 * 3600), max},
	} {
		if got := validity(tc.req, max); got != tc.want {
			t.Errorf("validity(%v) = %v, want %v", tc.req, got, tc.want)
		}
	}
}

func TestCheckRequest(t *testing.T) {
	const (
		client  = certificatesv1.KubeAPIServerClientSignerName
		kubelet = certificatesv1.KubeAPIServerClientKubeletSignerName
		serving = certificatesv1.KubeletServingSignerName
		ds      = certificatesv1.UsageDigitalSignature
		ke      = certificatesv1.UsageKeyEncipherment
		ca      = certificatesv1.UsageClientAuth
		sa      = certificatesv1.UsageServerAuth
	)
	node := pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}
	for _, tc := range []struct {
		name   string
		signer string
		req    *x509.CertificateRequest
		usages []certificatesv1.KeyUsage
		err    string
	}{
		{"client", client, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: []string{"dev"}}}, []certificatesv1.KeyUsage{ds, ke, ca}, ""},
		{"client auth only", client, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}, []certificatesv1.KeyUsage{ca}, ""},
		{"client with SANs", client, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}, DNSNames: []string{"x"}}, []certificatesv1.KeyUsage{ca}, ""},
		{"client without client auth", client, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}, []certificatesv1.KeyUsage{ds, ke}, "missing required usage for client certificate: client auth"},
		{"client with server auth", client, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}, []certificatesv1.KeyUsage{ca, sa}, "invalid usage for client certificate: server auth"},

		{"kubelet client", kubelet, &x509.CertificateRequest{Subject: node}, []certificatesv1.KeyUsage{ds, ca}, ""},
		{"kubelet client RSA", kubelet, &x509.CertificateRequest{Subject: node}, []certificatesv1.KeyUsage{ke, ca, ds}, ""},
		{"kubelet client not a node", kubelet, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:n1", Organization: []string{"dev"}}}, []certificatesv1.KeyUsage{ds, ca}, "subject organization is not system:nodes"},
		{"kubelet client named wrong", kubelet, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "n1", Organization: []string{"system:nodes"}}}, []certificatesv1.KeyUsage{ds, ca}, "subject common name does not begin with system:node:"},
		{"kubelet client IP", kubelet, &x509.CertificateRequest{Subject: node, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}, []certificatesv1.KeyUsage{ds, ca}, "IP subjectAltNames are not allowed"},
		{"kubelet client serving", kubelet, &x509.CertificateRequest{Subject: node}, []certificatesv1.KeyUsage{ds, sa}, "usages did not match [client auth digital signature key encipherment]"},

		{"serving", serving, &x509.CertificateRequest{Subject: node, DNSNames: []string{"n1"}}, []certificatesv1.KeyUsage{ds, ke, sa}, ""},
		{"serving IP", serving, &x509.CertificateRequest{Subject: node, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}, []certificatesv1.KeyUsage{ds, sa}, ""},
		{"serving without SANs", serving, &x509.CertificateRequest{Subject: node}, []certificatesv1.KeyUsage{ds, sa}, "DNS or IP subjectAltName is required"},
		{"serving email", serving, &x509.CertificateRequest{Subject: node, DNSNames: []string{"n1"}, EmailAddresses: []string{"a@b"}}, []certificatesv1.KeyUsage{ds, sa}, "Email subjectAltNames are not allowed"},
		{"serving client", serving, &x509.CertificateRequest{Subject: node, DNSNames: []string{"n1"}}, []certificatesv1.KeyUsage{ds, ca}, "usages did not match [digital signature key encipherment server auth]"},

		{"other signer", "example.com/x", &x509.CertificateRequest{Subject: node}, []certificatesv1.KeyUsage{ds, ca}, `unrecognized signerName: "example.com/x"`},
	} {
		err := checkRequest(tc.signer, tc.req, tc.usages)
		if got := errString(err); got != tc.err {
			t.Errorf("%s: error %q, want %q", tc.name, got, tc.err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, t0)
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	keyDER, err := x509.MarshalECPrivateKey(ca.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(ca.Cert) || !got.Key.Public().(*ecdsa.PublicKey).Equal(ca.Key.Public()) {
		t.Error("LoadCA read another CA")
	}
	// A key that does not match the certificate is refused.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.MarshalECPrivateKey(other)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: otherDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(certFile, keyFile); err == nil {
		t.Error("mismatched key: no error")
	}
	if _, err := LoadCA(filepath.Join(dir, "missing.crt"), keyFile); err == nil {
		t.Error("missing file: no error")
	}
}
