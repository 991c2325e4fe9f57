package standin

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

const (
	grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	zitadelScopes  = "openid urn:zitadel:iam:org:project:id:zitadel:aud"
)

type testEnv struct {
	t     *testing.T
	srv   *Server
	base  string
	admin keyFile
}

// start runs a stand-in on a free loopback port for the test.
func start(t *testing.T) *testEnv {
	t.Helper()
	return startWith(t, Config{Listen: "127.0.0.1:0", AdminKeyFile: filepath.Join(t.TempDir(), "admin.json")})
}

func startWith(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { stop(srv) })
	e := &testEnv{t: t, srv: srv, base: srv.Info.Issuer}
	e.admin = readKeyFile(t, srv.Info.AdminKeyPath)
	return e
}

func readKeyFile(t *testing.T, path string) keyFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var k keyFile
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func parseKeyFile(t *testing.T, raw string) keyFile {
	t.Helper()
	var k keyFile
	if err := json.Unmarshal([]byte(raw), &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func privateKey(t *testing.T, k keyFile) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode([]byte(k.Key))
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("key is not a PKCS#1 PEM block")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// assertion builds a JWT profile assertion; mutate adjusts claims before signing.
func (e *testEnv) assertion(k keyFile, mutate func(map[string]any)) string {
	e.t.Helper()
	now := time.Now()
	claims := map[string]any{"iss": k.UserID, "sub": k.UserID, "aud": e.base, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if mutate != nil {
		mutate(claims)
	}
	return signRS256(e.t, privateKey(e.t, k), k.KeyID, claims)
}

func signRS256(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (e *testEnv) do(method, path string, body io.Reader, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

func (e *testEnv) token(assertion, scope string) response {
	e.t.Helper()
	form := url.Values{"grant_type": {grantJWTBearer}, "assertion": {assertion}, "scope": {scope}}
	return e.do(http.MethodPost, pathToken, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

// accessToken exchanges a fresh assertion of k for a ZITADEL-audience token and fails the test otherwise.
func (e *testEnv) accessToken(k keyFile) string {
	e.t.Helper()
	r := e.token(e.assertion(k, nil), zitadelScopes)
	if r.Status != http.StatusOK {
		e.t.Fatalf("token exchange: %d %s", r.Status, r.Raw)
	}
	return r.Body["access_token"].(string)
}

func (e *testEnv) control(method, path string, in any) response {
	e.t.Helper()
	var body io.Reader
	header := map[string]string{}
	if in != nil {
		raw, _ := json.Marshal(in)
		body = strings.NewReader(string(raw))
		header["Content-Type"] = "application/json"
	}
	r := e.do(method, "/_standin"+path, body, header)
	if r.Status != http.StatusOK {
		e.t.Fatalf("control %s %s: %d %s", method, path, r.Status, r.Raw)
	}
	return r
}

// machineUser creates a user with one key through the control API and returns its key file.
func (e *testEnv) machineUser(orgID, userName, tokenType string, roles ...string) keyFile {
	e.t.Helper()
	userID := e.control(http.MethodPost, "/users", map[string]string{"orgId": orgID, "userName": userName,
		"accessTokenType": tokenType}).Body["userId"].(string)
	k := parseKeyFile(e.t, e.control(http.MethodPost, "/users/"+userID+"/keys", nil).Body["keyDetails"].(string))
	if len(roles) > 0 {
		e.control(http.MethodPost, "/orgs/"+orgID+"/members", map[string]any{"userId": userID, "roles": roles})
	}
	return k
}

func (e *testEnv) grpcConn() *grpc.ClientConn {
	e.t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(e.base, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn
}

func (e *testEnv) withAuth(token, orgID string) context.Context {
	md := metadata.Pairs("authorization", "Bearer "+token)
	if orgID != "" {
		md.Append("x-zitadel-orgid", orgID)
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), md), 5*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

func stop(srv *Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
