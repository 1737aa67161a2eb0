package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// selfSignedValidity is how long a generated serving certificate lasts (the kubelet's
// own self-signed certificates last a year).
const selfSignedValidity = 365 * 24 * time.Hour

// LoadOrCreateServingCert returns the serving certificate in certFile/keyFile, creating a
// self-signed one for host (a name or an IP), plus ips and names, when the files do not
// exist or have expired — as the kubelet does without --tls-cert-file (kubelet.crt and
// kubelet.key in its pki directory). The API server does not verify it unless it is
// given a CA for kubelets.
func LoadOrCreateServingCert(certFile, keyFile, host string, ips []net.IP, names []string) (tls.Certificate, error) {
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		if cert, err := x509.ParseCertificate(pair.Certificate[0]); err == nil && time.Now().Before(cert.NotAfter) {
			return pair, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("kubelet server: loading serving certificate: %w", err)
	}
	certPEM, keyPEM, err := SelfSignedCert(host, ips, names)
	if err != nil {
		return tls.Certificate{}, err
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{certFile, certPEM, 0o644}, {keyFile, keyPEM, 0o600}} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return tls.Certificate{}, fmt.Errorf("kubelet server: %w", err)
		}
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return tls.Certificate{}, fmt.Errorf("kubelet server: writing %s: %w", f.path, err)
		}
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// SelfSignedCert creates a PEM certificate and key, signed by themselves, that serve
// host, ips and names.
func SelfSignedCert(host string, ips []net.IP, names []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("kubelet server: generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("kubelet server: serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", host, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           ips,
		DNSNames:              names,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("kubelet server: creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("kubelet server: encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// TLSConfig is the server's TLS configuration: cert serves, and client certificates
// signed by clientCAs (the cluster CA, which signs the API server's kubelet client
// certificate) authenticate requests.
func TLSConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    clientCAs,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}
