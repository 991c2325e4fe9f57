package standin

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	memberpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/member"
	objpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object"
)

func (e *testEnv) mgmtClient() mgmt.ManagementServiceClient {
	return mgmt.NewManagementServiceClient(e.grpcConn())
}

func (e *testEnv) adminClient() admin.AdminServiceClient {
	return admin.NewAdminServiceClient(e.grpcConn())
}

func userQuery(userID string) []*memberpb.SearchQuery {
	return []*memberpb.SearchQuery{{Query: &memberpb.SearchQuery_UserIdQuery{UserIdQuery: &memberpb.UserIDQuery{UserId: userID}}}}
}

// memberAPI drives one membership kind through its four RPCs, the way the provider calls them.
type memberAPI struct {
	name      string
	kind      *memberKind
	target    string // TargetID of the memberships, as the control API's state shows it
	owner     string // resource owner in the answers (the provider's project member read takes org_id from it)
	roles     []string
	newRoles  []string
	wrongRole string // a role of another kind
	add       func(ctx context.Context, userID string, roles []string) (*objpb.ObjectDetails, error)
	list      func(ctx context.Context, userID string) ([]*memberpb.Member, uint64, error)
	update    func(ctx context.Context, userID string, roles []string) error
	remove    func(ctx context.Context, userID string) error
}

// memberAPIs returns the four kinds' APIs for an org, its project and a grant of that project; the caller
// picks the org context through the call's context.
func memberAPIs(e *testEnv, org, project, grant string) []memberAPI {
	m, a := e.mgmtClient(), e.adminClient()
	return []memberAPI{
		{
			name: "instance", kind: iamMembers, target: e.srv.Info.InstanceID, owner: e.srv.Info.InstanceID,
			roles: []string{"IAM_OWNER_VIEWER"}, newRoles: []string{"IAM_ORG_MANAGER", "IAM_USER_MANAGER"}, wrongRole: "ORG_OWNER",
			add: func(ctx context.Context, u string, r []string) (*objpb.ObjectDetails, error) {
				resp, err := a.AddIAMMember(ctx, &admin.AddIAMMemberRequest{UserId: u, Roles: r})
				return resp.GetDetails(), err
			},
			list: func(ctx context.Context, u string) ([]*memberpb.Member, uint64, error) {
				resp, err := a.ListIAMMembers(ctx, &admin.ListIAMMembersRequest{Queries: userQuery(u)})
				return resp.GetResult(), resp.GetDetails().GetTotalResult(), err
			},
			update: func(ctx context.Context, u string, r []string) error {
				_, err := a.UpdateIAMMember(ctx, &admin.UpdateIAMMemberRequest{UserId: u, Roles: r})
				return err
			},
			remove: func(ctx context.Context, u string) error {
				_, err := a.RemoveIAMMember(ctx, &admin.RemoveIAMMemberRequest{UserId: u})
				return err
			},
		},
		{
			name: "org", kind: orgMembers, target: org, owner: org,
			roles: []string{"ORG_OWNER"}, newRoles: []string{"ORG_OWNER_VIEWER"}, wrongRole: "PROJECT_OWNER",
			add: func(ctx context.Context, u string, r []string) (*objpb.ObjectDetails, error) {
				resp, err := m.AddOrgMember(ctx, &mgmt.AddOrgMemberRequest{UserId: u, Roles: r})
				return resp.GetDetails(), err
			},
			list: func(ctx context.Context, u string) ([]*memberpb.Member, uint64, error) {
				resp, err := m.ListOrgMembers(ctx, &mgmt.ListOrgMembersRequest{Queries: userQuery(u)})
				return resp.GetResult(), resp.GetDetails().GetTotalResult(), err
			},
			update: func(ctx context.Context, u string, r []string) error {
				_, err := m.UpdateOrgMember(ctx, &mgmt.UpdateOrgMemberRequest{UserId: u, Roles: r})
				return err
			},
			remove: func(ctx context.Context, u string) error {
				_, err := m.RemoveOrgMember(ctx, &mgmt.RemoveOrgMemberRequest{UserId: u})
				return err
			},
		},
		{
			name: "project", kind: projectMembers, target: project, owner: org,
			roles: []string{"PROJECT_OWNER"}, newRoles: []string{"PROJECT_OWNER_VIEWER"}, wrongRole: "PROJECT_GRANT_OWNER",
			add: func(ctx context.Context, u string, r []string) (*objpb.ObjectDetails, error) {
				resp, err := m.AddProjectMember(ctx, &mgmt.AddProjectMemberRequest{ProjectId: project, UserId: u, Roles: r})
				return resp.GetDetails(), err
			},
			list: func(ctx context.Context, u string) ([]*memberpb.Member, uint64, error) {
				resp, err := m.ListProjectMembers(ctx, &mgmt.ListProjectMembersRequest{ProjectId: project, Queries: userQuery(u)})
				return resp.GetResult(), resp.GetDetails().GetTotalResult(), err
			},
			update: func(ctx context.Context, u string, r []string) error {
				_, err := m.UpdateProjectMember(ctx, &mgmt.UpdateProjectMemberRequest{ProjectId: project, UserId: u, Roles: r})
				return err
			},
			remove: func(ctx context.Context, u string) error {
				_, err := m.RemoveProjectMember(ctx, &mgmt.RemoveProjectMemberRequest{ProjectId: project, UserId: u})
				return err
			},
		},
		{
			name: "project grant", kind: grantMembers, target: grant, owner: org,
			roles: []string{"PROJECT_GRANT_OWNER"}, newRoles: []string{"PROJECT_GRANT_OWNER_VIEWER"}, wrongRole: "PROJECT_OWNER",
			add: func(ctx context.Context, u string, r []string) (*objpb.ObjectDetails, error) {
				resp, err := m.AddProjectGrantMember(ctx, &mgmt.AddProjectGrantMemberRequest{ProjectId: project, GrantId: grant, UserId: u, Roles: r})
				return resp.GetDetails(), err
			},
			list: func(ctx context.Context, u string) ([]*memberpb.Member, uint64, error) {
				resp, err := m.ListProjectGrantMembers(ctx, &mgmt.ListProjectGrantMembersRequest{ProjectId: project, GrantId: grant, Queries: userQuery(u)})
				return resp.GetResult(), resp.GetDetails().GetTotalResult(), err
			},
			update: func(ctx context.Context, u string, r []string) error {
				_, err := m.UpdateProjectGrantMember(ctx, &mgmt.UpdateProjectGrantMemberRequest{ProjectId: project, GrantId: grant, UserId: u, Roles: r})
				return err
			},
			remove: func(ctx context.Context, u string) error {
				_, err := m.RemoveProjectGrantMember(ctx, &mgmt.RemoveProjectGrantMemberRequest{ProjectId: project, GrantId: grant, UserId: u})
				return err
			},
		},
	}
}

