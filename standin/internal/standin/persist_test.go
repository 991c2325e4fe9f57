package standin

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	authnpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authn"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// TestStateFileSurvivesRestart pins what make demo relies on: a restarted stand-in keeps its orgs, users,
// public keys and memberships, keeps the requested default org id, and reuses a still valid admin key file.
func TestStateFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", AdminKeyFile: filepath.Join(dir, "admin.json"),
		StateFile: filepath.Join(dir, "state.json"), DefaultOrgID: "300000000000000001"}
	first := startWith(t, cfg)
	if first.srv.Info.DefaultOrgID != "300000000000000001" {
		t.Fatalf("default org id %s", first.srv.Info.DefaultOrgID)
	}
	k := first.machineUser(cfg.DefaultOrgID, "keeper", "", "ORG_OWNER")
	stop(first.srv)

	second := startWith(t, cfg)
	if second.srv.Info.InstanceID != first.srv.Info.InstanceID || second.admin.KeyID != first.admin.KeyID {
		t.Fatalf("instance or admin key changed across the restart")
	}
	auth := map[string]string{"Authorization": "Bearer " + second.accessToken(k)}
	if r := second.do(http.MethodGet, "/management/v1/orgs/me", nil, auth); r.Status != http.StatusOK {
		t.Fatalf("the restored user's key and membership: %d %s", r.Status, r.Raw)
	}
	stop(second.srv)

	cfg.DefaultOrgID = "300000000000000002"
	if _, err := New(cfg); err == nil {
		t.Fatalf("a state file with another default org must be refused")
	}
}

