package standin

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
)

// startTLS runs a stand-in with --tls-dir dir (and the given certificate names; nil: the defaults).
func startTLS(t *testing.T, dir string, names []string) *testEnv {
	t.Helper()
	return startWith(t, Config{Listen: "127.0.0.1:0", AdminKeyFile: filepath.Join(t.TempDir(), "admin.json"),
		TLSDir: dir, TLSNames: names})
}

// poolOf is a certificate pool holding only the PEM certificates of path.
func poolOf(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		t.Fatalf("%s holds no certificate", path)
	}
	return pool
}

func httpsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
}

// discovery fetches the OIDC discovery document over https with a client trusting only pool.
func discovery(client *http.Client, base string) (map[string]any, *http.Response, error) {
	resp, err := client.Get(base + pathDiscovery)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	err = json.NewDecoder(resp.Body).Decode(&body)
	return body, resp, err
}

func TestTLSServesDiscoveryOverHTTP2WithTheCAOnly(t *testing.T) {
	dir := t.TempDir()
	e := startTLS(t, dir, nil)
	if !strings.HasPrefix(e.base, "https://127.0.0.1:") || e.srv.Info.CAPath != filepath.Join(dir, caCertFile) {
		t.Fatalf("issuer %s, caPath %s", e.base, e.srv.Info.CAPath)
	}
	client := httpsClient(poolOf(t, e.srv.Info.CAPath))
	body, resp, err := discovery(client, e.base)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || body["issuer"] != e.base ||
		body["token_endpoint"] != e.base+pathToken {
		t.Fatalf("discovery: %d %s %v", resp.StatusCode, resp.Proto, body)
	}
	// The issuer follows the Host header for loopback names, with https.
	local := strings.Replace(e.base, "127.0.0.1", "localhost", 1)
	body, _, err = discovery(client, local)
	if err != nil || body["issuer"] != local {
		t.Fatalf("issuer for localhost: %v %v", body["issuer"], err)
	}
	// Plain http on the TLS port is refused.
	plain, err := http.Get(strings.Replace(e.base, "https://", "http://", 1) + pathDiscovery)
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Fatal("plain http was served on the TLS port")
		}
	}
}

func TestTLSFilesHoldOnlyTheCA(t *testing.T) {
	dir := t.TempDir()
	e := startTLS(t, dir, nil)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, entry := range entries {
		names = append(names, entry.Name())
	}
	if strings.Join(names, ",") != "ca-key.pem,ca.pem" {
		t.Fatalf("files in the TLS dir: %v", names)
	}
	for name, mode := range map[string]os.FileMode{caCertFile: 0o644, caKeyFile: 0o600} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Mode().Perm() != mode {
			t.Fatalf("%s: mode %v, %v", name, info.Mode().Perm(), err)
		}
	}
	raw, _ := os.ReadFile(e.srv.Info.CAPath)
	block, rest := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("ca.pem is not one certificate")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 || !strings.HasPrefix(ca.Subject.CommonName, "zitadel-standin test CA ") ||
		ca.NotAfter.Sub(ca.NotBefore) > 25*time.Hour || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("unexpected CA %v", ca.Subject)
	}
	leaf := e.srv.tls.Certificates[0].Leaf
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: poolOf(t, e.srv.Info.CAPath), DNSName: "::1"}); err != nil {
		t.Fatal(err)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "localhost" || len(leaf.IPAddresses) != 2 ||
		len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Fatalf("leaf SANs %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
}

func TestTLSGRPCManagementCallSucceeds(t *testing.T) {
	e := startTLS(t, t.TempDir(), nil)
	client := httpsClient(poolOf(t, e.srv.Info.CAPath))
	form := url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.assertion(e.admin, nil)}, "scope": {zitadelScopes}}
	resp, err := client.PostForm(e.base+pathToken, form)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	token, _ := tok["access_token"].(string)
	if resp.StatusCode != http.StatusOK || token == "" {
		t.Fatalf("token over https: %d %v", resp.StatusCode, tok)
	}

	creds := credentials.NewTLS(&tls.Config{RootCAs: poolOf(t, e.srv.Info.CAPath)})
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(e.base, "https://"), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := mgmt.NewManagementServiceClient(conn)
	iam, err := m.GetIAM(e.withAuth(token, ""), &mgmt.GetIAMRequest{})
	if err != nil || iam.GetIamProjectId() != e.srv.Info.IAMProjectID {
		t.Fatalf("GetIAM over TLS: %v %v", iam, err)
	}
	_, err = m.GetIAM(e.withAuth("not-a-token", ""), &mgmt.GetIAMRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetIAM with a bad token: %v", err)
	}
}

