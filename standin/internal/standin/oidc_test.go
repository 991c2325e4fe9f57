package standin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func b64(v any) string {
	raw, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func claimsFor(e *testEnv, k keyFile) map[string]any {
	now := time.Now()
	return map[string]any{"iss": k.UserID, "sub": k.UserID, "aud": e.base, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// TestJWTProfileRefusesWhatZitadelRefuses pins that zitadel/oidc's verifier, configured as ZITADEL configures
// it, turns every bad assertion into 400 invalid_grant "invalid assertion".
func TestJWTProfileRefusesWhatZitadelRefuses(t *testing.T) {
	e := start(t)
	good := e.admin
	expired := e.machineUser(e.srv.Info.DefaultOrgID, "expired-key-user", "")
	// Re-key that user with an already expired key (the control API allows it, the management API does not).
	expiredKey := parseKeyFile(t, e.control(http.MethodPost, "/users/"+expired.UserID+"/keys",
		map[string]string{"expirationDate": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}).Body["keyDetails"].(string))

	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func() string{
		"wrong signature": func() string { return signRS256(t, otherKey, good.KeyID, claimsFor(e, good)) },
		"iss differs from sub": func() string {
			return e.assertion(good, func(c map[string]any) { c["sub"] = expired.UserID })
		},
		"aud without the issuer": func() string {
			return e.assertion(good, func(c map[string]any) { c["aud"] = []string{"https://other.example"} })
		},
		"iat 2s in the future": func() string {
			// iat has whole seconds and the verifier rounds now+1s to the second, so "2 s ahead" must be
			// counted from the next full second to be ahead whatever the sub-second part of now is.
			ahead := time.Now().Truncate(time.Second).Add(time.Second + 2*time.Second)
			return e.assertion(good, func(c map[string]any) { c["iat"] = ahead.Unix() })
		},
		"iat 61 min old": func() string {
			return e.assertion(good, func(c map[string]any) {
				c["iat"] = time.Now().Add(-61 * time.Minute).Unix()
				c["exp"] = time.Now().Add(time.Hour).Unix()
			})
		},
		"exp in the past": func() string {
			return e.assertion(good, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Second).Unix() })
		},
		"expired key": func() string { return e.assertion(expiredKey, nil) },
		"unknown kid": func() string { return signRS256(t, privateKey(t, good), "1234", claimsFor(e, good)) },
		"another user's key id": func() string {
			return e.assertion(good, func(c map[string]any) { c["iss"], c["sub"] = expired.UserID, expired.UserID })
		},
		"HS256": func() string {
			head := b64(map[string]string{"alg": "HS256", "typ": "JWT", "kid": good.KeyID})
			body := b64(claimsFor(e, good))
			mac := hmac.New(sha256.New, []byte(good.Key))
			mac.Write([]byte(head + "." + body))
			return head + "." + body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		},
		"alg none": func() string {
			return b64(map[string]string{"alg": "none", "typ": "JWT", "kid": good.KeyID}) + "." + b64(claimsFor(e, good)) + "."
		},
		"two segments": func() string { return "abc.def" },
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.token(build(), zitadelScopes)
			if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" || r.Body["error_description"] != "invalid assertion" {
				t.Fatalf("want 400 invalid_grant/invalid assertion, got %d %s", r.Status, r.Raw)
			}
		})
	}
	// Sanity: the untouched assertion passes, so each case above failed for its own reason.
	if r := e.token(e.assertion(good, nil), zitadelScopes); r.Status != http.StatusOK {
		t.Fatalf("control case: %d %s", r.Status, r.Raw)
	}
}

