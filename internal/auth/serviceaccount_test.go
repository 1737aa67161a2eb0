package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type fakeObjects struct {
	sas     map[string]*corev1.ServiceAccount
	pods    map[string]*corev1.Pod
	secrets map[string]*corev1.Secret
	nodes   map[string]*corev1.Node
}

func notFound(res, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: res}, name)
}

func (f *fakeObjects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if o, ok := f.sas[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("serviceaccounts", name)
}

func (f *fakeObjects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if o, ok := f.pods[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("pods", name)
}

func (f *fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if o, ok := f.secrets[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("secrets", name)
}

func (f *fakeObjects) Node(_ context.Context, name string) (*corev1.Node, error) {
	if o, ok := f.nodes[name]; ok {
		return o, nil
	}
	return nil, notFound("nodes", name)
}

type fixture struct {
	issuer  *TokenIssuer
	authn   *ServiceAccountTokens
	objects *fakeObjects
	sa      *corev1.ServiceAccount
	pod     *corev1.Pod
	node    *corev1.Node
	now     time.Time
}

func newFixture(t *testing.T, key crypto.Signer) *fixture {
	t.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	issuer, err := NewTokenIssuer(DefaultServiceAccountIssuer, key)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		issuer: issuer,
		sa:     &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app", UID: "sa-uid"}},
		pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "pod-uid"},
			Spec: corev1.PodSpec{ServiceAccountName: "app", NodeName: "n1"}},
		node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}},
		now:  time.Unix(1_700_000_000, 0),
	}
	f.objects = &fakeObjects{
		sas:     map[string]*corev1.ServiceAccount{"ns/app": f.sa},
		pods:    map[string]*corev1.Pod{"ns/web": f.pod},
		secrets: map[string]*corev1.Secret{},
		nodes:   map[string]*corev1.Node{"n1": f.node},
	}
	f.authn = &ServiceAccountTokens{Issuer: DefaultServiceAccountIssuer, Keys: []crypto.PublicKey{key.Public()},
		Audiences: []string{DefaultServiceAccountIssuer}, Legacy: true, Objects: f.objects, Now: func() time.Time { return f.now }}
	return f
}