func TestTLSClientTrustingAnotherCAFails(t *testing.T) {
	e := startTLS(t, t.TempDir(), nil)
	other, err := newCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(other.cert)
	_, _, err = discovery(httpsClient(pool), e.base)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("want x509 unknown authority, got %v", err)
	}

	creds := credentials.NewTLS(&tls.Config{RootCAs: pool})
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(e.base, "https://"), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = mgmt.NewManagementServiceClient(conn).GetIAM(e.withAuth("x", ""), &mgmt.GetIAMRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("gRPC with another CA: %v", err)
	}
}

func TestTLSNamesOnlyADNSNameFailsForTheIP(t *testing.T) {
	e := startTLS(t, t.TempDir(), ParseTLSNames(" zitadel.example.test ,"))
	leaf := e.srv.tls.Certificates[0].Leaf
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "zitadel.example.test" || len(leaf.IPAddresses) != 0 {
		t.Fatalf("leaf SANs %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	pool := poolOf(t, e.srv.Info.CAPath)
	_, _, err := discovery(httpsClient(pool), e.base)
	var mismatch x509.HostnameError
	if !errors.As(err, &mismatch) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("want a hostname mismatch for 127.0.0.1, got %v", err)
	}
	// The same certificate is good for its name.
	named := httpsClient(pool)
	named.Transport.(*http.Transport).TLSClientConfig.ServerName = "zitadel.example.test"
	if _, resp, err := discovery(named, e.base); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("with the certificate's name: %v", err)
	}
}

func TestTLSRestartReusesTheCA(t *testing.T) {
	dir := t.TempDir()
	first := startTLS(t, dir, nil)
	caPEM, _ := os.ReadFile(first.srv.Info.CAPath)
	pool := poolOf(t, first.srv.Info.CAPath)
	firstLeaf := first.srv.tls.Certificates[0].Leaf
	stop(first.srv)

	second := startTLS(t, dir, nil)
	again, _ := os.ReadFile(second.srv.Info.CAPath)
	if !bytes.Equal(caPEM, again) {
		t.Fatal("ca.pem changed across a restart")
	}
	if second.srv.tls.Certificates[0].Leaf.SerialNumber.Cmp(firstLeaf.SerialNumber) == 0 {
		t.Fatal("the server certificate was not issued afresh")
	}
	if _, resp, err := discovery(httpsClient(pool), second.base); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a client holding the old ca.pem: %v", err)
	}
	stop(second.srv)

	// Without the key (or with a key of another CA) the CA is made afresh.
	if err := os.Remove(filepath.Join(dir, caKeyFile)); err != nil {
		t.Fatal(err)
	}
	third := startTLS(t, dir, nil)
	fresh, _ := os.ReadFile(third.srv.Info.CAPath)
	if bytes.Equal(caPEM, fresh) {
		t.Fatal("ca.pem was kept without its key")
	}
	if _, _, err := discovery(httpsClient(pool), third.base); err == nil {
		t.Fatal("the old CA still verifies the new server")
	}
}

func TestTLSExpiringCAIsReplaced(t *testing.T) {
	dir, _ := filepath.Abs(t.TempDir())
	if _, _, err := setupTLS(dir, []string{"localhost"}, time.Now().Add(-23*time.Hour-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(filepath.Join(dir, caCertFile))
	cfg, _, err := setupTLS(dir, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now, _ := os.ReadFile(filepath.Join(dir, caCertFile))
	if bytes.Equal(old, now) || cfg.Certificates[0].Leaf.NotAfter.Before(time.Now().Add(23*time.Hour)) {
		t.Fatal("a CA that expires within the hour was reused")
	}
}

func TestWithoutTLSDirNoCAPath(t *testing.T) {
	e := start(t)
	if e.srv.tls != nil || e.srv.Info.CAPath != "" || !strings.HasPrefix(e.base, "http://") {
		t.Fatalf("plain stand-in: %+v", e.srv.Info)
	}
	if _, _, err := setupTLS(t.TempDir(), nil, time.Now()); err == nil {
		t.Fatal("a certificate without names was issued")
	}
}
