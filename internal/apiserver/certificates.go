package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kijabi/kijabi/internal/apiserver/validation"
	"github.com/kijabi/kijabi/internal/auth"
)

// CertificateSigningRequests: who asked is recorded by the server, the status is written
// through two subresources (approval for Approved/Denied conditions, status for the
// certificate), and writing either needs a permission on the request's signer, as
// kube-apiserver's CertificateApproval and CertificateSigning admission plugins require.

var csrGR = schema.GroupResource{Group: certificatesv1.GroupName, Resource: "certificatesigningrequests"}

// admitCSRCreate records the requesting user in the spec, whatever the client sent, and
// refuses client certificates for system:masters (CertificateSubjectRestriction).
func (s *Server) admitCSRCreate(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
	if user, _ := ctx.Value(userKey).(*auth.User); user != nil {
		csr.Spec.Username, csr.Spec.UID = user.Name, user.UID
		csr.Spec.Groups = append([]string(nil), user.Groups...)
		if len(user.Extra) > 0 {
			csr.Spec.Extra = make(map[string]certificatesv1.ExtraValue, len(user.Extra))
			for k, v := range user.Extra {
				csr.Spec.Extra[k] = append(certificatesv1.ExtraValue(nil), v...)
			}
		}
	}
	// Nobody creates an approved or signed request.
	csr.Status = certificatesv1.CertificateSigningRequestStatus{}
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
		return nil
	}
	req, err := validation.ParseCSR(csr.Spec.Request)
	if err != nil {
		return nil // validation refuses it, with the field at fault
	}
	for _, o := range req.Subject.Organization {
		if o == auth.GroupMasters {
			return apierrors.NewForbidden(csrGR, csr.Name, fmt.Errorf("use of %s signer with %s group is not allowed", csr.Spec.SignerName, auth.GroupMasters))
		}
	}
	return nil
}

// admitCSRUpdate checks the writer's permission on the request's signer (as stored, so
// that a changed signerName gains nothing): "approve" for any write to the approval,
// "sign" for a status write that changes the certificate.
func (s *Server) admitCSRUpdate(ctx context.Context, subresource string, csr, old *certificatesv1.CertificateSigningRequest) error {
	user, _ := ctx.Value(userKey).(*auth.User)
	if user == nil {
		return nil // the server's own writes
	}
	var verb string
	switch {
	case subresource == "approval":
		verb = "approve"
	case subresource == "status" && !bytes.Equal(csr.Status.Certificate, old.Status.Certificate):
		verb = "sign"
	default:
		return nil
	}
	if s.mayUseSigner(user, verb, old.Spec.SignerName) {
		return nil
	}
	return apierrors.NewForbidden(csrGR, csr.Name, fmt.Errorf("user not permitted to %s requests with signerName %q", verb, old.Spec.SignerName))
}

// mayUseSigner asks the authorizer whether user may verb the signer: by its name
// (resource "signers" in certificates.k8s.io), or by the wildcard of its domain
// ("example.com/*").
func (s *Server) mayUseSigner(user *auth.User, verb, signerName string) bool {
	attrs := auth.Attributes{User: user, Verb: verb, Group: certificatesv1.GroupName, Version: "*", Resource: "signers", Name: signerName}
	if ok, _ := s.cfg.Authorizer.Authorize(attrs); ok {
		return true
	}
	domain, _, _ := strings.Cut(signerName, "/")
	attrs.Name = domain + "/*"
	ok, _ := s.cfg.Authorizer.Authorize(attrs)
	return ok
}

// prepareCSRUpdate keeps what a write to a request may not change: the spec always; the
// whole status for the object itself; the certificate for the approval; the Approved and
// Denied conditions for the status, where validation refuses adding or removing them.
// Conditions get their timestamps when they come without.
func prepareCSRUpdate(subresource string, csr, old *certificatesv1.CertificateSigningRequest) {
	csr.Spec = old.Spec
	switch subresource {
	case "status":
		keepConditions(csr, old, certificatesv1.CertificateApproved)
		keepConditions(csr, old, certificatesv1.CertificateDenied)
		stampConditions(csr, old)
	case "approval":
		stampConditions(csr, old)
		conditions := csr.Status.Conditions
		csr.Status = old.Status
		csr.Status.Conditions = conditions
	default:
		csr.Status = old.Status
	}
}

// keepConditions restores the stored conditions of type t when the write has as many of
// them (a write adding or removing some is refused by validation).
func keepConditions(csr, old *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) {
	var have, had []int
	for i, c := range csr.Status.Conditions {
		if c.Type == t {
			have = append(have, i)
		}
	}
	for i, c := range old.Status.Conditions {
		if c.Type == t {
			had = append(had, i)
		}
	}
	if len(have) != len(had) {
		return
	}
	for i, j := range had {
		csr.Status.Conditions[have[i]] = old.Status.Conditions[j]
	}
}

// stampConditions sets lastUpdateTime to now where missing, and lastTransitionTime to that
// of the stored condition of the same type and status, or to now.
func stampConditions(csr, old *certificatesv1.CertificateSigningRequest) {
	now := metav1.Now()
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, o := range old.Status.Conditions {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
				break
			}
		}
	}
}
