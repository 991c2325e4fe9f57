package clientcheck

import (
	"context"
	"slices"
	"testing"

	"github.com/zitadel/zitadel-go/v2/pkg/client/admin"
	"github.com/zitadel/zitadel-go/v2/pkg/client/management"
	adminpb "github.com/zitadel/zitadel-go/v2/pkg/client/zitadel/admin"
	mgmtpb "github.com/zitadel/zitadel-go/v2/pkg/client/zitadel/management"
	memberpb "github.com/zitadel/zitadel-go/v2/pkg/client/zitadel/member"
	"google.golang.org/grpc/codes"
)

// memberResource is one membership resource's four provider operations (zitadel/<kind>_member/funcs.go):
// create returns the resource owner of the answer, read is the provider's list by user id query.
type memberResource struct {
	create func(ctx context.Context, userID string, roles []string) (string, error)
	read   func(ctx context.Context, userID string) ([]*memberpb.Member, error)
	update func(ctx context.Context, userID string, roles []string) error
	delete func(ctx context.Context, userID string) error
}

func userIDQuery(userID string) []*memberpb.SearchQuery {
	return []*memberpb.SearchQuery{{Query: &memberpb.SearchQuery_UserIdQuery{UserIdQuery: &memberpb.UserIDQuery{UserId: userID}}}}
}

func instanceMembers(a *admin.Client, _ *management.Client) memberResource {
	return memberResource{
		create: func(ctx context.Context, u string, r []string) (string, error) {
			resp, err := a.AddIAMMember(ctx, &adminpb.AddIAMMemberRequest{UserId: u, Roles: r})
			return resp.GetDetails().GetResourceOwner(), err
		},
		read: func(ctx context.Context, u string) ([]*memberpb.Member, error) {
			resp, err := a.ListIAMMembers(ctx, &adminpb.ListIAMMembersRequest{Queries: userIDQuery(u)})
			return resp.GetResult(), err
		},
		update: func(ctx context.Context, u string, r []string) error {
			_, err := a.UpdateIAMMember(ctx, &adminpb.UpdateIAMMemberRequest{UserId: u, Roles: r})
			return err
		},
		delete: func(ctx context.Context, u string) error {
			_, err := a.RemoveIAMMember(ctx, &adminpb.RemoveIAMMemberRequest{UserId: u})
			return err
		},
	}
}

func orgMembers(_ *admin.Client, m *management.Client) memberResource {
	return memberResource{
		create: func(ctx context.Context, u string, r []string) (string, error) {
			resp, err := m.AddOrgMember(ctx, &mgmtpb.AddOrgMemberRequest{UserId: u, Roles: r})
			return resp.GetDetails().GetResourceOwner(), err
		},
		read: func(ctx context.Context, u string) ([]*memberpb.Member, error) {
			resp, err := m.ListOrgMembers(ctx, &mgmtpb.ListOrgMembersRequest{Queries: userIDQuery(u)})
			return resp.GetResult(), err
		},
		update: func(ctx context.Context, u string, r []string) error {
			_, err := m.UpdateOrgMember(ctx, &mgmtpb.UpdateOrgMemberRequest{UserId: u, Roles: r})
			return err
		},
		delete: func(ctx context.Context, u string) error {
			_, err := m.RemoveOrgMember(ctx, &mgmtpb.RemoveOrgMemberRequest{UserId: u})
			return err
		},
	}
}

func projectMembers(projectID string) func(*admin.Client, *management.Client) memberResource {
	return func(_ *admin.Client, m *management.Client) memberResource {
		return memberResource{
			create: func(ctx context.Context, u string, r []string) (string, error) {
				resp, err := m.AddProjectMember(ctx, &mgmtpb.AddProjectMemberRequest{ProjectId: projectID, UserId: u, Roles: r})
				return resp.GetDetails().GetResourceOwner(), err
			},
			read: func(ctx context.Context, u string) ([]*memberpb.Member, error) {
				resp, err := m.ListProjectMembers(ctx, &mgmtpb.ListProjectMembersRequest{ProjectId: projectID, Queries: userIDQuery(u)})
				return resp.GetResult(), err
			},
			update: func(ctx context.Context, u string, r []string) error {
				_, err := m.UpdateProjectMember(ctx, &mgmtpb.UpdateProjectMemberRequest{ProjectId: projectID, UserId: u, Roles: r})
				return err
			},
			delete: func(ctx context.Context, u string) error {
				_, err := m.RemoveProjectMember(ctx, &mgmtpb.RemoveProjectMemberRequest{ProjectId: projectID, UserId: u})
				return err
			},
		}
	}
}

func grantMembers(projectID, grantID string) func(*admin.Client, *management.Client) memberResource {
	return func(_ *admin.Client, m *management.Client) memberResource {
		return memberResource{
			create: func(ctx context.Context, u string, r []string) (string, error) {
				resp, err := m.AddProjectGrantMember(ctx, &mgmtpb.AddProjectGrantMemberRequest{ProjectId: projectID, GrantId: grantID, UserId: u, Roles: r})
				return resp.GetDetails().GetResourceOwner(), err
			},
			read: func(ctx context.Context, u string) ([]*memberpb.Member, error) {
				resp, err := m.ListProjectGrantMembers(ctx, &mgmtpb.ListProjectGrantMembersRequest{ProjectId: projectID, GrantId: grantID, Queries: userIDQuery(u)})
				return resp.GetResult(), err
			},
			update: func(ctx context.Context, u string, r []string) error {
				_, err := m.UpdateProjectGrantMember(ctx, &mgmtpb.UpdateProjectGrantMemberRequest{ProjectId: projectID, GrantId: grantID, UserId: u, Roles: r})
				return err
			},
			delete: func(ctx context.Context, u string) error {
				_, err := m.RemoveProjectGrantMember(ctx, &mgmtpb.RemoveProjectGrantMemberRequest{ProjectId: projectID, GrantId: grantID, UserId: u})
				return err
			},
		}
	}
}

