package standin

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	objpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object"
	orgpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org"
)

func TestOrgDomain(t *testing.T) {
	for name, want := range map[string]string{
		"ZITADEL":               "zitadel.localhost",
		"Platform Team":         "platform-team.localhost",
		" Ops ":                 "ops.localhost",
		"a.b_c!":                "abc.localhost",
		"Équipe Zürich":         "équipe-zürich.localhost",
		"!!!":                   "",
		strings.Repeat("x", 70): strings.Repeat("x", 63) + ".localhost",
	} {
		if got := orgDomain(name); got != want {
			t.Errorf("orgDomain(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestOrgLifecycleOverGRPC runs what the provider's org resource calls: management AddOrg and UpdateOrg,
// admin GetOrgByID, GetDefaultOrg, SetDefaultOrg, ListOrgs and RemoveOrg.
func TestOrgLifecycleOverGRPC(t *testing.T) {
	e := start(t)
	m, a := e.mgmtClient(), e.adminClient()
	ctx := e.withAuth(e.accessToken(e.admin), "")
	first := e.srv.Info.DefaultOrgID

	added, err := m.AddOrg(ctx, &mgmt.AddOrgRequest{Name: "Team Blue"})
	if err != nil {
		t.Fatal(err)
	}
	id := added.GetId()
	if len(id) != 18 || added.GetDetails().GetResourceOwner() != id {
		t.Fatalf("AddOrg: %v", added)
	}
	// ZITADEL makes the caller an ORG_OWNER of the org it creates.
	owners, err := m.ListOrgMembers(e.withAuth(e.accessToken(e.admin), id), &mgmt.ListOrgMembersRequest{Queries: userQuery(e.admin.UserID)})
	if err != nil || len(owners.GetResult()) != 1 || owners.GetResult()[0].GetRoles()[0] != "ORG_OWNER" {
		t.Fatalf("the caller must be ORG_OWNER of the new org: %v %v", owners, err)
	}
	got, err := a.GetOrgByID(ctx, &admin.GetOrgByIDRequest{Id: id})
	if o := got.GetOrg(); err != nil || o.GetName() != "Team Blue" || o.GetPrimaryDomain() != "team-blue.localhost" ||
		o.GetState() != orgpb.OrgState_ORG_STATE_ACTIVE || o.GetDetails().GetResourceOwner() != id {
		t.Fatalf("GetOrgByID: %v %v", got, err)
	}

	for name, want := range map[string]struct {
		code codes.Code
		id   string
	}{
		"Team Blue": {codes.AlreadyExists, "V3-DKcYh"},      // name taken
		"team blue": {codes.AlreadyExists, "V3-DKcYh"},      // domain taken
		"   ":       {codes.InvalidArgument, "EVENT-Mf9sd"}, // empty after trimming
		"!!!":       {codes.InvalidArgument, "ORG-RrfXY"},   // no domain label
		"":          {codes.InvalidArgument, ""},            // proto validation
	} {
		_, err := m.AddOrg(ctx, &mgmt.AddOrgRequest{Name: name})
		wantCode(t, err, want.code, want.id)
	}
	_, err = m.AddOrg(ctx, &mgmt.AddOrgRequest{})
	if !strings.Contains(err.Error(), "invalid AddOrgRequest.Name: value length must be between 1 and 200 runes, inclusive") {
		t.Fatalf("validation message: %v", err)
	}
	_, err = a.GetOrgByID(ctx, &admin.GetOrgByIDRequest{Id: "999999999999999999"})
	wantCode(t, err, codes.NotFound, "QUERY-iTTGJ")

	inOrg := e.withAuth(e.accessToken(e.admin), id)
	if _, err := m.UpdateOrg(inOrg, &mgmt.UpdateOrgRequest{Name: "Team Green"}); err != nil {
		t.Fatal(err)
	}
	_, err = m.UpdateOrg(inOrg, &mgmt.UpdateOrgRequest{Name: "Team Green"})
	wantCode(t, err, codes.FailedPrecondition, "ORG-4VSdf")
	_, err = m.UpdateOrg(inOrg, &mgmt.UpdateOrgRequest{Name: "ZITADEL"})
	wantCode(t, err, codes.AlreadyExists, "V3-DKcYh")
	if o, _ := a.GetOrgByID(ctx, &admin.GetOrgByIDRequest{Id: id}); o.GetOrg().GetName() != "Team Green" ||
		o.GetOrg().GetPrimaryDomain() != "team-green.localhost" {
		t.Fatalf("after rename: %v", o)
	}

	list, err := a.ListOrgs(ctx, &admin.ListOrgsRequest{Queries: []*orgpb.OrgQuery{{Query: &orgpb.OrgQuery_NameQuery{
		NameQuery: &orgpb.OrgNameQuery{Name: "green", Method: objpb.TextQueryMethod_TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE}}}}})
	if err != nil || len(list.GetResult()) != 1 || list.GetResult()[0].GetId() != id || list.GetDetails().GetTotalResult() != 1 {
		t.Fatalf("ListOrgs by name: %v %v", list, err)
	}
	list, err = a.ListOrgs(ctx, &admin.ListOrgsRequest{Query: &objpb.ListQuery{Limit: 1}, Queries: []*orgpb.OrgQuery{{Query: &orgpb.OrgQuery_DomainQuery{
		DomainQuery: &orgpb.OrgDomainQuery{Domain: ".localhost", Method: objpb.TextQueryMethod_TEXT_QUERY_METHOD_ENDS_WITH}}}}})
	if err != nil || len(list.GetResult()) != 1 || list.GetDetails().GetTotalResult() != 2 {
		t.Fatalf("ListOrgs by domain, one page: %v %v", list, err)
	}

	def, err := a.GetDefaultOrg(ctx, &admin.GetDefaultOrgRequest{})
	if err != nil || def.GetOrg().GetId() != first {
		t.Fatalf("GetDefaultOrg: %v %v", def, err)
	}
	if _, err := a.SetDefaultOrg(ctx, &admin.SetDefaultOrgRequest{OrgId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = a.SetDefaultOrg(ctx, &admin.SetDefaultOrgRequest{OrgId: id})
	wantCode(t, err, codes.FailedPrecondition, "INST-SDfw2")
	_, err = a.SetDefaultOrg(ctx, &admin.SetDefaultOrgRequest{OrgId: "999999999999999999"})
	wantCode(t, err, codes.FailedPrecondition, "INSTA-Wfe21")
	if iam, _ := m.GetIAM(ctx, &mgmt.GetIAMRequest{}); iam.GetDefaultOrgId() != id {
		t.Fatalf("GetIAM after SetDefaultOrg: %v", iam)
	}

	_, err = a.RemoveOrg(ctx, &admin.RemoveOrgRequest{OrgId: id})
	wantCode(t, err, codes.FailedPrecondition, "COMMA-wG9p1")
	_, err = a.RemoveOrg(ctx, &admin.RemoveOrgRequest{OrgId: first})
	wantCode(t, err, codes.FailedPrecondition, "COMMA-AF3JW")
	_, err = a.RemoveOrg(ctx, &admin.RemoveOrgRequest{OrgId: "999999999999999999"})
	wantCode(t, err, codes.NotFound, "COMMA-aps2n")
	if _, err := a.SetDefaultOrg(ctx, &admin.SetDefaultOrgRequest{OrgId: first}); err != nil {
		t.Fatal(err)
	}
	removed, err := a.RemoveOrg(ctx, &admin.RemoveOrgRequest{OrgId: id})
	if err != nil || removed.GetDetails().GetResourceOwner() != e.srv.Info.InstanceID {
		t.Fatalf("RemoveOrg: %v %v", removed, err)
	}
	_, err = a.GetOrgByID(ctx, &admin.GetOrgByIDRequest{Id: id})
	wantCode(t, err, codes.NotFound, "QUERY-iTTGJ")
	_, err = m.GetMyOrg(inOrg, &mgmt.GetMyOrgRequest{})
	wantCode(t, err, codes.PermissionDenied, "AUTH-Bs7Ds")
}

// TestRemoveOrgCascades: removing an org removes its users (keys, tokens, memberships), its projects and
// grants (its own and those to it) and every membership on them; other orgs' users stay.
func TestRemoveOrgCascades(t *testing.T) {
	e := start(t)
	doomed := e.create("/orgs", map[string]string{"name": "Doomed"}, "orgId")
	other := e.create("/orgs", map[string]string{"name": "Survivor"}, "orgId")
	insider := e.machineUser(doomed, "insider", "", "ORG_OWNER")
	insiderToken := e.accessToken(insider)
	outsider := e.machineUser(other, "outsider", "", "ORG_OWNER")
	e.control(http.MethodPost, "/orgs/"+doomed+"/members", map[string]any{"userId": outsider.UserID, "roles": []string{"ORG_OWNER"}})
	project := e.create("/projects", map[string]string{"orgId": doomed, "name": "Doomed project"}, "projectId")
	e.control(http.MethodPost, "/projects/"+project+"/members", map[string]any{"userId": outsider.UserID, "roles": []string{"PROJECT_OWNER"}})
	grantOut := e.create("/projects/"+project+"/grants", map[string]string{"grantedOrgId": other}, "grantId")
	e.control(http.MethodPost, "/project-grants/"+grantOut+"/members", map[string]any{"userId": outsider.UserID, "roles": []string{"PROJECT_GRANT_OWNER"}})
	otherProject := e.create("/projects", map[string]string{"orgId": other, "name": "Kept project"}, "projectId")
	grantIn := e.create("/projects/"+otherProject+"/grants", map[string]string{"grantedOrgId": doomed}, "grantId")
	e.control(http.MethodPost, "/project-grants/"+grantIn+"/members", map[string]any{"userId": outsider.UserID, "roles": []string{"PROJECT_GRANT_OWNER"}})

	if _, err := e.adminClient().RemoveOrg(e.withAuth(e.accessToken(e.admin), ""), &admin.RemoveOrgRequest{OrgId: doomed}); err != nil {
		t.Fatal(err)
	}
	state := e.control(http.MethodGet, "/state", nil)
	for _, gone := range []string{doomed, insider.UserID, insider.KeyID, project, grantOut, grantIn} {
		if strings.Contains(state.Raw, gone) {
			t.Errorf("%s is still in the state", gone)
		}
	}
	for _, kept := range []string{other, outsider.UserID, otherProject} {
		if !strings.Contains(state.Raw, kept) {
			t.Errorf("%s was removed too", kept)
		}
	}
	if n := len(state.Body["memberships"].([]any)); n != 2 { // the admin's IAM_OWNER and the outsider's own org
		t.Errorf("want 2 memberships left, got %d: %s", n, state.Raw)
	}
	_, err := e.mgmtClient().GetIAM(e.withAuth(insiderToken, ""), &mgmt.GetIAMRequest{})
	wantCode(t, err, codes.Unauthenticated, "AUTH-7fs1e")
}

// TestOrgPermissions: org.create comes with IAM roles, not with ORG_OWNER; the admin API wants iam.*.
func TestOrgPermissions(t *testing.T) {
	e := start(t)
	org := e.create("/orgs", map[string]string{"name": "Owned"}, "orgId")
	ctx := e.withAuth(e.accessToken(e.machineUser(org, "owner", "", "ORG_OWNER")), "")
	_, err := e.mgmtClient().AddOrg(ctx, &mgmt.AddOrgRequest{Name: "Mine"})
	wantCode(t, err, codes.PermissionDenied, "AUTH-5mWD2")
	_, err = e.adminClient().GetOrgByID(ctx, &admin.GetOrgByIDRequest{Id: org})
	wantCode(t, err, codes.PermissionDenied, "AUTH-5mWD2")
	if _, err := e.mgmtClient().UpdateOrg(ctx, &mgmt.UpdateOrgRequest{Name: "Renamed"}); err != nil {
		t.Fatalf("ORG_OWNER has org.write: %v", err)
	}
}
