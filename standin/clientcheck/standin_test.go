package clientcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zitadel/oidc/pkg/oidc"
	"github.com/zitadel/zitadel-go/v2/pkg/client/admin"
	"github.com/zitadel/zitadel-go/v2/pkg/client/management"
	"github.com/zitadel/zitadel-go/v2/pkg/client/middleware"
	"github.com/zitadel/zitadel-go/v2/pkg/client/zitadel"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// standinBin is the stand-in binary the tests run: $ZITADEL_STANDIN_BIN, or one built from the parent module.
var standinBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	standinBin = os.Getenv("ZITADEL_STANDIN_BIN")
	if standinBin == "" {
		dir, err := os.MkdirTemp("", "clientcheck")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		standinBin = filepath.Join(dir, "zitadel-standin")
		build := exec.Command("go", "build", "-o", standinBin, ".")
		build.Dir = ".."
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the stand-in:", err)
			return 1
		}
	}
	return m.Run()
}

// standIn is one running stand-in process, as its ready file describes it.
type standIn struct {
	t            *testing.T
	Issuer       string `json:"issuer"`
	Port         int    `json:"port"`
	AdminKeyPath string `json:"adminKeyPath"`
	DefaultOrgID string `json:"defaultOrgId"`
	IAMProjectID string `json:"iamProjectId"`
	InstanceID   string `json:"instanceId"`
	AdminUserID  string `json:"adminUserId"`
}

// start runs a fresh stand-in for the test and waits for its ready file.
func start(t *testing.T) *standIn {
	t.Helper()
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	cmd := exec.Command(standinBin, "--listen", "127.0.0.1:0", "--ready-file", ready,
		"--admin-key-file", filepath.Join(dir, "admin.json"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	s := &standIn{t: t}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if raw, err := os.ReadFile(ready); err == nil && json.Unmarshal(raw, s) == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("the stand-in did not get ready")
		}
	}
}

// clients builds zitadel-go v2's admin and management clients exactly as terraform-provider-zitadel v1.2.0
// does for `domain: 127.0.0.1, insecure: true, port: <port>` (helper.GetClientInfo): issuer
// http://127.0.0.1:<port>, API 127.0.0.1:<port>, scopes openid and the ZITADEL API audience.
func (s *standIn) clients(source middleware.JWTProfileTokenSource) (*admin.Client, *management.Client) {
	s.t.Helper()
	port := strconv.Itoa(s.Port)
	issuer, api := "http://127.0.0.1:"+port, "127.0.0.1:"+port
	scopes := []string{oidc.ScopeOpenID, zitadel.ScopeZitadelAPI()}
	options := []zitadel.Option{zitadel.WithJWTProfileTokenSource(source), zitadel.WithInsecure()}
	a, err := admin.NewClient(issuer, api, scopes, options...)
	if err != nil {
		s.t.Fatal(err)
	}
	m, err := management.NewClient(issuer, api, scopes, options...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		a.Connection.Close()
		m.Connection.Close()
	})
	return a, m
}

// adminClients act as the instance's IAM_OWNER, with its key file (jwt_profile_file).
func (s *standIn) adminClients() (*admin.Client, *management.Client) {
	return s.clients(middleware.JWTProfileFromPath(s.AdminKeyPath))
}

// control calls the stand-in's control API and decodes the answer into out (when not nil).
func (s *standIn) control(method, path string, in, out any) {
	s.t.Helper()
	var body io.Reader
	if in != nil {
		raw, _ := json.Marshal(in)
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.Issuer+"/_standin"+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("control %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *standIn) createOrg(name string) string {
	var out struct{ OrgID string }
	s.control(http.MethodPost, "/orgs", map[string]string{"name": name}, &out)
	return out.OrgID
}

func (s *standIn) createProject(orgID, name string) string {
	var out struct{ ProjectID string }
	s.control(http.MethodPost, "/projects", map[string]string{"orgId": orgID, "name": name}, &out)
	return out.ProjectID
}

func (s *standIn) createGrant(projectID, grantedOrgID string) string {
	var out struct{ GrantID string }
	s.control(http.MethodPost, "/projects/"+projectID+"/grants", map[string]string{"grantedOrgId": grantedOrgID}, &out)
	return out.GrantID
}

// machineUser creates a machine user, with an org membership when roles are given, and returns its id
// and its key file JSON.
func (s *standIn) machineUser(orgID, userName string, roles ...string) (string, []byte) {
	var user struct{ UserID string }
	s.control(http.MethodPost, "/users", map[string]string{"orgId": orgID, "userName": userName}, &user)
	var key struct{ KeyDetails string }
	s.control(http.MethodPost, "/users/"+user.UserID+"/keys", nil, &key)
	if len(roles) > 0 {
		s.control(http.MethodPost, "/orgs/"+orgID+"/members", map[string]any{"userId": user.UserID, "roles": roles}, nil)
	}
	return user.UserID, []byte(key.KeyDetails)
}

// viewerClients act as a fresh ORG_OWNER_VIEWER of the org, with its key JSON (jwt_profile_json).
func (s *standIn) viewerClients(orgID string) (*admin.Client, *management.Client) {
	_, key := s.machineUser(orgID, "viewer", "ORG_OWNER_VIEWER")
	return s.clients(middleware.JWTProfileFromFileData(key))
}

// inOrg is the provider's helper.CtxSetOrgID: the org context of one call.
func inOrg(t *testing.T, orgID string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return middleware.SetOrgID(ctx, orgID)
}

// noOrg is a call without x-zitadel-orgid, as the provider makes its admin and AddOrg calls.
func noOrg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantErr checks a ZITADEL error: the gRPC code and, unless id is "", the "(<id>)" ending of the message.
func wantErr(t *testing.T, err error, code codes.Code, id string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code || (id != "" && !strings.HasSuffix(st.Message(), "("+id+")")) {
		t.Fatalf("want %v (%s), got %v", code, id, err)
	}
}