// TestMemberResources runs create, read, update and delete of zitadel_instance_member, zitadel_org_member,
// zitadel_project_member and zitadel_project_grant_member with the provider's client, and the errors
// AlreadyExists, NotFound, FailedPrecondition (same roles) and PermissionDenied (an ORG_OWNER_VIEWER).
func TestMemberResources(t *testing.T) {
	s := start(t)
	org := s.createOrg("Members")
	partner := s.createOrg("Partner")
	project := s.createProject(org, "Billing")
	grant := s.createGrant(project, partner)
	user, _ := s.machineUser(partner, "member")
	adminA, adminM := s.adminClients()
	viewerA, viewerM := s.viewerClients(org)

	for _, c := range []struct {
		name                       string
		resource                   func(*admin.Client, *management.Client) memberResource
		orgID                      string // x-zitadel-orgid of the calls ("" for none)
		owner                      string
		roles, newRoles            []string
		exists, missing, unchanged string
		deleteAgain                codes.Code
	}{
		{"instance", instanceMembers, "", s.InstanceID, []string{"IAM_OWNER_VIEWER"}, []string{"IAM_ORG_MANAGER", "IAM_USER_MANAGER"},
			"INSTA-pFDwe", "INSTANCE-D8JxR", "INSTANCE-LiaZi", codes.OK},
		{"org", orgMembers, org, org, []string{"ORG_OWNER"}, []string{"ORG_OWNER_VIEWER"},
			"ORG-poWwe", "Org-D8JxR", "Org-LiaZi", codes.OK},
		{"project", projectMembers(project), org, org, []string{"PROJECT_OWNER"}, []string{"PROJECT_OWNER_VIEWER"},
			"PROJECT-PtXi1", "PROJECT-D8JxR", "PROJECT-LiaZi", codes.OK},
		{"project grant", grantMembers(project, grant), org, org, []string{"PROJECT_GRANT_OWNER"}, []string{"PROJECT_GRANT_OWNER_VIEWER"},
			"V3-DKcYh", "PROJECT-37fug", "PROJECT-2n8vx", codes.NotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, viewer := c.resource(adminA, adminM), c.resource(viewerA, viewerM)
			ctx := noOrg(t)
			if c.orgID != "" {
				ctx = inOrg(t, c.orgID)
			}
			_, err := viewer.create(ctx, user, c.roles)
			wantErr(t, err, codes.PermissionDenied, "AUTH-5mWD2")

			owner, err := r.create(ctx, user, c.roles)
			if err != nil || owner != c.owner {
				t.Fatalf("create: owner %q, %v", owner, err)
			}
			_, err = r.create(ctx, user, c.roles)
			wantErr(t, err, codes.AlreadyExists, c.exists)
			got, err := r.read(ctx, user)
			if err != nil || len(got) != 1 || got[0].GetUserId() != user || !slices.Equal(got[0].GetRoles(), c.roles) ||
				got[0].GetDetails().GetResourceOwner() != c.owner {
				t.Fatalf("read: %v %v", got, err)
			}

			wantErr(t, r.update(ctx, user, c.roles), codes.FailedPrecondition, c.unchanged)
			wantErr(t, r.update(ctx, s.AdminUserID+"0", c.newRoles), codes.NotFound, c.missing)
			if err := r.update(ctx, user, c.newRoles); err != nil {
				t.Fatal(err)
			}
			if got, _ := r.read(ctx, user); len(got) != 1 || !slices.Equal(got[0].GetRoles(), c.newRoles) {
				t.Fatalf("read after update: %v", got)
			}

			if err := r.delete(ctx, user); err != nil {
				t.Fatal(err)
			}
			wantErr(t, r.delete(ctx, user), c.deleteAgain, "")
			// The provider's read drops the resource from state when the list is not exactly one member.
			if got, err := r.read(ctx, user); err != nil || len(got) != 0 {
				t.Fatalf("read after delete: %v %v", got, err)
			}
		})
	}

	_, err := adminM.AddProjectMember(inOrg(t, org), &mgmtpb.AddProjectMemberRequest{ProjectId: "123456789012345678", UserId: user, Roles: []string{"PROJECT_OWNER"}})
	wantErr(t, err, codes.NotFound, "PROJECT-Gd2hh")
	_, err = adminM.AddProjectGrantMember(inOrg(t, org), &mgmtpb.AddProjectGrantMemberRequest{ProjectId: project, GrantId: "123456789012345678", UserId: user, Roles: []string{"PROJECT_GRANT_OWNER"}})
	wantErr(t, err, codes.NotFound, "PROJECT-D8JxR")
	_, err = adminA.AddIAMMember(noOrg(t), &adminpb.AddIAMMemberRequest{UserId: "123456789012345678", Roles: []string{"IAM_OWNER"}})
	wantErr(t, err, codes.FailedPrecondition, "INSTA-GSXOn")
}
