package standin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	authnpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authn"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	orgpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// testClock is the stand-in's clock in a test: the real time plus an offset the test moves forward (the
// assertion checks of zitadel/oidc use the real time, so the offset stays small against their tolerances).
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func orgIDQuery(id string) []*orgpb.OrgQuery {
	return []*orgpb.OrgQuery{{Query: &orgpb.OrgQuery_IdQuery{IdQuery: &orgpb.OrgIDQuery{Id: id}}}}
}

// TestManagementReadLag: with managementReadsMs the management and admin reads the provider makes see
// creations only once the lag has passed, changes and removals late (the previous state meanwhile), while
// writes see the true state (AlreadyExists); permission checks and the token endpoint are not affected.
func TestManagementReadLag(t *testing.T) {
	clock := &testClock{}
	e := startWith(t, Config{Listen: "127.0.0.1:0", AdminKeyFile: filepath.Join(t.TempDir(), "admin.json"), Now: clock.now})
	m, a := e.mgmtClient(), e.adminClient()
	token := e.accessToken(e.admin)
	e.control(http.MethodPut, "/lag", map[string]int{"managementReadsMs": 60_000})
	if lag := e.control(http.MethodGet, "/state", nil).Body["lag"].(map[string]any); lag["managementReadsMs"] != float64(60_000) {
		t.Fatalf("state lag: %v", lag)
	}
	// What existed before the lag was set but is older than it stays visible.
	if _, err := a.GetOrgByID(e.withAuth(token, ""), &admin.GetOrgByIDRequest{Id: e.srv.Info.DefaultOrgID}); err != nil {
		t.Fatalf("the default org: %v", err)
	}

	added, err := m.AddOrg(e.withAuth(token, ""), &mgmt.AddOrgRequest{Name: "Lagging"})
	if err != nil {
		t.Fatal(err)
	}
	org := added.GetId()
	ctx := e.withAuth(token, org)
	_, err = a.GetOrgByID(ctx, &admin.GetOrgByIDRequest{Id: org})
	wantCode(t, err, codes.NotFound, "QUERY-iTTGJ")
	if orgs, err := a.ListOrgs(ctx, &admin.ListOrgsRequest{Queries: orgIDQuery(org)}); err != nil || len(orgs.GetResult()) != 0 ||
		orgs.GetDetails().GetTotalResult() != 0 {
		t.Fatalf("a new org must not be listed yet: %v %v", orgs, err)
	}

	user, err := m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "late", Name: "Late"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.GetUserByID(ctx, &mgmt.GetUserByIDRequest{Id: user.GetUserId()})
	wantCode(t, err, codes.NotFound, "QUERY-Dfbg2")
	_, err = m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "late", Name: "Late"})
	wantCode(t, err, codes.AlreadyExists, "COMMAND-k2sIe")
	key, err := m.AddMachineKey(ctx, &mgmt.AddMachineKeyRequest{UserId: user.GetUserId(), Type: authnpb.KeyType_KEY_TYPE_JSON})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.GetMachineKeyByIDs(ctx, &mgmt.GetMachineKeyByIDsRequest{UserId: user.GetUserId(), KeyId: key.GetKeyId()})
	wantCode(t, err, codes.NotFound, "QUERY-Dgfb4")
	// The token endpoint has a lag of its own (keysMs, 0 here): the new key logs in at once.
	e.accessToken(parseKeyFile(t, string(key.GetKeyDetails())))

	project := e.create("/projects", map[string]string{"orgId": org, "name": "Lagging project"}, "projectId")
	grant := e.create("/projects/"+project+"/grants", map[string]string{"grantedOrgId": e.srv.Info.DefaultOrgID}, "grantId")
	apis := memberAPIs(e, org, project, grant)
	for _, api := range apis {
		if _, err := api.add(ctx, user.GetUserId(), api.roles); err != nil {
			t.Fatalf("%s: %v", api.name, err)
		}
		if got, total, err := api.list(ctx, user.GetUserId()); err != nil || len(got) != 0 || total != 0 {
			t.Fatalf("%s: a new membership must not be listed yet: %v %d %v", api.name, got, total, err)
		}
		_, err := api.add(ctx, user.GetUserId(), api.roles)
		wantCode(t, err, codes.AlreadyExists, api.kind.exists.ID)
	}
	// AddOrg made the admin ORG_OWNER in the same push: that membership lags in the list as well.
	if owners, err := m.ListOrgMembers(ctx, &mgmt.ListOrgMembersRequest{Queries: userQuery(e.admin.UserID)}); err != nil || len(owners.GetResult()) != 0 {
		t.Fatalf("the owner membership must lag too: %v %v", owners, err)
	}

	clock.advance(61 * time.Second)
	if got, err := a.GetOrgByID(ctx, &admin.GetOrgByIDRequest{Id: org}); err != nil || got.GetOrg().GetName() != "Lagging" {
		t.Fatalf("the org after the lag: %v %v", got, err)
	}
	if got, err := m.GetUserByID(ctx, &mgmt.GetUserByIDRequest{Id: user.GetUserId()}); err != nil || got.GetUser().GetMachine().GetName() != "Late" {
		t.Fatalf("the user after the lag: %v %v", got, err)
	}
	if _, err := m.GetMachineKeyByIDs(ctx, &mgmt.GetMachineKeyByIDsRequest{UserId: user.GetUserId(), KeyId: key.GetKeyId()}); err != nil {
		t.Fatalf("the key after the lag: %v", err)
	}
	for _, api := range apis {
		if got, total, err := api.list(ctx, user.GetUserId()); err != nil || len(got) != 1 || total != 1 {
			t.Fatalf("%s: the membership after the lag: %v %d %v", api.name, got, total, err)
		}
	}

	// Changes: the reads show the previous state until the lag has passed.
	if _, err := m.UpdateMachine(ctx, &mgmt.UpdateMachineRequest{UserId: user.GetUserId(), Name: "Later", Description: "changed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpdateOrg(ctx, &mgmt.UpdateOrgRequest{Name: "Renamed"}); err != nil {
		t.Fatal(err)
	}
	for _, api := range apis {
		if err := api.update(ctx, user.GetUserId(), api.newRoles); err != nil {
			t.Fatalf("%s: %v", api.name, err)
		}
	}
	if _, err := m.RemoveMachineKey(ctx, &mgmt.RemoveMachineKeyRequest{UserId: user.GetUserId(), KeyId: key.GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	clock.advance(30 * time.Second)
	if got, err := m.GetUserByID(ctx, &mgmt.GetUserByIDRequest{Id: user.GetUserId()}); err != nil || got.GetUser().GetMachine().GetName() != "Late" {
		t.Fatalf("the user must still read as before the change: %v %v", got, err)
	}
	if got, err := a.GetOrgByID(ctx, &admin.GetOrgByIDRequest{Id: org}); err != nil || got.GetOrg().GetName() != "Lagging" {
		t.Fatalf("the org must still read as before the rename: %v %v", got, err)
	}
	if _, err := m.GetMachineKeyByIDs(ctx, &mgmt.GetMachineKeyByIDsRequest{UserId: user.GetUserId(), KeyId: key.GetKeyId()}); err != nil {
		t.Fatalf("a removed key must still read until the lag passed: %v", err)
	}
	for _, api := range apis {
		if got, _, err := api.list(ctx, user.GetUserId()); err != nil || len(got) != 1 || !slices.Equal(got[0].GetRoles(), api.roles) {
			t.Fatalf("%s: the old roles must still read: %v %v", api.name, got, err)
		}
	}
	clock.advance(31 * time.Second)
	if got, err := m.GetUserByID(ctx, &mgmt.GetUserByIDRequest{Id: user.GetUserId()}); err != nil || got.GetUser().GetMachine().GetName() != "Later" {
		t.Fatalf("the user after the lag of the change: %v %v", got, err)
	}
	orgs, err := a.ListOrgs(ctx, &admin.ListOrgsRequest{Queries: orgIDQuery(org)})
	if err != nil || len(orgs.GetResult()) != 1 || orgs.GetResult()[0].GetName() != "Renamed" {
		t.Fatalf("the org after the lag of the rename: %v %v", orgs, err)
	}
	_, err = m.GetMachineKeyByIDs(ctx, &mgmt.GetMachineKeyByIDsRequest{UserId: user.GetUserId(), KeyId: key.GetKeyId()})
	wantCode(t, err, codes.NotFound, "QUERY-Dgfb4")
	for _, api := range apis {
		if got, _, err := api.list(ctx, user.GetUserId()); err != nil || len(got) != 1 || !slices.Equal(got[0].GetRoles(), api.newRoles) {
			t.Fatalf("%s: the new roles after the lag: %v %v", api.name, got, err)
		}
	}

	// Removals: still there until the lag has passed; the control API's changes lag the same way.
	e.control(http.MethodDelete, "/users/"+user.GetUserId(), nil)
	if _, err := m.GetUserByID(ctx, &mgmt.GetUserByIDRequest{Id: user.GetUserId()}); err != nil {
		t.Fatalf("a removed user must still read until the lag passed: %v", err)
	}
	_, err = m.UpdateMachine(ctx, &mgmt.UpdateMachineRequest{UserId: user.GetUserId(), Name: "Gone"})
	wantCode(t, err, codes.NotFound, "COMMAND-5M0od")
	clock.advance(61 * time.Second)
	_, err = m.GetUserByID(ctx, &mgmt.GetUserByIDRequest{Id: user.GetUserId()})
	wantCode(t, err, codes.NotFound, "QUERY-Dfbg2")
	for _, api := range apis {
		if got, _, err := api.list(ctx, user.GetUserId()); err != nil || len(got) != 0 {
			t.Fatalf("%s: the removed user's membership after the lag: %v %v", api.name, got, err)
		}
	}

	// Without the lag the reads see the true state again at once.
	e.control(http.MethodPut, "/lag", map[string]int{})
	again, err := m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "prompt", Name: "Prompt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetUserByID(ctx, &mgmt.GetUserByIDRequest{Id: again.GetUserId()}); err != nil {
		t.Fatalf("no lag: %v", err)
	}
	for _, bad := range []map[string]int{{"managementReadsMs": -1}, {"managementReadsMs": 3_600_001}} {
		raw, _ := json.Marshal(bad)
		if r := e.do(http.MethodPut, "/_standin/lag", bytes.NewReader(raw), map[string]string{"Content-Type": "application/json"}); r.Status != http.StatusBadRequest {
			t.Fatalf("lag %v: %d %s", bad, r.Status, r.Raw)
		}
	}
}

// TestReadLagKeepsListOrder: lagging lists keep creation order, and old enough objects read unchanged.
func TestReadLagKeepsListOrder(t *testing.T) {
	clock := &testClock{}
	e := startWith(t, Config{Listen: "127.0.0.1:0", AdminKeyFile: filepath.Join(t.TempDir(), "admin.json"), Now: clock.now})
	ctx := e.withAuth(e.accessToken(e.admin), "")
	for _, name := range []string{"b-second", "a-first", "c-third"} {
		e.create("/orgs", map[string]string{"name": name}, "orgId")
	}
	e.control(http.MethodPut, "/lag", map[string]int{"managementReadsMs": 1_000})
	clock.advance(2 * time.Second)
	orgs, err := e.adminClient().ListOrgs(ctx, &admin.ListOrgsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range orgs.GetResult() {
		names = append(names, o.GetName())
	}
	if !slices.Equal(names, []string{"ZITADEL", "b-second", "a-first", "c-third"}) {
		t.Fatalf("order: %v", names)
	}
	exp := timestamppb.New(clock.now().Add(time.Hour))
	u, err := e.mgmtClient().AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "x", Name: "x",
		AccessTokenType: userpb.AccessTokenType_ACCESS_TOKEN_TYPE_BEARER})
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.mgmtClient().AddMachineKey(ctx, &mgmt.AddMachineKeyRequest{UserId: u.GetUserId(), Type: authnpb.KeyType_KEY_TYPE_JSON, ExpirationDate: exp})
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Second)
	got, err := e.mgmtClient().GetMachineKeyByIDs(ctx, &mgmt.GetMachineKeyByIDsRequest{UserId: u.GetUserId(), KeyId: k.GetKeyId()})
	if err != nil || !got.GetKey().GetExpirationDate().AsTime().Equal(exp.AsTime()) {
		t.Fatalf("key: %v %v", got, err)
	}
}
