package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// Service account tokens, as Kubernetes issues and checks them (pkg/serviceaccount): JWTs
// signed by the API server's service account key, naming a service account and, for bound
// tokens, the pod (and its node), secret or node they are bound to. A token is valid while
// its signature, lifetime and audience are, and while the objects it names still exist
// with the UIDs it names.

const (
	// DefaultServiceAccountIssuer is the issuer (iss) of the tokens the API server signs and
	// its audience: what kubeadm configures as --service-account-issuer and, from it,
	// --api-audiences.
	DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// LegacyServiceAccountIssuer is the issuer of the tokens held in
	// kubernetes.io/service-account-token Secrets.
	LegacyServiceAccountIssuer = "kubernetes/serviceaccount"

	// ServiceAccountUsernamePrefix starts the user names of service accounts.
	ServiceAccountUsernamePrefix = "system:serviceaccount:"
	// GroupServiceAccounts holds every service account; GroupServiceAccounts+":"+namespace
	// those of one namespace.
	GroupServiceAccounts = "system:serviceaccounts"

	// User extra keys of service account users.
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"

	// WarnOnlyBoundTokenExpirationSeconds is the lifetime the admission-injected projected
	// token asks for (1h7s): a pod-bound request for exactly this long with the API
	// server's audiences is given ExpirationExtensionSeconds instead, with a warnafter
	// claim at the requested expiry, so that clients that do not reload their token keep
	// working.
	WarnOnlyBoundTokenExpirationSeconds = 60*60 + 7
	// ExpirationExtensionSeconds is the lifetime of extended tokens (one year).
	ExpirationExtensionSeconds = 24 * 365 * 60 * 60
	// MinTokenExpirationSeconds and MaxTokenExpirationSeconds bound a TokenRequest's
	// spec.expirationSeconds.
	MinTokenExpirationSeconds = 10 * 60
	MaxTokenExpirationSeconds = 1 << 32

	// leeway is the clock skew tolerated on exp, nbf and iat, and how long a deleted
	// object's tokens stay valid after its deletion timestamp (jwt.DefaultLeeway upstream).
	leeway = time.Minute
)

// ServiceAccountUsername is the user name of a service account.
func ServiceAccountUsername(namespace, name string) string {
	return ServiceAccountUsernamePrefix + namespace + ":" + name
}

// ServiceAccountGroups are the groups of a service account of namespace.
func ServiceAccountGroups(namespace string) []string {
	return []string{GroupServiceAccounts, GroupServiceAccounts + ":" + namespace}
}

// ObjectRef names an object a token refers to.
type ObjectRef struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// KubernetesClaims is the "kubernetes.io" claim of bound tokens.
type KubernetesClaims struct {
	Namespace      string           `json:"namespace,omitempty"`
	ServiceAccount ObjectRef        `json:"serviceaccount"`
	Pod            *ObjectRef       `json:"pod,omitempty"`
	Secret         *ObjectRef       `json:"secret,omitempty"`
	Node           *ObjectRef       `json:"node,omitempty"`
	WarnAfter      *jwt.NumericDate `json:"warnafter,omitempty"`
}

// ServiceAccountClaims are the claims of a service account token: the registered ones,
// "kubernetes.io" for bound tokens, and the flat kubernetes.io/serviceaccount/* claims of
// legacy Secret tokens.
type ServiceAccountClaims struct {
	jwt.RegisteredClaims
	Kubernetes *KubernetesClaims `json:"kubernetes.io,omitempty"`

	LegacyNamespace          string `json:"kubernetes.io/serviceaccount/namespace,omitempty"`
	LegacySecretName         string `json:"kubernetes.io/serviceaccount/secret.name,omitempty"`
	LegacyServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name,omitempty"`
	LegacyServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid,omitempty"`
}

// TokenBinding is what a bound token is bound to: a pod (and the node it runs on, which
// is informational), a secret, or a node. All may be nil.
type TokenBinding struct {
	Pod    *corev1.Pod
	Secret *corev1.Secret
	Node   *corev1.Node
}