func TestLegacyErrorStyleAnswers500ErrorsInternal(t *testing.T) {
	e := start(t)
	e.control(http.MethodPut, "/token-error-style", map[string]string{"style": "legacy"})
	r := e.token(e.assertion(e.admin, func(c map[string]any) { c["aud"] = "https://elsewhere" }), zitadelScopes)
	if r.Status != http.StatusInternalServerError || r.Body["error"] != "server_error" || r.Body["error_description"] != "Errors.Internal" {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	e.control(http.MethodPost, "/reset", nil)
	if r := e.token(e.assertion(e.admin, func(c map[string]any) { c["aud"] = "x" }), zitadelScopes); r.Status != http.StatusBadRequest {
		t.Fatalf("reset did not restore the current style: %d", r.Status)
	}
}

func TestTokenSuccessShape(t *testing.T) {
	e := start(t)
	r := e.token(e.assertion(e.admin, nil), zitadelScopes)
	if r.Status != http.StatusOK {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	if r.Body["token_type"] != "Bearer" || r.Body["expires_in"] != float64(43199) || r.Body["id_token"] == nil {
		t.Fatalf("unexpected body %s", r.Raw)
	}
	for _, absent := range []string{"refresh_token", "scope"} {
		if _, ok := r.Body[absent]; ok {
			t.Fatalf("%s must be absent: %s", absent, r.Raw)
		}
	}
	if strings.Count(r.Body["access_token"].(string), ".") != 0 {
		t.Fatalf("a BEARER user gets an opaque token")
	}
	noOpenID := e.token(e.assertion(e.admin, nil), "urn:zitadel:iam:org:project:id:zitadel:aud")
	if _, ok := noOpenID.Body["id_token"]; ok || noOpenID.Status != http.StatusOK {
		t.Fatalf("id_token only with openid: %s", noOpenID.Raw)
	}
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestJWTAccessTokenCarriesMappedAudience(t *testing.T) {
	e := start(t)
	k := e.machineUser(e.srv.Info.DefaultOrgID, "jwt-user", "ACCESS_TOKEN_TYPE_JWT")
	r := e.token(e.assertion(k, nil), "openid urn:zitadel:iam:org:project:id:zitadel:aud urn:zitadel:iam:org:project:id:999999999999999999:aud unknown-scope")
	if r.Status != http.StatusOK {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	c := jwtClaims(t, r.Body["access_token"].(string))
	aud := []string{}
	for _, a := range c["aud"].([]any) {
		aud = append(aud, a.(string))
	}
	if !slices.Contains(aud, e.srv.Info.IAMProjectID) || !slices.Contains(aud, "999999999999999999") {
		t.Fatalf("aud %v lacks the mapped project ids", aud)
	}
	for _, claim := range []string{"iss", "sub", "exp", "iat", "nbf", "client_id", "jti"} {
		if _, ok := c[claim]; !ok {
			t.Fatalf("JWT access token lacks %s", claim)
		}
	}
	if c["sub"] != k.UserID || c["iss"] != e.base {
		t.Fatalf("sub/iss wrong: %v", c)
	}
	me := e.do(http.MethodGet, "/auth/v1/users/me", nil, map[string]string{"Authorization": "Bearer " + r.Body["access_token"].(string)})
	if me.Status != http.StatusOK {
		t.Fatalf("JWT token refused by the API: %d %s", me.Status, me.Raw)
	}
}

func TestDeactivatedUserIsNotActive(t *testing.T) {
	e := start(t)
	k := e.machineUser(e.srv.Info.DefaultOrgID, "sleepy", "")
	e.control(http.MethodPost, "/users/"+k.UserID+"/_deactivate", nil)
	for _, style := range []string{"current", "legacy"} {
		e.control(http.MethodPut, "/token-error-style", map[string]string{"style": style})
		r := e.token(e.assertion(k, nil), zitadelScopes)
		if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_request" || r.Body["error_description"] != "Errors.User.NotActive" {
			t.Fatalf("%s: got %d %s", style, r.Status, r.Raw)
		}
	}
	e.control(http.MethodPost, "/users/"+k.UserID+"/_reactivate", nil)
	if r := e.token(e.assertion(k, nil), zitadelScopes); r.Status != http.StatusOK {
		t.Fatalf("reactivated: %d %s", r.Status, r.Raw)
	}
}

func TestDeletedUserAndRemovedKeyLookNotFound(t *testing.T) {
	e := start(t)
	k := e.machineUser(e.srv.Info.DefaultOrgID, "gone", "")
	e.control(http.MethodDelete, "/users/"+k.UserID+"/keys/"+k.KeyID, nil)
	if r := e.token(e.assertion(k, nil), zitadelScopes); r.Body["error_description"] != "invalid assertion" {
		t.Fatalf("removed key: %s", r.Raw)
	}
	e.control(http.MethodDelete, "/users/"+k.UserID, nil)
	if r := e.token(e.assertion(k, nil), zitadelScopes); r.Body["error_description"] != "invalid assertion" {
		t.Fatalf("deleted user: %s", r.Raw)
	}
}

func TestTokenRequestErrors(t *testing.T) {
	e := start(t)
	post := func(form url.Values) response {
		return e.do(http.MethodPost, pathToken, strings.NewReader(form.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	}
	cases := []struct {
		name  string
		form  url.Values
		error string
	}{
		{"empty scope", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.assertion(e.admin, nil)}, "scope": {""}}, "invalid_request"},
		{"missing scope", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.assertion(e.admin, nil)}}, "invalid_request"},
		{"missing assertion", url.Values{"grant_type": {grantJWTBearer}, "scope": {"openid"}}, "invalid_request"},
		{"missing grant type", url.Values{"assertion": {"x"}}, "invalid_request"},
		{"unknown grant type", url.Values{"grant_type": {"urn:example:nope"}}, "unsupported_grant_type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(c.form)
			if r.Status != http.StatusBadRequest || r.Body["error"] != c.error {
				t.Fatalf("want 400 %s, got %d %s", c.error, r.Status, r.Raw)
			}
		})
	}
}

