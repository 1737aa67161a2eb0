package validation

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CertificateSigningRequests, as certificates.k8s.io/v1 validates them. A request is
// checked whole on every write (create, update, status, approval); what a write may change
// differs by path: approval writes may add Approved and Denied conditions, status writes
// may set status.certificate once. Problems already stored are tolerated on update, so that
// old objects stay writable.

// legacyUnknownSignerName is v1beta1's default signer, not accepted in v1.
const legacyUnknownSignerName = "kubernetes.io/legacy-unknown"

// csrUsages are the key usages a request may ask for.
var csrUsages = sets.New(
	certificatesv1.UsageSigning, certificatesv1.UsageDigitalSignature, certificatesv1.UsageContentCommitment,
	certificatesv1.UsageKeyEncipherment, certificatesv1.UsageKeyAgreement, certificatesv1.UsageDataEncipherment,
	certificatesv1.UsageCertSign, certificatesv1.UsageCRLSign, certificatesv1.UsageEncipherOnly,
	certificatesv1.UsageDecipherOnly, certificatesv1.UsageAny, certificatesv1.UsageServerAuth,
	certificatesv1.UsageClientAuth, certificatesv1.UsageCodeSigning, certificatesv1.UsageEmailProtection,
	certificatesv1.UsageSMIME, certificatesv1.UsageIPsecEndSystem, certificatesv1.UsageIPsecTunnel,
	certificatesv1.UsageIPsecUser, certificatesv1.UsageTimestamping, certificatesv1.UsageOCSPSigning,
	certificatesv1.UsageMicrosoftSGC, certificatesv1.UsageNetscapeSGC,
)

// csrRules says what one write may do, and which stored problems it tolerates.
type csrRules struct {
	setApproval, setCertificate bool // the approval and status paths

	approvedAndDenied, legacySigner, duplicateConditions, emptyConditionType bool
	anyCertificate, unknownUsages, duplicateUsages                           bool
}

// rulesFor returns the rules of a write of csr over old (nil on create), without the
// path-specific permissions.
func rulesFor(csr, old *certificatesv1.CertificateSigningRequest) csrRules {
	if old == nil {
		return csrRules{}
	}
	r := csrRules{legacySigner: old.Spec.SignerName == legacyUnknownSignerName}
	seen := map[certificatesv1.RequestConditionType]bool{}
	for _, c := range old.Status.Conditions {
		r.duplicateConditions = r.duplicateConditions || seen[c.Type]
		r.emptyConditionType = r.emptyConditionType || c.Type == ""
		seen[c.Type] = true
	}
	r.approvedAndDenied = seen[certificatesv1.CertificateApproved] && seen[certificatesv1.CertificateDenied]
	r.anyCertificate = bytes.Equal(csr.Status.Certificate, old.Status.Certificate) || checkCertificatePEM(old.Status.Certificate) != nil
	usages := sets.New[certificatesv1.KeyUsage]()
	for _, u := range old.Spec.Usages {
		r.unknownUsages = r.unknownUsages || !csrUsages.Has(u)
		r.duplicateUsages = r.duplicateUsages || usages.Has(u)
		usages.Insert(u)
	}
	return r
}

func validateCertificateSigningRequest(csr *certificatesv1.CertificateSigningRequest) field.ErrorList {
	return csrBody(csr, rulesFor(csr, nil))
}

func validateCertificateSigningRequestUpdate(csr, old *certificatesv1.CertificateSigningRequest) field.ErrorList {
	return csrUpdate(csr, old, rulesFor(csr, old))
}

func validateCertificateSigningRequestStatusUpdate(csr, old *certificatesv1.CertificateSigningRequest) field.ErrorList {
	r := rulesFor(csr, old)
	r.setCertificate = true
	return csrUpdate(csr, old, r)
}