func (e *testEnv) create(path string, body map[string]string, idField string) string {
	e.t.Helper()
	return e.control(http.MethodPost, path, body).Body[idField].(string)
}

// TestMemberKindsOverGRPC runs add, list by user id, update and remove, and their errors, for instance, org,
// project and project grant members.
func TestMemberKindsOverGRPC(t *testing.T) {
	e := start(t)
	adminToken := e.accessToken(e.admin)
	org := e.create("/orgs", map[string]string{"name": "Members"}, "orgId")
	grantedOrg := e.create("/orgs", map[string]string{"name": "Partner"}, "orgId")
	project := e.create("/projects", map[string]string{"orgId": org, "name": "Billing"}, "projectId")
	grant := e.create("/projects/"+project+"/grants", map[string]string{"grantedOrgId": grantedOrg}, "grantId")
	viewer := e.accessToken(e.machineUser(org, "viewer", "", "ORG_OWNER_VIEWER"))
	user := e.machineUser(grantedOrg, "member", "").UserID

	for _, api := range memberAPIs(e, org, project, grant) {
		t.Run(api.name, func(t *testing.T) {
			ctx := e.withAuth(adminToken, org)
			if _, err := api.add(e.withAuth(viewer, org), user, api.roles); err == nil {
				t.Fatal("a viewer must not add members")
			} else {
				wantCode(t, err, codes.PermissionDenied, "AUTH-5mWD2")
			}
			d, err := api.add(ctx, user, api.roles)
			if err != nil {
				t.Fatal(err)
			}
			if d.GetResourceOwner() != api.owner || d.GetSequence() == 0 {
				t.Fatalf("add details: %v", d)
			}
			_, err = api.add(ctx, user, api.roles)
			wantCode(t, err, codes.AlreadyExists, api.kind.exists.ID)
			_, err = api.add(ctx, "999999999999999999", api.roles)
			wantCode(t, err, codes.FailedPrecondition, api.kind.userMissing.ID)
			_, err = api.add(ctx, e.admin.UserID, []string{api.wrongRole})
			wantCode(t, err, codes.InvalidArgument, api.kind.invalid.ID)

			got, total, err := api.list(ctx, user)
			if err != nil || total != 1 || len(got) != 1 || !slices.Equal(got[0].GetRoles(), api.roles) ||
				got[0].GetUserId() != user || got[0].GetDetails().GetResourceOwner() != api.owner ||
				!strings.HasPrefix(got[0].GetPreferredLoginName(), "member@") {
				t.Fatalf("list: %v total %d %v", got, total, err)
			}
			if got, total, err := api.list(ctx, e.admin.UserID+"0"); err != nil || total != 0 || len(got) != 0 {
				t.Fatalf("list by another user id: %v %d %v", got, total, err)
			}
			if !stateHasMembership(e, api.kind.kind, api.target, user) {
				t.Fatal("the control API does not see the membership added over gRPC")
			}

			wantCode(t, api.update(ctx, user, api.roles), codes.FailedPrecondition, api.kind.unchanged.ID)
			wantCode(t, api.update(ctx, e.admin.UserID+"0", api.newRoles), codes.NotFound, api.kind.missing.ID)
			wantCode(t, api.update(ctx, user, []string{api.wrongRole}), codes.InvalidArgument, api.kind.invalidUpdate.ID)
			if err := api.update(ctx, user, api.newRoles); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := api.list(ctx, user); len(got) != 1 || !slices.Equal(got[0].GetRoles(), api.newRoles) {
				t.Fatalf("roles after update: %v", got)
			}

			if err := api.remove(ctx, user); err != nil {
				t.Fatal(err)
			}
			if err := api.remove(ctx, user); api.kind.strictRemove {
				wantCode(t, err, codes.NotFound, api.kind.missing.ID)
			} else if err != nil {
				t.Fatalf("removing a non-member succeeds in ZITADEL: %v", err)
			}
			if got, total, err := api.list(ctx, user); err != nil || total != 0 || len(got) != 0 {
				t.Fatalf("list after remove: %v %d %v", got, total, err)
			}
			if stateHasMembership(e, api.kind.kind, api.target, user) {
				t.Fatal("the control API still sees the removed membership")
			}
		})
	}
}

