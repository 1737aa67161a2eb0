package auth

import (
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
)

// User is an authenticated identity.
type User struct {
	Name   string
	UID    string
	Groups []string
	// Extra is additional information, e.g. the pod a service account token is bound to.
	Extra map[string][]string
}

// Well-known groups.
const (
	GroupMasters         = "system:masters"
	GroupAuthenticated   = "system:authenticated"
	GroupUnauthenticated = "system:unauthenticated"
	UserAnonymous        = "system:anonymous"
)

// Authenticator recognises the user behind a request. ok is false when it does not know the
// request's credentials (another authenticator may); err is set for credentials that are
// present but wrong.
type Authenticator interface {
	Authenticate(r *http.Request) (u *User, ok bool, err error)
}

// ErrInvalidCredentials is returned for credentials that were presented but are not valid.
var ErrInvalidCredentials = errors.New("auth: invalid credentials")

// Union tries each authenticator in turn.
type Union []Authenticator

// Authenticate implements Authenticator.
func (u Union) Authenticate(r *http.Request) (*User, bool, error) {
	var errs []error
	for _, a := range u {
		user, ok, err := a.Authenticate(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			user.Groups = appendUnique(user.Groups, GroupAuthenticated)
			return user, true, nil
		}
	}
	return nil, false, errors.Join(errs...)
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// ClientCert authenticates TLS client certificates signed by the server's client CA (the TLS
// handshake has verified the chain): the subject's CommonName is the user, its Organizations
// the groups, as in Kubernetes.
type ClientCert struct{}

// Authenticate implements Authenticator.
func (ClientCert) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	c := r.TLS.PeerCertificates[0]
	if !hasClientAuth(c) {
		return nil, false, ErrInvalidCredentials
	}
	return &User{Name: c.Subject.CommonName, Groups: append([]string(nil), c.Subject.Organization...)}, true, nil
}

func hasClientAuth(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// StaticTokens authenticates bearer tokens from a fixed table (token → user), as node agents
// joining with --token do.
type StaticTokens map[string]User

// Authenticate implements Authenticator.
func (t StaticTokens) Authenticate(r *http.Request) (*User, bool, error) {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return nil, false, nil
	}
	token := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	for known, u := range t {
		if subtle.ConstantTimeCompare([]byte(known), []byte(token)) == 1 {
			user := u
			user.Groups = append([]string(nil), u.Groups...)
			return &user, true, nil
		}
	}
	return nil, false, nil
}

// Attributes describe what a request wants to do.
type Attributes struct {
	User                                  *User
	Verb                                  string
	Group, Version, Resource, Subresource string
	Namespace, Name                       string
	// Path is set for non-resource requests (/healthz, /version, /api ...).
	Path string
}

// IsResourceRequest tells resource requests from requests for other paths.
func (a *Attributes) IsResourceRequest() bool { return a.Resource != "" || a.Path == "" }

// Authorizer decides whether a request may proceed. reason explains a denial.
type Authorizer interface {
	Authorize(a Attributes) (allowed bool, reason string)
}

// AllowAll allows every authenticated request. It stands in until RBAC enforcement lands.
type AllowAll struct{}

// Authorize implements Authorizer.
func (AllowAll) Authorize(Attributes) (bool, string) { return true, "" }