// NewServiceAccountClaims returns the claims of a token for sa, issued at now, valid for
// expiration, bound as b, for audiences. A non-zero warnAfter adds the warnafter claim
// (now+warnAfter). The issuer is set by TokenIssuer.Issue.
func NewServiceAccountClaims(sa *corev1.ServiceAccount, b TokenBinding, audiences []string, now time.Time, expiration, warnAfter time.Duration) (*ServiceAccountClaims, error) {
	if b.Secret != nil && (b.Pod != nil || b.Node != nil) {
		return nil, errors.New("auth: a token can only be bound to one object type")
	}
	c := &ServiceAccountClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   ServiceAccountUsername(sa.Namespace, sa.Name),
			Audience:  jwt.ClaimStrings(slices.Clone(audiences)),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(expiration)),
			ID:        string(uuid.NewUUID()),
		},
		Kubernetes: &KubernetesClaims{
			Namespace:      sa.Namespace,
			ServiceAccount: ObjectRef{Name: sa.Name, UID: string(sa.UID)},
		},
	}
	k := c.Kubernetes
	switch {
	case b.Pod != nil:
		k.Pod = &ObjectRef{Name: b.Pod.Name, UID: string(b.Pod.UID)}
		if b.Node != nil {
			k.Node = &ObjectRef{Name: b.Node.Name, UID: string(b.Node.UID)}
		}
	case b.Secret != nil:
		k.Secret = &ObjectRef{Name: b.Secret.Name, UID: string(b.Secret.UID)}
	case b.Node != nil:
		k.Node = &ObjectRef{Name: b.Node.Name, UID: string(b.Node.UID)}
	}
	if warnAfter != 0 {
		k.WarnAfter = jwt.NewNumericDate(now.Add(warnAfter))
	}
	return c, nil
}

// LegacyServiceAccountClaims are the claims of the non-expiring token of a
// kubernetes.io/service-account-token Secret.
func LegacyServiceAccountClaims(sa *corev1.ServiceAccount, secret *corev1.Secret) *ServiceAccountClaims {
	return &ServiceAccountClaims{
		RegisteredClaims:         jwt.RegisteredClaims{Subject: ServiceAccountUsername(sa.Namespace, sa.Name)},
		LegacyNamespace:          sa.Namespace,
		LegacySecretName:         secret.Name,
		LegacyServiceAccountName: sa.Name,
		LegacyServiceAccountUID:  string(sa.UID),
	}
}

// TokenIssuer signs service account tokens.
type TokenIssuer struct {
	issuer string
	method jwt.SigningMethod
	key    crypto.PrivateKey
	keyID  string
}

// NewTokenIssuer returns an issuer named issuer that signs with key (ECDSA: ES256/384/512
// by curve; RSA: RS256).
func NewTokenIssuer(issuer string, key crypto.Signer) (*TokenIssuer, error) {
	var method jwt.SigningMethod
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			method = jwt.SigningMethodES256
		case elliptic.P384():
			method = jwt.SigningMethodES384
		case elliptic.P521():
			method = jwt.SigningMethodES512
		default:
			return nil, fmt.Errorf("auth: unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
	default:
		return nil, fmt.Errorf("auth: unsupported service account key type %T", key)
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	return &TokenIssuer{issuer: issuer, method: method, key: key, keyID: kid}, nil
}

// Issuer is the iss claim of the issued tokens.
func (i *TokenIssuer) Issuer() string { return i.issuer }

// Issue signs c, setting its issuer: bound tokens get the issuer's name, legacy ones (no
// "kubernetes.io" claim) LegacyServiceAccountIssuer.
func (i *TokenIssuer) Issue(c *ServiceAccountClaims) (string, error) {
	c.Issuer = i.issuer
	if c.Kubernetes == nil {
		c.Issuer = LegacyServiceAccountIssuer
	}
	t := jwt.NewWithClaims(i.method, c)
	t.Header["kid"] = i.keyID
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("auth: signing token: %w", err)
	}
	return s, nil
}

// KeyID is the kid header of tokens signed with the key whose public half is pub: the
// unpadded base64url SHA-256 of its PKIX encoding, as Kubernetes computes it.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("auth: encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// ServiceAccountObjects reads the objects tokens refer to. Errors (not found included)
// reject the token.
type ServiceAccountObjects interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