func stateHasMembership(e *testEnv, kind, target, userID string) bool {
	for _, m := range e.control(http.MethodGet, "/state", nil).Body["memberships"].([]any) {
		mm := m.(map[string]any)
		if mm["kind"] == kind && mm["targetId"] == target && mm["userId"] == userID {
			return true
		}
	}
	return false
}

// TestProjectAndGrantTargets pins how targets resolve: projects only in their own org, grants from the
// project's org and the granted org, unknown ones NotFound (lists: empty).
func TestProjectAndGrantTargets(t *testing.T) {
	e := start(t)
	m := e.mgmtClient()
	adminToken := e.accessToken(e.admin)
	org := e.create("/orgs", map[string]string{"name": "Owner"}, "orgId")
	partner := e.create("/orgs", map[string]string{"name": "Partner"}, "orgId")
	project := e.create("/projects", map[string]string{"orgId": org, "name": "Shop"}, "projectId")
	grant := e.create("/projects/"+project+"/grants", map[string]string{"grantedOrgId": partner}, "grantId")
	user := e.machineUser(partner, "someone", "").UserID

	_, err := m.AddProjectMember(e.withAuth(adminToken, partner), &mgmt.AddProjectMemberRequest{ProjectId: project, UserId: user, Roles: []string{"PROJECT_OWNER"}})
	wantCode(t, err, codes.NotFound, "PROJECT-Gd2hh")
	list, err := m.ListProjectMembers(e.withAuth(adminToken, partner), &mgmt.ListProjectMembersRequest{ProjectId: project})
	if err != nil || len(list.GetResult()) != 0 || list.GetDetails().GetTotalResult() != 0 {
		t.Fatalf("a project of another org lists empty: %v %v", list, err)
	}
	_, err = m.AddProjectGrantMember(e.withAuth(adminToken, org), &mgmt.AddProjectGrantMemberRequest{ProjectId: "1" + project[1:], GrantId: grant, UserId: user, Roles: []string{"PROJECT_GRANT_OWNER"}})
	wantCode(t, err, codes.NotFound, "PROJECT-D8JxR")
	// The granted org manages its grant's members too.
	if _, err = m.AddProjectGrantMember(e.withAuth(adminToken, partner), &mgmt.AddProjectGrantMemberRequest{ProjectId: project, GrantId: grant, UserId: user, Roles: []string{"PROJECT_GRANT_OWNER"}}); err != nil {
		t.Fatal(err)
	}
	seen, err := m.ListProjectGrantMembers(e.withAuth(adminToken, org), &mgmt.ListProjectGrantMembersRequest{ProjectId: project, GrantId: grant, Queries: userQuery(user)})
	if err != nil || len(seen.GetResult()) != 1 {
		t.Fatalf("the project's org sees the grant member: %v %v", seen, err)
	}
	_, err = m.AddProjectMember(e.withAuth(adminToken, org), &mgmt.AddProjectMemberRequest{ProjectId: project, UserId: user})
	wantCode(t, err, codes.InvalidArgument, "PROJECT-3m9ds")
	_, err = m.AddProjectMember(e.withAuth(adminToken, org), &mgmt.AddProjectMemberRequest{UserId: user, Roles: []string{"PROJECT_OWNER"}})
	wantCode(t, err, codes.InvalidArgument, "")
}

