package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// Service account issuer discovery: the OpenID Connect documents that let other systems
// verify the API server's service account tokens (GET /.well-known/openid-configuration and
// the key set it points at).

type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	// RSA
	N string `json:"n,omitempty"`
	E string `json:"e,omitempty"`
	// ECDSA
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

func b64(i *big.Int, size int) string {
	b := i.Bytes()
	if size > len(b) {
		b = append(make([]byte, size-len(b)), b...)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// JWKS is the JSON Web Key Set of the issuer's public key.
func (i *TokenIssuer) JWKS() ([]byte, error) {
	k := jwk{Use: "sig", Alg: i.method.Alg(), Kid: i.keyID}
	switch key := i.key.(type) {
	case *rsa.PrivateKey:
		k.Kty, k.N, k.E = "RSA", b64(key.N, 0), b64(big.NewInt(int64(key.E)), 0)
	case *ecdsa.PrivateKey:
		size := (key.Curve.Params().BitSize + 7) / 8
		k.Kty, k.Crv, k.X, k.Y = "EC", key.Curve.Params().Name, b64(key.X, size), b64(key.Y, size)
	default:
		return nil, fmt.Errorf("auth: unsupported key type %T", i.key)
	}
	return json.Marshal(map[string][]jwk{"keys": {k}})
}

// OpenIDConfiguration is the issuer's discovery document; jwksURI is where its key set is
// served.
func (i *TokenIssuer) OpenIDConfiguration(jwksURI string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"issuer":                                i.issuer,
		"jwks_uri":                              jwksURI,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{i.method.Alg()},
	})
}
