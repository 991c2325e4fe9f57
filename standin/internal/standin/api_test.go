package standin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	authnpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authn"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	memberpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/member"
	msgpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/message"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

func invoke[Resp any](e *testEnv, token, orgID, method string, req any) (*Resp, error) {
	e.t.Helper()
	out := new(Resp)
	err := e.grpcConn().Invoke(e.withAuth(token, orgID), "/zitadel.management.v1.ManagementService/"+method, req, out)
	return out, err
}

func wantCode(t *testing.T, err error, code codes.Code, id string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("want %v, got %v: %v", code, st.Code(), err)
	}
	if id == "" {
		return
	}
	if !strings.HasSuffix(st.Message(), "("+id+")") {
		t.Fatalf("message %q lacks (%s)", st.Message(), id)
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*msgpb.ErrorDetail); ok && ed.GetId() == id {
			return
		}
	}
	t.Fatalf("status lacks ErrorDetail %s", id)
}

// TestProviderLifecycleOverGRPC runs the calls terraform-provider-zitadel v1.2.0 makes for MachineUser,
// MachineKey and OrgMember, in its order, with the admin's token and the org in x-zitadel-orgid.
func TestProviderLifecycleOverGRPC(t *testing.T) {
	e := start(t)
	admin := e.accessToken(e.admin)
	org := e.control(http.MethodPost, "/orgs", map[string]string{"name": "Platform Team"}).Body["orgId"].(string)

	add, err := invoke[mgmt.AddMachineUserResponse](e, admin, org, "AddMachineUser", &mgmt.AddMachineUserRequest{
		UserName: "ci-bot", Name: "CI bot", Description: "pipelines", AccessTokenType: userpb.AccessTokenType_ACCESS_TOKEN_TYPE_JWT})
	if err != nil {
		t.Fatal(err)
	}
	if len(add.GetUserId()) != 18 || add.GetDetails().GetResourceOwner() != org {
		t.Fatalf("id %q / owner %q", add.GetUserId(), add.GetDetails().GetResourceOwner())
	}
	_, err = invoke[mgmt.AddMachineUserResponse](e, admin, org, "AddMachineUser", &mgmt.AddMachineUserRequest{UserName: "ci-bot", Name: "again"})
	wantCode(t, err, codes.AlreadyExists, "COMMAND-k2sIe")
	_, err = invoke[mgmt.AddMachineUserResponse](e, admin, org, "AddMachineUser", &mgmt.AddMachineUserRequest{Name: "no user name"})
	wantCode(t, err, codes.InvalidArgument, "")

	got, err := invoke[mgmt.GetUserByIDResponse](e, admin, org, "GetUserByID", &mgmt.GetUserByIDRequest{Id: add.GetUserId()})
	if err != nil {
		t.Fatal(err)
	}
	u := got.GetUser()
	if u.GetState() != userpb.UserState_USER_STATE_ACTIVE || u.GetUserName() != "ci-bot" ||
		u.GetMachine().GetAccessTokenType() != userpb.AccessTokenType_ACCESS_TOKEN_TYPE_JWT ||
		u.GetPreferredLoginName() != "ci-bot@platform-team.localhost" || u.GetDetails().GetResourceOwner() != org {
		t.Fatalf("unexpected user %v", u)
	}
	// Users of another org are invisible in this org's context.
	_, err = invoke[mgmt.GetUserByIDResponse](e, admin, "", "GetUserByID", &mgmt.GetUserByIDRequest{Id: add.GetUserId()})
	wantCode(t, err, codes.NotFound, "QUERY-Dfbg2")

	if _, err = invoke[mgmt.UpdateUserNameResponse](e, admin, org, "UpdateUserName", &mgmt.UpdateUserNameRequest{UserId: add.GetUserId(), UserName: "ci-robot"}); err != nil {
		t.Fatal(err)
	}
	if _, err = invoke[mgmt.UpdateMachineResponse](e, admin, org, "UpdateMachine", &mgmt.UpdateMachineRequest{UserId: add.GetUserId(), Name: "CI robot"}); err != nil {
		t.Fatal(err)
	}

	_, err = invoke[mgmt.AddMachineKeyResponse](e, admin, org, "AddMachineKey", &mgmt.AddMachineKeyRequest{UserId: add.GetUserId(),
		Type: authnpb.KeyType_KEY_TYPE_JSON, ExpirationDate: timestamppb.New(time.Now().Add(-time.Hour))})
	wantCode(t, err, codes.InvalidArgument, "COMMAND-dv3t5")
	exp := time.Date(2040, 1, 2, 3, 4, 5, 0, time.UTC)
	key, err := invoke[mgmt.AddMachineKeyResponse](e, admin, org, "AddMachineKey", &mgmt.AddMachineKeyRequest{UserId: add.GetUserId(),
		Type: authnpb.KeyType_KEY_TYPE_JSON, ExpirationDate: timestamppb.New(exp)})
	if err != nil {
		t.Fatal(err)
	}
	kf := parseKeyFile(t, string(key.GetKeyDetails()))
	if kf.Type != "serviceaccount" || kf.KeyID != key.GetKeyId() || kf.UserID != add.GetUserId() ||
		kf.ExpirationDate != "2040-01-02T03:04:05Z" || !strings.HasSuffix(kf.Key, "-----END RSA PRIVATE KEY-----\n") {
		t.Fatalf("key file fields wrong: type=%s keyId=%s userId=%s exp=%s", kf.Type, kf.KeyID, kf.UserID, kf.ExpirationDate)
	}
	if !strings.HasPrefix(string(key.GetKeyDetails()), `{"type":"serviceaccount","keyId":`) {
		t.Fatalf("key file field order differs from ZITADEL's")
	}
	gotKey, err := invoke[mgmt.GetMachineKeyByIDsResponse](e, admin, org, "GetMachineKeyByIDs", &mgmt.GetMachineKeyByIDsRequest{UserId: add.GetUserId(), KeyId: key.GetKeyId()})
	if err != nil || !gotKey.GetKey().GetExpirationDate().AsTime().Equal(exp) || gotKey.GetKey().GetType() != authnpb.KeyType_KEY_TYPE_JSON {
		t.Fatalf("GetMachineKeyByIDs: %v %v", gotKey, err)
	}

	if _, err = invoke[mgmt.AddOrgMemberResponse](e, admin, org, "AddOrgMember", &mgmt.AddOrgMemberRequest{UserId: add.GetUserId(), Roles: []string{"ORG_OWNER"}}); err != nil {
		t.Fatal(err)
	}
	_, err = invoke[mgmt.AddOrgMemberResponse](e, admin, org, "AddOrgMember", &mgmt.AddOrgMemberRequest{UserId: add.GetUserId(), Roles: []string{"ORG_OWNER"}})
	wantCode(t, err, codes.AlreadyExists, "ORG-poWwe")
	_, err = invoke[mgmt.AddOrgMemberResponse](e, admin, org, "AddOrgMember", &mgmt.AddOrgMemberRequest{UserId: e.admin.UserID, Roles: []string{"NOT_A_ROLE"}})
	wantCode(t, err, codes.InvalidArgument, "Org-4N8es")
	list, err := invoke[mgmt.ListOrgMembersResponse](e, admin, org, "ListOrgMembers", &mgmt.ListOrgMembersRequest{
		Queries: []*memberpb.SearchQuery{{Query: &memberpb.SearchQuery_UserIdQuery{UserIdQuery: &memberpb.UserIDQuery{UserId: add.GetUserId()}}}}})
	if err != nil || len(list.GetResult()) != 1 || list.GetResult()[0].GetRoles()[0] != "ORG_OWNER" ||
		list.GetResult()[0].GetDetails().GetResourceOwner() != org || list.GetDetails().GetTotalResult() != 1 {
		t.Fatalf("ListOrgMembers: %v %v", list, err)
	}
	if _, err = invoke[mgmt.UpdateOrgMemberResponse](e, admin, org, "UpdateOrgMember", &mgmt.UpdateOrgMemberRequest{UserId: add.GetUserId(), Roles: []string{"ORG_OWNER_VIEWER"}}); err != nil {
		t.Fatal(err)
	}

	// The service account itself may now act in its org, within its role.
	sa := e.accessToken(kf)
	if _, err = invoke[mgmt.GetUserByIDResponse](e, sa, org, "GetUserByID", &mgmt.GetUserByIDRequest{Id: add.GetUserId()}); err != nil {
		t.Fatalf("viewer reads users: %v", err)
	}
	_, err = invoke[mgmt.AddMachineUserResponse](e, sa, org, "AddMachineUser", &mgmt.AddMachineUserRequest{UserName: "x", Name: "x"})
	wantCode(t, err, codes.PermissionDenied, "AUTH-5mWD2")
	_, err = invoke[mgmt.GetIAMResponse](e, sa, "999999999999999999", "GetIAM", &mgmt.GetIAMRequest{})
	wantCode(t, err, codes.PermissionDenied, "AUTH-Bs7Ds")

	if _, err = invoke[mgmt.RemoveOrgMemberResponse](e, admin, org, "RemoveOrgMember", &mgmt.RemoveOrgMemberRequest{UserId: add.GetUserId()}); err != nil {
		t.Fatal(err)
	}
	// Removing a non-member succeeds without a change, as in ZITADEL.
	if _, err = invoke[mgmt.RemoveOrgMemberResponse](e, admin, org, "RemoveOrgMember", &mgmt.RemoveOrgMemberRequest{UserId: add.GetUserId()}); err != nil {
		t.Fatal(err)
	}
	_, err = invoke[mgmt.GetUserByIDResponse](e, sa, org, "GetUserByID", &mgmt.GetUserByIDRequest{Id: add.GetUserId()})
	wantCode(t, err, codes.NotFound, "AUTHZ-cdgFk")

	if _, err = invoke[mgmt.RemoveMachineKeyResponse](e, admin, org, "RemoveMachineKey", &mgmt.RemoveMachineKeyRequest{UserId: add.GetUserId(), KeyId: key.GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	_, err = invoke[mgmt.GetMachineKeyByIDsResponse](e, admin, org, "GetMachineKeyByIDs", &mgmt.GetMachineKeyByIDsRequest{UserId: add.GetUserId(), KeyId: key.GetKeyId()})
	wantCode(t, err, codes.NotFound, "QUERY-Dgfb4")
	if _, err = invoke[mgmt.RemoveUserResponse](e, admin, org, "RemoveUser", &mgmt.RemoveUserRequest{Id: add.GetUserId()}); err != nil {
		t.Fatal(err)
	}
	_, err = invoke[mgmt.GetUserByIDResponse](e, admin, org, "GetUserByID", &mgmt.GetUserByIDRequest{Id: add.GetUserId()})
	wantCode(t, err, codes.NotFound, "QUERY-Dfbg2")
}

func TestGRPCRefusesMissingOrWrongTokens(t *testing.T) {
	e := start(t)
	conn := e.grpcConn()
	var out mgmt.GetIAMResponse
	err := conn.Invoke(t.Context(), "/zitadel.management.v1.ManagementService/GetIAM", &mgmt.GetIAMRequest{}, &out)
	wantCode(t, err, codes.Unauthenticated, "AUTH-7mN0x")
	_, err = invoke[mgmt.GetIAMResponse](e, "garbage", "", "GetIAM", &mgmt.GetIAMRequest{})
	wantCode(t, err, codes.Unauthenticated, "AUTH-7fs1e")
	noAud := e.token(e.assertion(e.admin, nil), "openid").Body["access_token"].(string)
	_, err = invoke[mgmt.GetIAMResponse](e, noAud, "", "GetIAM", &mgmt.GetIAMRequest{})
	wantCode(t, err, codes.Unauthenticated, "AUTH-7fs1e")
	iam, err := invoke[mgmt.GetIAMResponse](e, e.accessToken(e.admin), "", "GetIAM", &mgmt.GetIAMRequest{})
	if err != nil || iam.GetIamProjectId() != e.srv.Info.IAMProjectID || iam.GetDefaultOrgId() != e.srv.Info.DefaultOrgID {
		t.Fatalf("GetIAM: %v %v", iam, err)
	}
	err = conn.Invoke(e.withAuth(e.accessToken(e.admin), ""), "/zitadel.management.v1.ManagementService/ListProjects", &mgmt.GetIAMRequest{}, &out)
	wantCode(t, err, codes.Unimplemented, "")
}

func TestRESTShapesAndErrors(t *testing.T) {
	e := start(t)
	org := e.srv.Info.DefaultOrgID
	k := e.machineUser(org, "svc", "", "ORG_OWNER")
	auth := map[string]string{"Authorization": "Bearer " + e.accessToken(k)}

	me := e.do(http.MethodGet, "/auth/v1/users/me", nil, auth)
	user, _ := me.Body["user"].(map[string]any)
	if me.Status != http.StatusOK || user["id"] != k.UserID || user["state"] != "USER_STATE_ACTIVE" || user["userName"] != "svc" ||
		user["preferredLoginName"] != "svc@zitadel.localhost" || user["machine"] == nil {
		t.Fatalf("users/me: %s", me.Raw)
	}
	if strings.Contains(me.Raw, "accessTokenType") || strings.Contains(me.Raw, "hasSecret") {
		t.Fatalf("zero values must be omitted: %s", me.Raw)
	}

	for _, body := range []string{"{}", `{"query":{"limit":100},"queries":[{"orgQuery":{"orgId":"` + org + `"}}]}`} {
		ms := e.do(http.MethodPost, "/auth/v1/memberships/me/_search", strings.NewReader(body), auth)
		result, _ := ms.Body["result"].([]any)
		if ms.Status != http.StatusOK || len(result) != 1 || ms.Body["details"].(map[string]any)["totalResult"] != "1" {
			t.Fatalf("memberships %s: %s", body, ms.Raw)
		}
		m := result[0].(map[string]any)
		if m["orgId"] != org || m["displayName"] != "ZITADEL" || m["roles"].([]any)[0] != "ORG_OWNER" || m["userId"] != k.UserID {
			t.Fatalf("membership shape: %s", ms.Raw)
		}
	}
	other := e.do(http.MethodPost, "/auth/v1/memberships/me/_search",
		strings.NewReader(`{"queries":[{"orgQuery":{"orgId":"123"}}]}`), auth)
	if _, ok := other.Body["result"]; ok || other.Status != http.StatusOK {
		t.Fatalf("empty result must be omitted: %s", other.Raw)
	}

	perms := e.do(http.MethodPost, "/auth/v1/permissions/zitadel/me/_search", strings.NewReader("{}"), auth)
	if perms.Status != http.StatusOK || !strings.Contains(perms.Raw, `"org.read"`) || !strings.Contains(perms.Raw, `"user.write"`) {
		t.Fatalf("permissions: %s", perms.Raw)
	}
	iam := e.do(http.MethodGet, "/management/v1/iam", nil, auth)
	if iam.Body["iamProjectId"] != e.srv.Info.IAMProjectID || iam.Body["defaultOrgId"] != org || iam.Body["globalOrgId"] == nil {
		t.Fatalf("iam: %s", iam.Raw)
	}
	myOrg := e.do(http.MethodGet, "/management/v1/orgs/me", nil, auth)
	if o, _ := myOrg.Body["org"].(map[string]any); o["id"] != org || o["state"] != "ORG_STATE_ACTIVE" || o["primaryDomain"] != "zitadel.localhost" {
		t.Fatalf("orgs/me: %s", myOrg.Raw)
	}

	// Errors, with grpc-gateway bodies.
	wantREST := func(name string, r response, status int, code float64, message string) {
		t.Helper()
		if r.Status != status || r.Body["code"] != code || r.Body["message"] != message {
			t.Fatalf("%s: want %d code %v %q, got %d %s", name, status, code, message, r.Status, r.Raw)
		}
		if details, _ := r.Body["details"].([]any); len(details) != 1 ||
			details[0].(map[string]any)["@type"] != "type.googleapis.com/zitadel.v1.ErrorDetail" {
			t.Fatalf("%s: details: %s", name, r.Raw)
		}
	}
	noAud := e.token(e.assertion(k, nil), "openid urn:zitadel:iam:org:project:id:123456789012345678:aud").Body["access_token"].(string)
	wantREST("wrong audience", e.do(http.MethodGet, "/auth/v1/users/me", nil, map[string]string{"Authorization": "Bearer " + noAud}),
		401, 16, "Errors.Token.Invalid (AUTH-7fs1e)")
	wantREST("bad token", e.do(http.MethodGet, "/auth/v1/users/me", nil, map[string]string{"Authorization": "Bearer nope"}),
		401, 16, "Errors.Token.Invalid (AUTH-7fs1e)")
	wantREST("unknown org", e.do(http.MethodGet, "/management/v1/orgs/me", nil, map[string]string{
		"Authorization": auth["Authorization"], "x-zitadel-orgid": "111111111111111111"}), 403, 7, "Organisation doesn't exist (AUTH-Bs7Ds)")

	e.control(http.MethodPut, "/orgs/"+org+"/members/"+k.UserID, map[string]any{"roles": []string{"ORG_PROJECT_CREATOR"}})
	wantREST("no permission", e.do(http.MethodGet, "/management/v1/orgs/me", nil, auth), 403, 7, "No matching permissions found (AUTH-5mWD2)")
	e.control(http.MethodDelete, "/orgs/"+org+"/members/"+k.UserID, nil)
	wantREST("no membership", e.do(http.MethodGet, "/management/v1/orgs/me", nil, auth), 404, 5, "membership not found (AUTHZ-cdgFk)")

	e.control(http.MethodPost, "/users/"+k.UserID+"/_deactivate", nil)
	wantREST("deactivated", e.do(http.MethodGet, "/auth/v1/users/me", nil, auth), 401, 16, "Errors.Token.Invalid (AUTH-7fs1e)")
}

func TestMembershipKindsAndLag(t *testing.T) {
	e := start(t)
	org := e.control(http.MethodPost, "/orgs", map[string]string{"name": "Acme"}).Body["orgId"].(string)
	k := e.machineUser(org, "multi", "")
	auth := map[string]string{"Authorization": "Bearer " + e.accessToken(k)}
	project := e.control(http.MethodPost, "/projects", map[string]string{"orgId": org, "name": "Billing"}).Body["projectId"].(string)
	grant := e.control(http.MethodPost, "/projects/"+project+"/grants", map[string]string{"grantedOrgId": org}).Body["grantId"].(string)
	e.control(http.MethodPost, "/instance/members", map[string]any{"userId": k.UserID, "roles": []string{"IAM_OWNER_VIEWER"}})
	e.control(http.MethodPost, "/orgs/"+org+"/members", map[string]any{"userId": k.UserID, "roles": []string{"ORG_OWNER"}})
	e.control(http.MethodPost, "/projects/"+project+"/members", map[string]any{"userId": k.UserID, "roles": []string{"PROJECT_OWNER"}})
	e.control(http.MethodPost, "/project-grants/"+grant+"/members", map[string]any{"userId": k.UserID, "roles": []string{"PROJECT_GRANT_OWNER"}})

	ms := e.do(http.MethodPost, "/auth/v1/memberships/me/_search", strings.NewReader("{}"), auth)
	for _, want := range []string{`"iam":true`, `"orgId":"` + org + `"`, `"projectId":"` + project + `"`, `"projectGrantId":"` + grant + `"`} {
		if !strings.Contains(ms.Raw, want) {
			t.Fatalf("memberships lack %s: %s", want, ms.Raw)
		}
	}
	if ms.Body["details"].(map[string]any)["totalResult"] != "4" {
		t.Fatalf("want 4 memberships: %s", ms.Raw)
	}

	e.control(http.MethodPut, "/lag", map[string]int{"membershipsMs": 60_000})
	fresh := e.machineUser(org, "fresh", "", "ORG_OWNER")
	freshAuth := map[string]string{"Authorization": "Bearer " + e.accessToken(fresh)}
	if r := e.do(http.MethodGet, "/management/v1/orgs/me", nil, freshAuth); r.Status != http.StatusNotFound {
		t.Fatalf("a lagging membership must not count yet: %d %s", r.Status, r.Raw)
	}
	if r := e.do(http.MethodPost, "/auth/v1/memberships/me/_search", strings.NewReader("{}"), freshAuth); strings.Contains(r.Raw, "result") {
		t.Fatalf("a lagging membership must not be listed yet: %s", r.Raw)
	}
	e.control(http.MethodPut, "/lag", map[string]int{"membershipsMs": 0})
	if r := e.do(http.MethodGet, "/management/v1/orgs/me", nil, freshAuth); r.Status != http.StatusOK {
		t.Fatalf("after the lag: %d %s", r.Status, r.Raw)
	}
}

func TestFaultsAndControlState(t *testing.T) {
	e := start(t)
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/oauth/v2/token", "status": 429, "count": 2, "retryAfter": "1"})
	for i := 0; i < 2; i++ {
		r := e.token(e.assertion(e.admin, nil), zitadelScopes)
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
			t.Fatalf("fault %d: %d %v", i, r.Status, r.Header)
		}
	}
	if r := e.token(e.assertion(e.admin, nil), zitadelScopes); r.Status != http.StatusOK {
		t.Fatalf("fault count exhausted, want 200: %d", r.Status)
	}

	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/auth/v1/", "status": 503, "count": -1, "body": "down"})
	auth := map[string]string{"Authorization": "Bearer " + e.accessToken(e.admin)}
	for i := 0; i < 3; i++ {
		if r := e.do(http.MethodGet, "/auth/v1/users/me", nil, auth); r.Status != 503 || r.Raw != "down" {
			t.Fatalf("unlimited fault: %d %q", r.Status, r.Raw)
		}
	}
	state := e.control(http.MethodGet, "/state", nil)
	if len(state.Body["faults"].([]any)) != 1 || state.Body["defaultOrgId"] != e.srv.Info.DefaultOrgID {
		t.Fatalf("state: %s", state.Raw)
	}
	if strings.Contains(state.Raw, "PRIVATE KEY") || strings.Contains(state.Raw, auth["Authorization"][7:]) {
		t.Fatalf("state must not contain key or token material")
	}
	e.control(http.MethodDelete, "/faults", nil)

	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/management/", "delayMs": 150})
	began := time.Now()
	if r := e.do(http.MethodGet, "/management/v1/iam", nil, auth); r.Status != http.StatusOK || time.Since(began) < 150*time.Millisecond {
		t.Fatalf("delay fault: %d after %v", r.Status, time.Since(began))
	}

	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/zitadel.management.v1.ManagementService/", "status": 503})
	_, err := invoke[mgmt.GetIAMResponse](e, e.accessToken(e.admin), "", "GetIAM", &mgmt.GetIAMRequest{})
	wantCode(t, err, codes.Unavailable, "")

	if r := e.do(http.MethodPost, "/_standin/faults", strings.NewReader(`{"pathPrefix":"/_standin/","status":500}`),
		map[string]string{"Content-Type": "application/json"}); r.Status != http.StatusBadRequest {
		t.Fatalf("the control API must not be faultable: %d", r.Status)
	}
}