func (f *fixture) token(t *testing.T, b TokenBinding, auds []string, exp, warnAfter time.Duration) string {
	t.Helper()
	c, err := NewServiceAccountClaims(f.sa, b, auds, f.now, exp, warnAfter)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.issuer.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) authenticate(token string) (*User, bool, error) {
	r, _ := http.NewRequest(http.MethodGet, "https://example/api", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return f.authn.Authenticate(r)
}

func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestServiceAccountTokenClaims(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(t, TokenBinding{Pod: f.pod, Node: f.node}, []string{DefaultServiceAccountIssuer}, 3607*time.Second*24*365, 3607*time.Second)
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	wantKid, _ := KeyID(f.authn.Keys[0])
	if h["alg"] != "ES256" || h["kid"] != wantKid {
		t.Errorf("header = %v, want ES256 with kid %s", h, wantKid)
	}
	p := payload(t, tok)
	if p["iss"] != DefaultServiceAccountIssuer || p["sub"] != "system:serviceaccount:ns:app" {
		t.Errorf("iss/sub = %v/%v", p["iss"], p["sub"])
	}
	if aud, _ := p["aud"].([]any); len(aud) != 1 || aud[0] != DefaultServiceAccountIssuer {
		t.Errorf("aud = %v, want a one-element array", p["aud"])
	}
	for _, k := range []string{"exp", "iat", "nbf", "jti"} {
		if _, ok := p[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if p["iat"].(float64) != float64(f.now.Unix()) {
		t.Errorf("iat = %v", p["iat"])
	}
	k := p["kubernetes.io"].(map[string]any)
	want := map[string]any{
		"namespace":      "ns",
		"serviceaccount": map[string]any{"name": "app", "uid": "sa-uid"},
		"pod":            map[string]any{"name": "web", "uid": "pod-uid"},
		"node":           map[string]any{"name": "n1", "uid": "node-uid"},
		"warnafter":      float64(f.now.Unix() + 3607),
	}
	got, _ := json.Marshal(k)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("kubernetes.io = %s\nwant %s", got, wantJSON)
	}

	u, ok, err := f.authenticate(tok)
	if err != nil || !ok {
		t.Fatalf("authenticate: ok=%v err=%v", ok, err)
	}
	if u.Name != "system:serviceaccount:ns:app" || u.UID != "sa-uid" ||
		!slices.Equal(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:ns"}) {
		t.Errorf("user = %+v", u)
	}
	for key, v := range map[string]string{ExtraPodName: "web", ExtraPodUID: "pod-uid", ExtraNodeName: "n1", ExtraNodeUID: "node-uid",
		ExtraCredentialID: "JTI=" + p["jti"].(string)} {
		if got := u.Extra[key]; len(got) != 1 || got[0] != v {
			t.Errorf("extra %s = %v, want %s", key, got, v)
		}
	}
}

func TestServiceAccountTokenRejected(t *testing.T) {
	auds := []string{DefaultServiceAccountIssuer}
	tests := []struct {
		name  string
		token func(f *fixture) string
		// change alters the world after the token was issued.
		change func(f *fixture)
	}{
		{"tampered payload", func(f *fixture) string {
			tok := f.token(t, TokenBinding{}, auds, time.Hour, 0)
			parts := strings.Split(tok, ".")
			p := payload(t, tok)
			p["sub"] = "system:serviceaccount:kube-system:admin"
			data, _ := json.Marshal(p)
			parts[1] = base64.RawURLEncoding.EncodeToString(data)
			return strings.Join(parts, ".")
		}, nil},
		{"tampered signature", func(f *fixture) string {
			tok := f.token(t, TokenBinding{}, auds, time.Hour, 0)
			parts := strings.Split(tok, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[0] ^= 0xff
			parts[2] = base64.RawURLEncoding.EncodeToString(sig)
			return strings.Join(parts, ".")
		}, nil},
		{"other key", func(f *fixture) string {
			other := newFixture(t, nil)
			other.sa = f.sa
			return other.token(t, TokenBinding{}, auds, time.Hour, 0)
		}, nil},
		{"expired", func(f *fixture) string { return f.token(t, TokenBinding{}, auds, 10*time.Minute, 0) },
			func(f *fixture) { f.now = f.now.Add(12 * time.Minute) }},
		{"not valid yet", func(f *fixture) string { return f.token(t, TokenBinding{}, auds, time.Hour, 0) },
			func(f *fixture) { f.now = f.now.Add(-5 * time.Minute) }},
		{"wrong audience", func(f *fixture) string { return f.token(t, TokenBinding{}, []string{"vault"}, time.Hour, 0) }, nil},
		{"deleted service account", func(f *fixture) string { return f.token(t, TokenBinding{}, auds, time.Hour, 0) },
			func(f *fixture) { delete(f.objects.sas, "ns/app") }},
		{"recreated service account", func(f *fixture) string { return f.token(t, TokenBinding{}, auds, time.Hour, 0) },
			func(f *fixture) {
				f.objects.sas["ns/app"] = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app", UID: "new"}}
			}},
		{"service account deleted long ago", func(f *fixture) string { return f.token(t, TokenBinding{}, auds, time.Hour, 0) },
			func(f *fixture) {
				sa := f.sa.DeepCopy()
				sa.DeletionTimestamp = &metav1.Time{Time: f.now.Add(-2 * time.Minute)}
				f.objects.sas["ns/app"] = sa
			}},
		{"deleted pod", func(f *fixture) string { return f.token(t, TokenBinding{Pod: f.pod, Node: f.node}, auds, time.Hour, 0) },
			func(f *fixture) { delete(f.objects.pods, "ns/web") }},
		{"recreated pod", func(f *fixture) string { return f.token(t, TokenBinding{Pod: f.pod}, auds, time.Hour, 0) },
			func(f *fixture) {
				f.objects.pods["ns/web"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "other"}}
			}},
		{"deleted node of a node-bound token", func(f *fixture) string { return f.token(t, TokenBinding{Node: f.node}, auds, time.Hour, 0) },
			func(f *fixture) { delete(f.objects.nodes, "n1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			tok := tt.token(f)
			if tt.change != nil {
				tt.change(f)
			}
			u, ok, err := f.authenticate(tok)
			if ok || err == nil || !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("authenticate = %+v, %v, %v; want an invalid-credentials error", u, ok, err)
			}
		})
	}
}

func TestServiceAccountTokenAccepted(t *testing.T) {
	f := newFixture(t, nil)
	// A pod-bound token does not depend on the node, which is information only.
	tok := f.token(t, TokenBinding{Pod: f.pod, Node: f.node}, []string{"other", DefaultServiceAccountIssuer}, time.Hour, 0)
	delete(f.objects.nodes, "n1")
	// Within the leeway of deletion, and of expiry.
	f.now = f.now.Add(time.Hour + 30*time.Second)
	pod := f.pod.DeepCopy()
	pod.DeletionTimestamp = &metav1.Time{Time: f.now.Add(-30 * time.Second)}
	f.objects.pods["ns/web"] = pod
	if _, ok, err := f.authenticate(tok); !ok || err != nil {
		t.Fatalf("authenticate: ok=%v err=%v", ok, err)
	}
}

func TestServiceAccountTokenRSA(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, key)
	tok := f.token(t, TokenBinding{}, nil, time.Hour, 0)
	if _, ok, err := f.authenticate(tok); !ok || err != nil {
		t.Fatalf("authenticate: ok=%v err=%v", ok, err)
	}
}

func TestServiceAccountTokenNotOurs(t *testing.T) {
	f := newFixture(t, nil)
	other, err := NewTokenIssuer("https://oidc.example", f.issuer.key.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewServiceAccountClaims(f.sa, TokenBinding{}, nil, f.now, time.Hour, 0)
	foreign, err := other.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"static-token", "a.b.c", foreign} {
		if u, ok, err := f.authenticate(tok); ok || err != nil {
			t.Errorf("%q: authenticate = %+v, %v, %v; want not ours", tok, u, ok, err)
		}
	}
	r, _ := http.NewRequest(http.MethodGet, "https://example/api", nil)
	if _, ok, err := f.authn.Authenticate(r); ok || err != nil {
		t.Errorf("no credentials: ok=%v err=%v", ok, err)
	}
}

func TestLegacyServiceAccountToken(t *testing.T) {
	f := newFixture(t, nil)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app-token", UID: "secret-uid"},
		Type: corev1.SecretTypeServiceAccountToken}
	tok, err := f.issuer.Issue(LegacyServiceAccountClaims(f.sa, secret))
	if err != nil {
		t.Fatal(err)
	}
	if p := payload(t, tok); p["iss"] != LegacyServiceAccountIssuer || p["kubernetes.io/serviceaccount/secret.name"] != "app-token" {
		t.Fatalf("legacy claims = %v", p)
	}
	secret.Data = map[string][]byte{"token": []byte(tok)}
	f.objects.secrets["ns/app-token"] = secret
	u, ok, err := f.authenticate(tok)
	if !ok || err != nil || u.Name != "system:serviceaccount:ns:app" {
		t.Fatalf("authenticate = %+v, %v, %v", u, ok, err)
	}
	delete(f.objects.secrets, "ns/app-token")
	if _, ok, err := f.authenticate(tok); ok || err == nil {
		t.Fatalf("token of a deleted secret accepted")
	}
	f.authn.Legacy = false
	f.objects.secrets["ns/app-token"] = secret
	if _, ok, err := f.authenticate(tok); ok || err != nil {
		t.Fatalf("legacy disabled: ok=%v err=%v, want not ours", ok, err)
	}
}