// ServiceAccountTokens authenticates bearer service account tokens. Tokens of other
// issuers, and bearer credentials that are not JWTs, are left to other authenticators.
type ServiceAccountTokens struct {
	// Issuer is the iss of bound tokens.
	Issuer string
	// Keys verify signatures (the public halves of the signing keys).
	Keys []crypto.PublicKey
	// Audiences are the API server's: a token must carry one of them (tokens without an
	// audience get these).
	Audiences []string
	// Legacy also accepts the tokens of kubernetes.io/service-account-token Secrets.
	Legacy bool
	// Objects looks up service accounts and bound objects; it must be set before the first
	// request.
	Objects ServiceAccountObjects
	// Now is the clock (default time.Now).
	Now func() time.Time
}

var serviceAccountMethods = []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// Authenticate implements Authenticator.
func (a *ServiceAccountTokens) Authenticate(r *http.Request) (*User, bool, error) {
	token, ok := bearerToken(r)
	if !ok {
		return nil, false, nil
	}
	return a.AuthenticateToken(r.Context(), token)
}

// AuthenticateToken checks a service account token: ok is false for tokens that are not
// ours, err set for ours that are not valid.
func (a *ServiceAccountTokens) AuthenticateToken(ctx context.Context, token string) (*User, bool, error) {
	if strings.Count(token, ".") != 2 {
		return nil, false, nil
	}
	var claims ServiceAccountClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return nil, false, nil
	}
	legacy := claims.Issuer == LegacyServiceAccountIssuer
	if claims.Issuer != a.Issuer && !(legacy && a.Legacy) {
		return nil, false, nil
	}
	claims = ServiceAccountClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods(serviceAccountMethods), jwt.WithoutClaimsValidation())
	keys := jwt.VerificationKeySet{}
	for _, k := range a.Keys {
		keys.Keys = append(keys.Keys, k)
	}
	if _, err := parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return keys, nil }); err != nil {
		return nil, false, fmt.Errorf("%w: service account token: %w", ErrInvalidCredentials, err)
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	if err := a.checkAudience(claims.Audience); err != nil {
		return nil, false, err
	}
	var (
		u   *User
		err error
	)
	if legacy {
		u, err = a.validateLegacy(ctx, token, &claims)
	} else {
		u, err = a.validate(ctx, &claims, now)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: service account token: %w", ErrInvalidCredentials, err)
	}
	return u, true, nil
}

func (a *ServiceAccountTokens) checkAudience(auds jwt.ClaimStrings) error {
	if len(auds) == 0 || len(a.Audiences) == 0 {
		return nil // legacy tokens have none: they are for the API server only
	}
	for _, aud := range auds {
		if slices.Contains(a.Audiences, aud) {
			return nil
		}
	}
	return fmt.Errorf("%w: token audiences %q is invalid for the target audiences %q", ErrInvalidCredentials, []string(auds), a.Audiences)
}

