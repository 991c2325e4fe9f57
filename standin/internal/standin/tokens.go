package standin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

func randomToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *State) sign(claims any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: s.signingKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.signingKeyID))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

type accessTokenClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ClientID  string   `json:"client_id"`
	JWTID     string   `json:"jti"`
}

type idTokenClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	AuthTime int64    `json:"auth_time"`
	AZP      string   `json:"azp"`
	ClientID string   `json:"client_id"`
}

// issueTokens creates the access token (opaque or JWT by the user's access token type) and, with the openid
// scope, an id_token. The caller holds s.mu.
func (s *State) issueTokens(issuer string, u *User, audience, scopes []string) (*oidc.AccessTokenResponse, error) {
	now := s.now()
	exp := now.Add(accessTokenLifetime)
	t := &AccessToken{ID: s.newID(), UserID: u.ID, Audience: audience, Scopes: scopes, Expiration: exp}
	var access string
	if u.AccessTokenType == userpb.AccessTokenType_ACCESS_TOKEN_TYPE_JWT {
		var err error
		access, err = s.sign(accessTokenClaims{Issuer: issuer, Subject: u.ID, Audience: audience, Expiry: exp.Unix(),
			IssuedAt: now.Unix(), NotBefore: now.Unix(), ClientID: u.ID, JWTID: t.ID})
		if err != nil {
			return nil, err
		}
	} else {
		t.ID = randomToken()
		access = t.ID
	}
	s.tokens[t.ID] = t
	resp := &oidc.AccessTokenResponse{
		AccessToken: access,
		TokenType:   oidc.BearerToken,
		// ZITADEL answers 43199 for its 12 h default: the lifetime counted from a moment already past.
		ExpiresIn: uint64(accessTokenLifetime.Seconds()) - 1,
	}
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		id, err := s.sign(idTokenClaims{Issuer: issuer, Subject: u.ID, Audience: audience, Expiry: exp.Unix(),
			IssuedAt: now.Unix(), AuthTime: now.Unix(), AZP: u.ID, ClientID: u.ID})
		if err != nil {
			return nil, err
		}
		resp.IDToken = id
	}
	return resp, nil
}

var errTokenInvalid = errors.New("token invalid")

// lookupToken resolves an opaque token or a JWT access token to the stored token. The caller holds s.mu.
func (s *State) lookupToken(raw string) (*AccessToken, error) {
	id := raw
	if strings.Count(raw, ".") == 2 {
		jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			return nil, errTokenInvalid
		}
		payload, err := jws.Verify(&s.signingKey.PublicKey)
		if err != nil {
			return nil, errTokenInvalid
		}
		var claims accessTokenClaims
		if err := json.Unmarshal(payload, &claims); err != nil || claims.JWTID == "" {
			return nil, errTokenInvalid
		}
		id = claims.JWTID
	}
	t := s.tokens[id]
	if t == nil || !s.now().Before(t.Expiration) {
		return nil, errTokenInvalid
	}
	return t, nil
}
