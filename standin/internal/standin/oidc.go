package standin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// Scope prefixes ZITADEL understands; requested scopes outside them (and outside the OIDC standard ones)
// are dropped silently by op.ValidateAuthReqScopes, never answered with invalid_scope.
const (
	projectScopePrefix   = "urn:zitadel:iam:org:project:id:"
	projectScopeSuffix   = ":aud"
	reservedZitadelScope = "zitadel"
	zitadelScopePrefix   = "urn:zitadel:iam:"
	accessTokenLifetime  = 12 * time.Hour
)

const (
	pathDiscovery  = "/.well-known/openid-configuration"
	pathToken      = "/oauth/v2/token"
	pathKeys       = "/oauth/v2/keys"
	pathIntrospect = "/oauth/v2/introspect"
	pathRevoke     = "/oauth/v2/revoke"
	pathUserinfo   = "/oidc/v1/userinfo"
	pathAuthorize  = "/oauth/v2/authorize"
	pathEndSession = "/oidc/v1/end_session"
	pathDeviceAuth = "/oauth/v2/device_authorization"
)

// oidcServer serves discovery, JWKS and the JWT profile grant through zitadel/oidc's op package, wired the
// way ZITADEL wires it: op.NewJWTProfileVerifier(keys, issuer, 1h max iat age, 1s offset) and
// op.VerifyJWTAssertion, then op.ValidateAuthReqScopes, then the user state check.
type oidcServer struct {
	op.UnimplementedServer
	st *State
}

func newOIDCHandler(st *State, issuer func(*http.Request) string) http.Handler {
	endpoints := op.Endpoints{
		Token:         op.NewEndpoint(pathToken),
		JwksURI:       op.NewEndpoint(pathKeys),
		Introspection: op.NewEndpoint(pathIntrospect),
		Revocation:    op.NewEndpoint(pathRevoke),
		Userinfo:      op.NewEndpoint(pathUserinfo),
	}
	return op.RegisterServer(&oidcServer{st: st}, endpoints,
		op.WithHTTPMiddleware(op.NewIssuerInterceptor(issuer).Handler))
}

func (s *oidcServer) Health(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(op.Status{Status: "ok"}), nil
}

func (s *oidcServer) Ready(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(op.Status{Status: "ok"}), nil
}

func (s *oidcServer) Discovery(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	iss := op.IssuerFromContext(ctx)
	return op.NewResponse(&oidc.DiscoveryConfiguration{
		Issuer:                      iss,
		AuthorizationEndpoint:       iss + pathAuthorize,
		TokenEndpoint:               iss + pathToken,
		IntrospectionEndpoint:       iss + pathIntrospect,
		UserinfoEndpoint:            iss + pathUserinfo,
		RevocationEndpoint:          iss + pathRevoke,
		EndSessionEndpoint:          iss + pathEndSession,
		DeviceAuthorizationEndpoint: iss + pathDeviceAuth,
		JwksURI:                     iss + pathKeys,
		ScopesSupported:             []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone, oidc.ScopeAddress, oidc.ScopeOfflineAccess},
		ResponseTypesSupported:      []string{string(oidc.ResponseTypeCode), string(oidc.ResponseTypeIDToken), string(oidc.ResponseTypeIDTokenOnly)},
		GrantTypesSupported: []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeImplicit, oidc.GrantTypeRefreshToken,
			oidc.GrantTypeClientCredentials, oidc.GrantTypeBearer, oidc.GrantTypeDeviceCode, oidc.GrantTypeTokenExchange},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           []string{string(jose.RS256)},
		RequestObjectSigningAlgValuesSupported:     []string{string(jose.RS256)},
		TokenEndpointAuthMethodsSupported:          []oidc.AuthMethod{oidc.AuthMethodNone, oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT},
		TokenEndpointAuthSigningAlgValuesSupported: []string{string(jose.RS256)},
		RevocationEndpointAuthMethodsSupported:     []oidc.AuthMethod{oidc.AuthMethodNone, oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT},
		IntrospectionEndpointAuthMethodsSupported:  []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPrivateKeyJWT},
		ClaimsSupported:                            []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "acr", "amr", "c_hash", "at_hash", "act", "scopes", "client_id", "azp", "preferred_username", "name", "updated_at"},
		CodeChallengeMethodsSupported:              []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256},
		RequestParameterSupported:                  true,
	}), nil
}

func (s *oidcServer) Keys(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return op.NewResponse(&jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &s.st.signingKey.PublicKey, KeyID: s.st.signingKeyID, Algorithm: string(jose.RS256), Use: "sig",
	}}}), nil
}

var errNotFound = errors.New("Errors.AuthNKey.NotFound")

// keyStorage is the op.JWTProfileKeyStorage: keys of machine users, by (key id, user id), expired keys and
// keys younger than the projection lag invisible, all misses the same "not found".
type keyStorage struct{ st *State }

