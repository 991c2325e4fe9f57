package clientcheck

import (
	"strings"
	"testing"
	"time"

	adminpb "github.com/zitadel/zitadel-go/v2/pkg/client/zitadel/admin"
	authnpb "github.com/zitadel/zitadel-go/v2/pkg/client/zitadel/authn"
	mgmtpb "github.com/zitadel/zitadel-go/v2/pkg/client/zitadel/management"
	objpb "github.com/zitadel/zitadel-go/v2/pkg/client/zitadel/object"
	orgpb "github.com/zitadel/zitadel-go/v2/pkg/client/zitadel/org"
	userpb "github.com/zitadel/zitadel-go/v2/pkg/client/zitadel/user"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestOrgResource runs what zitadel_org (zitadel/org/funcs.go) and the orgs data source call: management
// AddOrg (no org context) and UpdateOrg (in the org), admin GetOrgByID, GetDefaultOrg, SetDefaultOrg,
// ListOrgs and RemoveOrg.
func TestOrgResource(t *testing.T) {
	s := start(t)
	a, m := s.adminClients()

	added, err := m.AddOrg(noOrg(t), &mgmtpb.AddOrgRequest{Name: "Platform Team"})
	if err != nil {
		t.Fatal(err)
	}
	id := added.GetId()
	// ZITADEL makes the caller an ORG_OWNER of the org it creates.
	owners, err := m.ListOrgMembers(inOrg(t, id), &mgmtpb.ListOrgMembersRequest{Queries: userIDQuery(s.AdminUserID)})
	if err != nil || len(owners.GetResult()) != 1 || owners.GetResult()[0].GetRoles()[0] != "ORG_OWNER" {
		t.Fatalf("the caller must be ORG_OWNER of the new org: %v %v", owners, err)
	}
	_, err = m.AddOrg(noOrg(t), &mgmtpb.AddOrgRequest{Name: "Platform Team"})
	wantErr(t, err, codes.AlreadyExists, "V3-DKcYh")

	// The provider's read: GetOrgByID, then GetDefaultOrg for is_default.
	got, err := a.GetOrgByID(noOrg(t), &adminpb.GetOrgByIDRequest{Id: id})
	if o := got.GetOrg(); err != nil || o.GetId() != id || o.GetName() != "Platform Team" ||
		o.GetPrimaryDomain() != "platform-team.localhost" || o.GetState() != orgpb.OrgState_ORG_STATE_ACTIVE {
		t.Fatalf("GetOrgByID: %v %v", got, err)
	}
	if def, err := a.GetDefaultOrg(noOrg(t), &adminpb.GetDefaultOrgRequest{}); err != nil || def.GetOrg().GetId() != s.DefaultOrgID {
		t.Fatalf("GetDefaultOrg: %v %v", def, err)
	}

	// Update: a new name in the org's context, then is_default.
	if _, err := m.UpdateOrg(inOrg(t, id), &mgmtpb.UpdateOrgRequest{Name: "Platform Crew"}); err != nil {
		t.Fatal(err)
	}
	_, err = m.UpdateOrg(inOrg(t, id), &mgmtpb.UpdateOrgRequest{Name: "Platform Crew"})
	wantErr(t, err, codes.FailedPrecondition, "ORG-4VSdf")
	if _, err := a.SetDefaultOrg(noOrg(t), &adminpb.SetDefaultOrgRequest{OrgId: id}); err != nil {
		t.Fatal(err)
	}
	if def, _ := a.GetDefaultOrg(noOrg(t), &adminpb.GetDefaultOrgRequest{}); def.GetOrg().GetId() != id ||
		def.GetOrg().GetPrimaryDomain() != "platform-crew.localhost" {
		t.Fatalf("default org after SetDefaultOrg: %v", def)
	}

	// The orgs data source.
	list, err := a.ListOrgs(noOrg(t), &adminpb.ListOrgsRequest{Queries: []*orgpb.OrgQuery{
		{Query: &orgpb.OrgQuery_NameQuery{NameQuery: &orgpb.OrgNameQuery{Name: "Platform Crew", Method: objpb.TextQueryMethod_TEXT_QUERY_METHOD_EQUALS}}},
		{Query: &orgpb.OrgQuery_StateQuery{StateQuery: &orgpb.OrgStateQuery{State: orgpb.OrgState_ORG_STATE_ACTIVE}}},
	}})
	if err != nil || len(list.GetResult()) != 1 || list.GetResult()[0].GetId() != id {
		t.Fatalf("ListOrgs: %v %v", list, err)
	}

	// Delete: RemoveOrg refuses the default org and the ZITADEL project's org.
	_, err = a.RemoveOrg(noOrg(t), &adminpb.RemoveOrgRequest{OrgId: id})
	wantErr(t, err, codes.FailedPrecondition, "COMMA-wG9p1")
	_, err = a.RemoveOrg(noOrg(t), &adminpb.RemoveOrgRequest{OrgId: s.DefaultOrgID})
	wantErr(t, err, codes.FailedPrecondition, "COMMA-AF3JW")
	if _, err := a.SetDefaultOrg(noOrg(t), &adminpb.SetDefaultOrgRequest{OrgId: s.DefaultOrgID}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RemoveOrg(noOrg(t), &adminpb.RemoveOrgRequest{OrgId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = a.GetOrgByID(noOrg(t), &adminpb.GetOrgByIDRequest{Id: id})
	wantErr(t, err, codes.NotFound, "QUERY-iTTGJ")
	_, err = a.RemoveOrg(noOrg(t), &adminpb.RemoveOrgRequest{OrgId: id})
	wantErr(t, err, codes.NotFound, "COMMA-aps2n")

	viewerA, viewerM := s.viewerClients(s.createOrg("Viewed"))
	_, err = viewerM.AddOrg(noOrg(t), &mgmtpb.AddOrgRequest{Name: "Not mine"})
	wantErr(t, err, codes.PermissionDenied, "AUTH-5mWD2")
	_, err = viewerA.GetOrgByID(noOrg(t), &adminpb.GetOrgByIDRequest{Id: s.DefaultOrgID})
	wantErr(t, err, codes.PermissionDenied, "AUTH-5mWD2")
}

// TestMachineUserAndKeyResources runs the calls of zitadel_machine_user and zitadel_machine_key, which the
// stand-in served before, with the provider's client.
func TestMachineUserAndKeyResources(t *testing.T) {
	s := start(t)
	_, m := s.adminClients()
	org := s.createOrg("Robots")
	ctx := inOrg(t, org)

	added, err := m.AddMachineUser(ctx, &mgmtpb.AddMachineUserRequest{UserName: "ci-bot", Name: "CI bot",
		AccessTokenType: userpb.AccessTokenType_ACCESS_TOKEN_TYPE_JWT})
	if err != nil {
		t.Fatal(err)
	}
	userID := added.GetUserId()
	_, err = m.AddMachineUser(ctx, &mgmtpb.AddMachineUserRequest{UserName: "ci-bot", Name: "again"})
	wantErr(t, err, codes.AlreadyExists, "COMMAND-k2sIe")
	got, err := m.GetUserByID(ctx, &mgmtpb.GetUserByIDRequest{Id: userID})
	if u := got.GetUser(); err != nil || u.GetUserName() != "ci-bot" || u.GetPreferredLoginName() != "ci-bot@robots.localhost" ||
		u.GetMachine().GetAccessTokenType() != userpb.AccessTokenType_ACCESS_TOKEN_TYPE_JWT || u.GetDetails().GetResourceOwner() != org {
		t.Fatalf("GetUserByID: %v %v", got, err)
	}
	if _, err := m.UpdateUserName(ctx, &mgmtpb.UpdateUserNameRequest{UserId: userID, UserName: "ci-robot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpdateMachine(ctx, &mgmtpb.UpdateMachineRequest{UserId: userID, Name: "CI robot"}); err != nil {
		t.Fatal(err)
	}
	secret, err := m.GenerateMachineSecret(ctx, &mgmtpb.GenerateMachineSecretRequest{UserId: userID})
	if err != nil || secret.GetClientId() != "ci-robot" || secret.GetClientSecret() == "" {
		t.Fatalf("GenerateMachineSecret: %v %v", secret, err)
	}

	exp := time.Date(2040, 1, 2, 3, 4, 5, 0, time.UTC)
	key, err := m.AddMachineKey(ctx, &mgmtpb.AddMachineKeyRequest{UserId: userID, Type: authnpb.KeyType_KEY_TYPE_JSON,
		ExpirationDate: timestamppb.New(exp)})
	if err != nil || !strings.HasPrefix(string(key.GetKeyDetails()), `{"type":"serviceaccount","keyId":"`+key.GetKeyId()) {
		t.Fatalf("AddMachineKey: %v %v", key, err)
	}
	read, err := m.GetMachineKeyByIDs(ctx, &mgmtpb.GetMachineKeyByIDsRequest{UserId: userID, KeyId: key.GetKeyId()})
	if err != nil || !read.GetKey().GetExpirationDate().AsTime().Equal(exp) {
		t.Fatalf("GetMachineKeyByIDs: %v %v", read, err)
	}
	if _, err := m.RemoveMachineKey(ctx, &mgmtpb.RemoveMachineKeyRequest{UserId: userID, KeyId: key.GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	_, err = m.GetMachineKeyByIDs(ctx, &mgmtpb.GetMachineKeyByIDsRequest{UserId: userID, KeyId: key.GetKeyId()})
	wantErr(t, err, codes.NotFound, "QUERY-Dgfb4")
	if _, err := m.RemoveUser(ctx, &mgmtpb.RemoveUserRequest{Id: userID}); err != nil {
		t.Fatal(err)
	}
	_, err = m.GetUserByID(ctx, &mgmtpb.GetUserByIDRequest{Id: userID})
	wantErr(t, err, codes.NotFound, "QUERY-Dfbg2")
}
