package certificates

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

const (
	// DefaultMaxDuration is the longest validity given when none is configured
	// (kube-controller-manager's --cluster-signing-duration default).
	DefaultMaxDuration = 365 * 24 * time.Hour
	// backdate is how far before now certificates start, for clocks that lag.
	backdate = 5 * time.Minute
	// short certificates (under 8h) are not shortened by the backdate at their end: five
	// minutes matter to them.
	short = 8 * time.Hour
	// minDuration is the least validity given, whatever a request asks for: twice the
	// backdate.
	minDuration = 10 * time.Minute
)

// CA is the certificate authority requests are signed with.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// LoadCA reads a CA certificate and its private key from PEM files (the first certificate of
// certFile is the CA).
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the signing CA: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parsing the signing CA %s: %w", certFile, err)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the signing CA key %s cannot sign (%T)", keyFile, pair.PrivateKey)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// validity is how long a certificate lasts: the requested duration (at least minDuration),
// or max when none was requested or it asks for more.
func validity(expirationSeconds *int32, max time.Duration) time.Duration {
	if expirationSeconds == nil {
		return max
	}
	d := time.Duration(*expirationSeconds) * time.Second
	switch {
	case d > max:
		return max
	case d < minDuration:
		return minDuration
	}
	return d
}

// Sign issues a certificate for req, valid for ttl from now (see the package comment), with
// usages. It returns the certificate in PEM.
func (ca *CA) Sign(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage, ttl time.Duration, now time.Time) ([]byte, error) {
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("unable to verify certificate request signature: %w", err)
	}
	keyUsage, extUsages, err := x509Usages(usages)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// The subject exactly as requested (Subject alone would lose unusual attributes).
		RawSubject:            req.RawSubject,
		Subject:               req.Subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		EmailAddresses:        req.EmailAddresses,
		URIs:                  req.URIs,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           extUsages,
		BasicConstraintsValid: true,
		IsCA:                  false,
		NotBefore:             now.Add(-backdate),
	}
	if ttl < short {
		tmpl.NotAfter = now.Add(ttl)
	} else {
		tmpl.NotAfter = now.Add(ttl - backdate)
	}
	caEnd := ca.Cert.NotAfter
	if !tmpl.NotAfter.Before(caEnd) {
		tmpl.NotAfter = caEnd
	}
	if !now.Before(caEnd) {
		return nil, fmt.Errorf("refusing to sign a certificate that expired in the past: the signer has expired: NotAfter=%v", caEnd)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, req.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("failed to sign certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

var keyUsages = map[certificatesv1.KeyUsage]x509.KeyUsage{
	certificatesv1.UsageSigning:           x509.KeyUsageDigitalSignature,
	certificatesv1.UsageDigitalSignature:  x509.KeyUsageDigitalSignature,
	certificatesv1.UsageContentCommitment: x509.KeyUsageContentCommitment,
	certificatesv1.UsageKeyEncipherment:   x509.KeyUsageKeyEncipherment,
	certificatesv1.UsageKeyAgreement:      x509.KeyUsageKeyAgreement,
	certificatesv1.UsageDataEncipherment:  x509.KeyUsageDataEncipherment,
	certificatesv1.UsageCertSign:          x509.KeyUsageCertSign,
	certificatesv1.UsageCRLSign:           x509.KeyUsageCRLSign,
	certificatesv1.UsageEncipherOnly:      x509.KeyUsageEncipherOnly,
	certificatesv1.UsageDecipherOnly:      x509.KeyUsageDecipherOnly,
}

var extKeyUsages = map[certificatesv1.KeyUsage]x509.ExtKeyUsage{
	certificatesv1.UsageAny:             x509.ExtKeyUsageAny,
	certificatesv1.UsageServerAuth:      x509.ExtKeyUsageServerAuth,
	certificatesv1.UsageClientAuth:      x509.ExtKeyUsageClientAuth,
	certificatesv1.UsageCodeSigning:     x509.ExtKeyUsageCodeSigning,
	certificatesv1.UsageEmailProtection: x509.ExtKeyUsageEmailProtection,
	certificatesv1.UsageSMIME:           x509.ExtKeyUsageEmailProtection,
	certificatesv1.UsageIPsecEndSystem:  x509.ExtKeyUsageIPSECEndSystem,
	certificatesv1.UsageIPsecTunnel:     x509.ExtKeyUsageIPSECTunnel,
	certificatesv1.UsageIPsecUser:       x509.ExtKeyUsageIPSECUser,
	certificatesv1.UsageTimestamping:    x509.ExtKeyUsageTimeStamping,
	certificatesv1.UsageOCSPSigning:     x509.ExtKeyUsageOCSPSigning,
	certificatesv1.UsageMicrosoftSGC:    x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	certificatesv1.UsageNetscapeSGC:     x509.ExtKeyUsageNetscapeServerGatedCrypto,
}

// x509Usages maps API key usages onto the key usage bits and the extended key usages (in
// ascending order, without duplicates) of a certificate.
func x509Usages(usages []certificatesv1.KeyUsage) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	var bits x509.KeyUsage
	var ext []x509.ExtKeyUsage
	var unknown []string
	for _, u := range usages {
		if b, ok := keyUsages[u]; ok {
			bits |= b
		} else if e, ok := extKeyUsages[u]; ok {
			if !slices.Contains(ext, e) {
				ext = append(ext, e)
			}
		} else {
			unknown = append(unknown, string(u))
		}
	}
	if len(unknown) > 0 {
		return 0, nil, fmt.Errorf("unrecognized usage values: %q", unknown)
	}
	sort.Slice(ext, func(i, j int) bool { return ext[i] < ext[j] })
	return bits, ext, nil
}

// parseCSR decodes the PEM "CERTIFICATE REQUEST" block of a request.
func parseCSR(request []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

// signerNames are the signers this package signs for.
var signerNames = sets.New(certificatesv1.KubeAPIServerClientSignerName,
	certificatesv1.KubeAPIServerClientKubeletSignerName, certificatesv1.KubeletServingSignerName)

var (
	errNotNodes       = errors.New("subject organization is not system:nodes")
	errNotNodeName    = errors.New("subject common name does not begin with system:node:")
	errNeedsDNSOrIP   = errors.New("DNS or IP subjectAltName is required")
	errDNSNotAllowed  = errors.New("DNS subjectAltNames are not allowed")
	errMailNotAllowed = errors.New("Email subjectAltNames are not allowed")
	errIPNotAllowed   = errors.New("IP subjectAltNames are not allowed")
	errURINotAllowed  = errors.New("URI subjectAltNames are not allowed")
)

// checkRequest applies the rules of signerName to a request (those of kube-controller-manager's
// signers); an error is why the signer refuses it.
func checkRequest(signerName string, req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	set := sets.New(usages...)
	switch signerName {
	case certificatesv1.KubeAPIServerClientSignerName:
		for _, u := range usages {
			switch u {
			case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth:
			default:
				return fmt.Errorf("invalid usage for client certificate: %s", u)
			}
		}
		if !set.Has(certificatesv1.UsageClientAuth) {
			return fmt.Errorf("missing required usage for client certificate: %s", certificatesv1.UsageClientAuth)
		}
		return nil
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		switch {
		case !slices.Equal(req.Subject.Organization, []string{"system:nodes"}):
			return errNotNodes
		case len(req.DNSNames) > 0:
			return errDNSNotAllowed
		case len(req.EmailAddresses) > 0:
			return errMailNotAllowed
		case len(req.IPAddresses) > 0:
			return errIPNotAllowed
		case len(req.URIs) > 0:
			return errURINotAllowed
		case !strings.HasPrefix(req.Subject.CommonName, "system:node:"):
			return errNotNodeName
		}
		return exactUsages(set, certificatesv1.UsageClientAuth)
	case certificatesv1.KubeletServingSignerName:
		switch {
		case !slices.Equal(req.Subject.Organization, []string{"system:nodes"}):
			return errNotNodes
		case len(req.DNSNames) == 0 && len(req.IPAddresses) == 0:
			return errNeedsDNSOrIP
		case len(req.EmailAddresses) > 0:
			return errMailNotAllowed
		case len(req.URIs) > 0:
			return errURINotAllowed
		}
		if err := exactUsages(set, certificatesv1.UsageServerAuth); err != nil {
			return err
		}
		if !strings.HasPrefix(req.Subject.CommonName, "system:node:") {
			return errNotNodeName
		}
		return nil
	}
	return fmt.Errorf("unrecognized signerName: %q", signerName)
}

// exactUsages accepts {digital signature, key encipherment, auth} or, for keys that
// encipher nothing (ECDSA, Ed25519), {digital signature, auth}.
func exactUsages(set sets.Set[certificatesv1.KeyUsage], auth certificatesv1.KeyUsage) error {
	withRSA := sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, auth)
	noRSA := sets.New(certificatesv1.UsageDigitalSignature, auth)
	if set.Equal(withRSA) || set.Equal(noRSA) {
		return nil
	}
	return fmt.Errorf("usages did not match %v", sets.List(withRSA))
}