func (k keyStorage) GetKeyByIDAndClientID(_ context.Context, keyID, userID string) (*jose.JSONWebKey, error) {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	u := k.st.users[userID]
	if u == nil {
		return nil, errNotFound
	}
	key := u.key(keyID)
	now := k.st.now()
	if key == nil || !key.Expiration.After(now) || now.Before(key.Created.Add(k.st.keyLag)) {
		return nil, errNotFound
	}
	return &jose.JSONWebKey{KeyID: keyID, Use: "sig", Key: key.Public}, nil
}

// JWTProfile is the RFC 7523 grant, in ZITADEL's order: assertion, scopes, then the user state.
func (s *oidcServer) JWTProfile(ctx context.Context, r *op.Request[oidc.JWTProfileGrantRequest]) (*op.Response, error) {
	var user *User
	checkSubject := func(req *oidc.JWTTokenRequest) error {
		if err := op.SubjectIsIssuer(req); err != nil {
			return err
		}
		s.st.mu.Lock()
		defer s.st.mu.Unlock()
		user = s.st.users[req.Subject]
		if user == nil {
			return errors.New("Errors.User.NotFound")
		}
		return nil
	}
	verifier := op.NewJWTProfileVerifier(keyStorage{s.st}, op.IssuerFromContext(ctx), time.Hour, time.Second,
		op.SubjectCheck(checkSubject))
	assertion, err := op.VerifyJWTAssertion(ctx, r.Data.Assertion, verifier)
	if err != nil {
		return nil, s.assertionError(err)
	}
	client := &jwtProfileClient{id: assertion.Subject}
	// docs/zitadel.md (repository root): an empty scope is refused. zitadel/oidc decodes "scope=" as [""], which would slip
	// past its emptiness check, so blank entries are dropped first.
	requested := slices.DeleteFunc(slices.Clone(r.Data.Scope), func(s string) bool { return s == "" })
	scopes, err := op.ValidateAuthReqScopes(client, requested)
	if err != nil {
		return nil, err
	}

	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if s.st.users[user.ID] == nil {
		return nil, s.assertionErrorLocked(errors.New("Errors.User.NotFound"))
	}
	if user.State != userpb.UserState_USER_STATE_ACTIVE {
		return nil, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("Errors.User.NotActive"), http.StatusBadRequest)
	}
	issuer := op.IssuerFromContext(ctx)
	audience := s.st.audienceFromScopes(user.ID, scopes)
	resp, err := s.st.issueTokens(issuer, user, audience, scopes)
	if err != nil {
		return nil, op.NewStatusError(oidc.ErrServerError().WithDescription("Errors.Internal").WithParent(err), http.StatusInternalServerError)
	}
	return op.NewResponse(resp), nil
}

func (s *oidcServer) assertionError(err error) error {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.assertionErrorLocked(err)
}

// assertionErrorLocked renders any assertion problem in the configured server-version style.
func (s *oidcServer) assertionErrorLocked(err error) error {
	if s.st.tokenStyle == StyleLegacy {
		return op.NewStatusError(oidc.ErrServerError().WithDescription("Errors.Internal").WithParent(err), http.StatusInternalServerError)
	}
	return op.NewStatusError(oidc.ErrInvalidGrant().WithDescription("invalid assertion").WithParent(err), http.StatusBadRequest)
}

// audienceFromScopes mirrors ZITADEL's domain.AddAudScopeToAudience: project audience scopes append the
// project id without checking that it exists; the reserved "zitadel" id means the instance's own project.
func (s *State) audienceFromScopes(clientID string, scopes []string) []string {
	aud := []string{clientID}
	for _, sc := range scopes {
		if !strings.HasPrefix(sc, projectScopePrefix) || !strings.HasSuffix(sc, projectScopeSuffix) {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(sc, projectScopePrefix), projectScopeSuffix)
		if id == reservedZitadelScope {
			id = s.IAMProjectID
		}
		if id != "" && !slices.Contains(aud, id) {
			aud = append(aud, id)
		}
	}
	return aud
}

// jwtProfileClient is the op.Client a machine user acts as during the JWT profile grant.
type jwtProfileClient struct{ id string }

func (c *jwtProfileClient) GetID() string                       { return c.id }
func (c *jwtProfileClient) RedirectURIs() []string              { return nil }
func (c *jwtProfileClient) PostLogoutRedirectURIs() []string    { return nil }
func (c *jwtProfileClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *jwtProfileClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodPrivateKeyJWT }
func (c *jwtProfileClient) ResponseTypes() []oidc.ResponseType  { return nil }
func (c *jwtProfileClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeBearer}
}
func (c *jwtProfileClient) LoginURL(string) string               { return "" }
func (c *jwtProfileClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *jwtProfileClient) IDTokenLifetime() time.Duration       { return accessTokenLifetime }
func (c *jwtProfileClient) DevMode() bool                        { return false }
func (c *jwtProfileClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *jwtProfileClient) ClockSkew() time.Duration             { return 0 }
func (c *jwtProfileClient) IsScopeAllowed(scope string) bool {
	return strings.HasPrefix(scope, zitadelScopePrefix)
}
func (c *jwtProfileClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return nil
}
func (c *jwtProfileClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