// startProcess runs the test binary as a stand-in process (TestMain's serveEnv) on listen with the state
// and admin key files in dir, waits for its ready file and returns it with a client environment.
func startProcess(t *testing.T, dir, listen string) (*exec.Cmd, *testEnv) {
	t.Helper()
	ready := filepath.Join(dir, "ready.json")
	_ = os.Remove(ready)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"="+listen, "STANDIN_TEST_STATE="+filepath.Join(dir, "state.json"),
		"STANDIN_TEST_ADMIN_KEY="+filepath.Join(dir, "admin.json"), "STANDIN_TEST_READY="+ready)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		raw, err := os.ReadFile(ready)
		if err == nil {
			var info Info
			if err := json.Unmarshal(raw, &info); err != nil {
				t.Fatal(err)
			}
			e := &testEnv{t: t, srv: &Server{Info: info}, base: info.Issuer}
			e.admin = readKeyFile(t, info.AdminKeyPath)
			return cmd, e
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in process was not ready in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sigkill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestStateFileSurvivesSIGKILL: a stand-in process killed with SIGKILL right after answering, restarted with
// the same flags on the same port, serves the same instance: ids and issuer, orgs, users (state included),
// their keys (old key files still log in, removed keys stay removed), memberships of every kind with their
// latest roles, projects, grants, the default org and the admin key file. Every change a client got an
// answer for is kept, even when the kill comes in the middle of a stream of writes, and the state file is
// never torn.
func TestStateFileSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()

	first, e := startProcess(t, dir, listen)
	m := e.mgmtClient()
	root := e.withAuth(e.accessToken(e.admin), "")
	added, err := m.AddOrg(root, &mgmt.AddOrgRequest{Name: "Kept"})
	if err != nil {
		t.Fatal(err)
	}
	org := added.GetId()
	ctx := e.withAuth(e.accessToken(e.admin), org)
	partner := e.create("/orgs", map[string]string{"name": "Partner"}, "orgId")
	project := e.create("/projects", map[string]string{"orgId": org, "name": "Billing"}, "projectId")
	grant := e.create("/projects/"+project+"/grants", map[string]string{"grantedOrgId": partner}, "grantId")
	user, err := m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "keeper", Name: "Keeper",
		AccessTokenType: userpb.AccessTokenType_ACCESS_TOKEN_TYPE_JWT})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := m.AddMachineKey(ctx, &mgmt.AddMachineKeyRequest{UserId: user.GetUserId(), Type: authnpb.KeyType_KEY_TYPE_JSON})
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := m.AddMachineKey(ctx, &mgmt.AddMachineKeyRequest{UserId: user.GetUserId(), Type: authnpb.KeyType_KEY_TYPE_JSON})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RemoveMachineKey(ctx, &mgmt.RemoveMachineKeyRequest{UserId: user.GetUserId(), KeyId: dropped.GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	sleeper := e.machineUser(org, "sleeper", "")
	e.control(http.MethodPost, "/users/"+sleeper.UserID+"/_deactivate", nil)
	apis := memberAPIs(e, org, project, grant)
	for _, api := range apis {
		if _, err := api.add(ctx, user.GetUserId(), api.roles); err != nil {
			t.Fatalf("%s: %v", api.name, err)
		}
		if err := api.update(ctx, user.GetUserId(), api.newRoles); err != nil {
			t.Fatalf("%s: %v", api.name, err)
		}
	}
	// The last change, answered just before the kill.
	last, err := m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "last", Name: "Last"})
	if err != nil {
		t.Fatal(err)
	}
	sigkill(t, first)

	second, e2 := startProcess(t, dir, listen)
	if e2.srv.Info != e.srv.Info {
		t.Fatalf("the restarted instance differs:\n%+v\n%+v", e2.srv.Info, e.srv.Info)
	}
	if e2.admin.KeyID != e.admin.KeyID {
		t.Fatal("the admin key file was replaced although it was still valid")
	}
	m2 := e2.mgmtClient()
	ctx2 := e2.withAuth(e2.accessToken(e2.admin), org)
	if got, err := e2.adminClient().GetOrgByID(ctx2, &admin.GetOrgByIDRequest{Id: org}); err != nil || got.GetOrg().GetName() != "Kept" {
		t.Fatalf("org: %v %v", got, err)
	}
	if got, err := m2.GetUserByID(ctx2, &mgmt.GetUserByIDRequest{Id: last.GetUserId()}); err != nil || got.GetUser().GetUserName() != "last" {
		t.Fatalf("the change answered just before the kill: %v %v", got, err)
	}
	_, err = m2.AddMachineUser(ctx2, &mgmt.AddMachineUserRequest{UserName: "keeper", Name: "Keeper"})
	wantCode(t, err, codes.AlreadyExists, "COMMAND-k2sIe")
	keyFileOf := parseKeyFile(t, string(kept.GetKeyDetails()))
	if r := e2.token(e2.assertion(keyFileOf, nil), zitadelScopes); r.Status != http.StatusOK || strings.Count(r.Body["access_token"].(string), ".") != 2 {
		t.Fatalf("the old key file must log in (with a JWT access token): %d %s", r.Status, r.Raw)
	}
	if r := e2.token(e2.assertion(parseKeyFile(t, string(dropped.GetKeyDetails())), nil), zitadelScopes); r.Status != http.StatusBadRequest {
		t.Fatalf("a removed key must stay removed: %d %s", r.Status, r.Raw)
	}
	if r := e2.token(e2.assertion(sleeper, nil), zitadelScopes); r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, "NotActive") {
		t.Fatalf("the deactivated user: %d %s", r.Status, r.Raw)
	}
	for _, api := range memberAPIs(e2, org, project, grant) {
		got, _, err := api.list(ctx2, user.GetUserId())
		if err != nil || len(got) != 1 || !slices.Equal(got[0].GetRoles(), api.newRoles) {
			t.Fatalf("%s membership after the restart: %v %v", api.name, got, err)
		}
	}
	state := e2.control(http.MethodGet, "/state", nil).Raw
	for _, want := range []string{`"id":"` + project + `"`, `"id":"` + grant + `"`, `"grantedOrgId":"` + partner + `"`} {
		if !strings.Contains(state, want) {
			t.Fatalf("state after the restart lacks %s", want)
		}
	}

	// A kill in the middle of a stream of writes: whatever was answered is kept, the file is whole.
	var acked []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 5 * time.Second}
		for i := 0; ; i++ {
			body := strings.NewReader(`{"orgId":"` + org + `","userName":"burst-` + strconv.Itoa(i) + `"}`)
			resp, err := client.Post(e2.base+"/_standin/users", "application/json", body)
			if err != nil {
				return
			}
			var out map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				acked = append(acked, out["userId"])
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	sigkill(t, second)
	<-done
	if len(acked) == 0 {
		t.Fatal("no write was answered before the kill")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil || !json.Valid(raw) {
		t.Fatalf("the state file after a kill mid-write: %v", err)
	}
	_, e3 := startProcess(t, dir, listen)
	ctx3 := e3.withAuth(e3.accessToken(e3.admin), org)
	for _, id := range acked {
		if _, err := e3.mgmtClient().GetUserByID(ctx3, &mgmt.GetUserByIDRequest{Id: id}); err != nil {
			t.Fatalf("user %s was answered before the kill but is gone after it: %v (%d answered)", id, err, len(acked))
		}
	}
}