// TestProjectPermissionsAreScoped: a PROJECT_OWNER manages the members of its own project only (ZITADEL's
// check_field_name on the project member methods), while methods without a check field accept it anywhere.
func TestProjectPermissionsAreScoped(t *testing.T) {
	e := start(t)
	m := e.mgmtClient()
	org := e.create("/orgs", map[string]string{"name": "Scoped"}, "orgId")
	mine := e.create("/projects", map[string]string{"orgId": org, "name": "Mine"}, "projectId")
	other := e.create("/projects", map[string]string{"orgId": org, "name": "Other"}, "projectId")
	owner := e.machineUser(org, "project-owner", "")
	e.control(http.MethodPost, "/projects/"+mine+"/members", map[string]any{"userId": owner.UserID, "roles": []string{"PROJECT_OWNER"}})
	user := e.machineUser(org, "newcomer", "").UserID
	ctx := e.withAuth(e.accessToken(owner), org)

	if _, err := m.AddProjectMember(ctx, &mgmt.AddProjectMemberRequest{ProjectId: mine, UserId: user, Roles: []string{"PROJECT_OWNER_VIEWER"}}); err != nil {
		t.Fatal(err)
	}
	_, err := m.AddProjectMember(ctx, &mgmt.AddProjectMemberRequest{ProjectId: other, UserId: user, Roles: []string{"PROJECT_OWNER_VIEWER"}})
	wantCode(t, err, codes.PermissionDenied, "AUTH-3jknH")
	_, err = m.AddOrgMember(ctx, &mgmt.AddOrgMemberRequest{UserId: user, Roles: []string{"ORG_OWNER"}})
	wantCode(t, err, codes.PermissionDenied, "AUTH-5mWD2")
	// Outside the project's org the membership does not count at all.
	_, err = m.ListProjectMembers(e.withAuth(e.accessToken(owner), e.srv.Info.DefaultOrgID), &mgmt.ListProjectMembersRequest{ProjectId: mine})
	wantCode(t, err, codes.NotFound, "AUTHZ-cdgFk")
}