func TestKeyLagHidesNewKeysUntilItPasses(t *testing.T) {
	e := start(t)
	e.control(http.MethodPut, "/lag", map[string]int{"keysMs": 60_000})
	k := e.machineUser(e.srv.Info.DefaultOrgID, "fresh", "")
	if r := e.token(e.assertion(k, nil), zitadelScopes); r.Body["error"] != "invalid_grant" {
		t.Fatalf("a lagging key must look unknown: %s", r.Raw)
	}
	e.control(http.MethodPut, "/lag", map[string]int{"keysMs": 0})
	if r := e.token(e.assertion(k, nil), zitadelScopes); r.Status != http.StatusOK {
		t.Fatalf("after the lag: %d %s", r.Status, r.Raw)
	}
}

func TestDiscoveryAndKeys(t *testing.T) {
	e := start(t)
	d := e.do(http.MethodGet, pathDiscovery, nil, nil)
	if d.Status != http.StatusOK || d.Body["issuer"] != e.base || d.Body["token_endpoint"] != e.base+pathToken ||
		d.Body["jwks_uri"] != e.base+pathKeys || d.Body["userinfo_endpoint"] != e.base+pathUserinfo {
		t.Fatalf("discovery: %s", d.Raw)
	}
	if !strings.Contains(d.Raw, grantJWTBearer) {
		t.Fatalf("discovery lacks the jwt-bearer grant")
	}
	// The issuer follows the Host header for loopback names, as ZITADEL derives it per request.
	local := strings.Replace(e.base, "127.0.0.1", "localhost", 1)
	req, _ := http.NewRequest(http.MethodGet, e.base+pathDiscovery, nil)
	req.Host = strings.TrimPrefix(local, "http://")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body["issuer"] != local {
		t.Fatalf("issuer for localhost: %v", body["issuer"])
	}
	keys := e.do(http.MethodGet, pathKeys, nil, nil)
	if keys.Status != http.StatusOK || len(keys.Body["keys"].([]any)) != 1 {
		t.Fatalf("jwks: %s", keys.Raw)
	}
}