// ValidateApprovalUpdate validates a write to the approval subresource (only
// CertificateSigningRequests have one).
func ValidateApprovalUpdate(obj, old runtime.Object) field.ErrorList {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("%T has no approval", obj))}
	}
	return withOld(csr, old, func(csr, old *certificatesv1.CertificateSigningRequest) field.ErrorList {
		r := rulesFor(csr, old)
		r.setApproval = true
		return csrUpdate(csr, old, r)
	})
}

// ParseCSR decodes the PEM "CERTIFICATE REQUEST" block of a request.
func ParseCSR(request []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

func csrBody(csr *certificatesv1.CertificateSigningRequest, r csrRules) field.ErrorList {
	errs := objectMeta(&csr.ObjectMeta, false, nameIsPathSegment)
	if req, err := ParseCSR(csr.Spec.Request); err != nil {
		errs = append(errs, field.Invalid(specPath.Child("request"), csr.Spec.Request, err.Error()))
	} else if err := req.CheckSignature(); err != nil {
		errs = append(errs, field.Invalid(specPath.Child("request"), csr.Spec.Request, err.Error()))
	}
	usagesPath := specPath.Child("usages")
	if len(csr.Spec.Usages) == 0 {
		errs = append(errs, field.Required(usagesPath, ""))
	}
	seen := sets.New[certificatesv1.KeyUsage]()
	for i, u := range csr.Spec.Usages {
		if !r.unknownUsages && !csrUsages.Has(u) {
			errs = append(errs, field.NotSupported(usagesPath.Index(i), u, sets.List(csrUsages)))
		}
		if !r.duplicateUsages && seen.Has(u) {
			errs = append(errs, field.Duplicate(usagesPath.Index(i), u))
		}
		seen.Insert(u)
	}
	if !r.legacySigner && csr.Spec.SignerName == legacyUnknownSignerName {
		errs = append(errs, field.Invalid(specPath.Child("signerName"), csr.Spec.SignerName, "the legacy signerName is not allowed via this API version"))
	} else {
		errs = append(errs, SignerName(specPath.Child("signerName"), csr.Spec.SignerName)...)
	}
	if s := csr.Spec.ExpirationSeconds; s != nil && *s < 600 {
		errs = append(errs, field.Invalid(specPath.Child("expirationSeconds"), *s, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	errs = append(errs, csrConditions(csr, r)...)
	if !r.anyCertificate {
		if err := checkCertificatePEM(csr.Status.Certificate); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("status", "certificate"), "<certificate data>", err.Error()))
		}
	}
	return errs
}

func csrConditions(csr *certificatesv1.CertificateSigningRequest, r csrRules) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("status", "conditions")
	seen := map[certificatesv1.RequestConditionType]bool{}
	approved, denied := false, false
	for i, c := range csr.Status.Conditions {
		if !r.emptyConditionType && c.Type == "" {
			errs = append(errs, field.Required(p.Index(i).Child("type"), ""))
		}
		allowed := []string{string(corev1.ConditionFalse), string(corev1.ConditionTrue), string(corev1.ConditionUnknown)}
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			allowed = []string{string(corev1.ConditionTrue)}
		}
		switch {
		case c.Status == "":
			errs = append(errs, field.Required(p.Index(i).Child("status"), ""))
		case !contains(allowed, string(c.Status)):
			errs = append(errs, field.NotSupported(p.Index(i).Child("status"), c.Status, allowed))
		}
		if !r.approvedAndDenied {
			switch c.Type {
			case certificatesv1.CertificateApproved:
				approved = true
				if denied {
					errs = append(errs, field.Invalid(p.Index(i).Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			case certificatesv1.CertificateDenied:
				denied = true
				if approved {
					errs = append(errs, field.Invalid(p.Index(i).Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			}
		}
		if !r.duplicateConditions && seen[c.Type] {
			errs = append(errs, field.Duplicate(p.Index(i).Child("type"), c.Type))
		}
		seen[c.Type] = true
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func csrUpdate(csr, old *certificatesv1.CertificateSigningRequest, r csrRules) field.ErrorList {
	errs := csrBody(csr, r)
	condPath := field.NewPath("status", "conditions")
	// Approved, Denied and Failed stay once set.
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed} {
		if len(conditionsOf(csr, t)) < len(conditionsOf(old, t)) {
			errs = append(errs, field.Forbidden(condPath, fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	if !r.setApproval {
		for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied} {
			now, before := conditionsOf(csr, t), conditionsOf(old, t)
			switch {
			case len(now) < len(before):
				// refused above
			case len(now) > len(before):
				errs = append(errs, field.Forbidden(condPath, fmt.Sprintf("updates may not add a condition of type %q", t)))
			case !semanticEqual(now, before):
				errs = append(errs, field.Forbidden(condPath, fmt.Sprintf("updates may not modify a condition of type %q", t)))
			}
		}
	}
	if !bytes.Equal(csr.Status.Certificate, old.Status.Certificate) {
		certPath := field.NewPath("status", "certificate")
		switch {
		case !r.setCertificate:
			errs = append(errs, field.Forbidden(certPath, "updates may not set certificate content"))
		case len(old.Status.Certificate) > 0:
			errs = append(errs, field.Forbidden(certPath, "updates may not modify existing certificate content"))
		}
	}
	return append(errs, objectMetaUpdate(&csr.ObjectMeta, &old.ObjectMeta)...)
}

func conditionsOf(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []certificatesv1.CertificateSigningRequestCondition {
	var out []certificatesv1.CertificateSigningRequestCondition
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, c)
		}
	}
	return out
}

// checkCertificatePEM accepts nothing, or one or more PEM CERTIFICATE blocks without headers
// that each hold a certificate.
func checkCertificatePEM(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	blocks := 0
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("only CERTIFICATE PEM blocks are allowed, found %q", block.Type)
		}
		if len(block.Headers) != 0 {
			return errors.New("no PEM block headers are permitted")
		}
		certs, err := x509.ParseCertificates(block.Bytes)
		if err != nil {
			return err
		}
		if len(certs) == 0 {
			return errors.New("found CERTIFICATE PEM block containing 0 certificates")
		}
		blocks++
		data = rest
	}
	if blocks == 0 {
		return errors.New("must contain at least one CERTIFICATE PEM block")
	}
	return nil
}

// SignerName checks a signer name: a fully qualified domain of at least two labels, a '/',
// and a path of DNS subdomains separated by dots (room for "<namespace>.<name>"), as
// upstream allows.
func SignerName(p *field.Path, name string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	parts := strings.Split(name, "/")
	if len(parts) != 2 {
		return field.ErrorList{field.Invalid(p, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	domain, path := parts[0], parts[1]
	if len(domain) > utilvalidation.DNS1123SubdomainMaxLength {
		errs = append(errs, field.TooLong(p, domain, utilvalidation.DNS1123SubdomainMaxLength))
	}
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		if problems := utilvalidation.IsDNS1123Label(l); len(problems) > 0 {
			for _, m := range problems {
				errs = append(errs, field.Invalid(p, domain, fmt.Sprintf("validating label %q: %s", l, m)))
			}
			break // one bad label is enough; the others would repeat the message
		}
	}
	if len(labels) < 2 {
		errs = append(errs, field.Invalid(p, domain, "should be a domain with at least two segments separated by dots"))
	}
	for _, l := range strings.Split(path, ".") {
		if problems := utilvalidation.IsDNS1123Subdomain(l); len(problems) > 0 {
			for _, m := range problems {
				errs = append(errs, field.Invalid(p, path, fmt.Sprintf("validating label %q: %s", l, m)))
			}
			break
		}
	}
	maxPath := utilvalidation.DNS1123SubdomainMaxLength + utilvalidation.DNS1123LabelMaxLength + 1
	if maxLen := utilvalidation.DNS1123SubdomainMaxLength + maxPath + 1; len(name) > maxLen {
		errs = append(errs, field.TooLong(p, name, maxLen))
	}
	return errs
}