func (a *ServiceAccountTokens) validate(ctx context.Context, c *ServiceAccountClaims, now time.Time) (*User, error) {
	switch {
	case c.ExpiresAt != nil && now.After(c.ExpiresAt.Add(leeway)):
		return nil, errors.New("service account token has expired")
	case c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.Time):
		return nil, errors.New("service account token is not valid yet")
	case c.IssuedAt != nil && now.Add(leeway).Before(c.IssuedAt.Time):
		return nil, errors.New("service account token is issued in the future")
	}
	k := c.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" || k.ServiceAccount.UID == "" {
		return nil, errors.New("service account token has no kubernetes.io claims")
	}
	if a.Objects == nil {
		return nil, errors.New("service account lookups are not available")
	}
	deletedBefore := now.Add(-leeway)
	ns := k.Namespace
	sa, err := a.Objects.ServiceAccount(ctx, ns, k.ServiceAccount.Name)
	if err != nil {
		return nil, fmt.Errorf("service account %s/%s: %w", ns, k.ServiceAccount.Name, err)
	}
	if sa.DeletionTimestamp != nil && sa.DeletionTimestamp.Time.Before(deletedBefore) {
		return nil, errors.New("service account token has been invalidated")
	}
	if string(sa.UID) != k.ServiceAccount.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, k.ServiceAccount.UID)
	}
	u := &User{
		Name:   ServiceAccountUsername(ns, k.ServiceAccount.Name),
		UID:    k.ServiceAccount.UID,
		Groups: ServiceAccountGroups(ns),
		Extra:  map[string][]string{},
	}
	if ref := k.Secret; ref != nil {
		secret, err := a.Objects.Secret(ctx, ns, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("bound secret %s/%s: %w", ns, ref.Name, err)
		}
		if secret.DeletionTimestamp != nil && secret.DeletionTimestamp.Time.Before(deletedBefore) {
			return nil, errors.New("service account token has been invalidated")
		}
		if string(secret.UID) != ref.UID {
			return nil, fmt.Errorf("secret UID (%s) does not match service account secret ref claim (%s)", secret.UID, ref.UID)
		}
	}
	if ref := k.Pod; ref != nil {
		pod, err := a.Objects.Pod(ctx, ns, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("bound pod %s/%s: %w", ns, ref.Name, err)
		}
		if pod.DeletionTimestamp != nil && pod.DeletionTimestamp.Time.Before(deletedBefore) {
			return nil, errors.New("service account token has been invalidated")
		}
		if string(pod.UID) != ref.UID {
			return nil, fmt.Errorf("pod UID (%s) does not match claim (%s)", pod.UID, ref.UID)
		}
		u.Extra[ExtraPodName] = []string{ref.Name}
		u.Extra[ExtraPodUID] = []string{ref.UID}
	}
	if ref := k.Node; ref != nil {
		if k.Pod == nil {
			// Node-bound: the node must still be there. For pod-bound tokens the node is
			// information only.
			node, err := a.Objects.Node(ctx, ref.Name)
			if err != nil {
				return nil, fmt.Errorf("bound node %s: %w", ref.Name, err)
			}
			if node.DeletionTimestamp != nil && node.DeletionTimestamp.Time.Before(deletedBefore) {
				return nil, errors.New("service account token has been invalidated")
			}
			if string(node.UID) != ref.UID {
				return nil, fmt.Errorf("node UID (%s) does not match claim (%s)", node.UID, ref.UID)
			}
		}
		u.Extra[ExtraNodeName] = []string{ref.Name}
		if ref.UID != "" {
			u.Extra[ExtraNodeUID] = []string{ref.UID}
		}
	}
	if c.ID != "" {
		u.Extra[ExtraCredentialID] = []string{"JTI=" + c.ID}
	}
	return u, nil
}

func (a *ServiceAccountTokens) validateLegacy(ctx context.Context, token string, c *ServiceAccountClaims) (*User, error) {
	ns, secretName, saName, saUID := c.LegacyNamespace, c.LegacySecretName, c.LegacyServiceAccountName, c.LegacyServiceAccountUID
	switch {
	case ns == "":
		return nil, errors.New("namespace claim is missing")
	case secretName == "":
		return nil, errors.New("secretName claim is missing")
	case saName == "":
		return nil, errors.New("serviceAccountName claim is missing")
	case saUID == "":
		return nil, errors.New("serviceAccountUID claim is missing")
	}
	if a.Objects == nil {
		return nil, errors.New("service account lookups are not available")
	}
	secret, err := a.Objects.Secret(ctx, ns, secretName)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", ns, secretName, err)
	}
	if secret.DeletionTimestamp != nil {
		return nil, errors.New("service account token has been invalidated")
	}
	if subtle.ConstantTimeCompare(secret.Data[corev1.ServiceAccountTokenKey], []byte(token)) != 1 {
		return nil, errors.New("token does not match the service account token secret")
	}
	sa, err := a.Objects.ServiceAccount(ctx, ns, saName)
	if err != nil {
		return nil, fmt.Errorf("service account %s/%s: %w", ns, saName, err)
	}
	if sa.DeletionTimestamp != nil {
		return nil, errors.New("service account has been deleted")
	}
	if string(sa.UID) != saUID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, saUID)
	}
	return &User{Name: ServiceAccountUsername(ns, saName), UID: saUID, Groups: ServiceAccountGroups(ns)}, nil
}

// bearerToken is the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
