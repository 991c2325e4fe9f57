package standin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestGatewayRoutesMatchZitadelProtos: every REST route is the google.api.http rule of its method in
// ZITADEL's protos (as zitadel-go's descriptors carry them, with the gateway's /management/v1 or /admin/v1
// prefix), and its method has an auth requirement (which TestMethodAuthMatchesZitadelProtos compares).
func TestGatewayRoutesMatchZitadelProtos(t *testing.T) {
	for _, rt := range (&restAPI{}).gatewayRoutes() {
		service, method, _ := strings.Cut(strings.TrimPrefix(rt.method, "/"), "/")
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
		if err != nil {
			t.Fatalf("%s: %v", rt.method, err)
		}
		md := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(method))
		rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
		var verb, path string
		switch p := rule.GetPattern().(type) {
		case *annotations.HttpRule_Get:
			verb, path = http.MethodGet, p.Get
		case *annotations.HttpRule_Post:
			verb, path = http.MethodPost, p.Post
		case *annotations.HttpRule_Delete:
			verb, path = http.MethodDelete, p.Delete
		}
		prefix := mgmtREST
		if strings.HasPrefix(service, "zitadel.admin.") {
			prefix = adminREST
		}
		if want := verb + " " + prefix + path; want != rt.pattern {
			t.Errorf("%s: ZITADEL's gateway route is %q, the stand-in's %q", rt.method, want, rt.pattern)
		}
		if _, ok := methodAuth[rt.method]; !ok {
			t.Errorf("%s has no auth requirement", rt.method)
		}
		if got := string(rt.newReq().ProtoReflect().Descriptor().FullName()); got != string(md.Input().FullName()) {
			t.Errorf("%s: request %s, want %s", rt.method, got, md.Input().FullName())
		}
	}
}

func (e *testEnv) rest(method, path, token, orgID string, body any) response {
	e.t.Helper()
	header := map[string]string{"Authorization": "Bearer " + token}
	if orgID != "" {
		header["x-zitadel-orgid"] = orgID
	}
	var reader *strings.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		reader = strings.NewReader(string(raw))
		header["Content-Type"] = "application/json"
	}
	if reader == nil {
		return e.do(method, path, nil, header)
	}
	return e.do(method, path, reader, header)
}

func userNameQuery(name, method string) map[string]any {
	return map[string]any{"queries": []any{map[string]any{"userNameQuery": map[string]any{"userName": name, "method": method}}}}
}

func results(t *testing.T, r response) []map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	var out []map[string]any
	list, _ := r.Body["result"].([]any) // omitted when empty
	for _, item := range list {
		out = append(out, item.(map[string]any))
	}
	return out
}

// TestGatewayFindsAndRemovesUsersKeysAndMembers: what a recovery tool does over REST with the instance
// admin's token: find a user by org and user name, list its keys and memberships, remove a key, a
// membership and the user, in ZITADEL's JSON shapes (lowerCamelCase, int64 as strings, empty lists omitted).
func TestGatewayFindsAndRemovesUsersKeysAndMembers(t *testing.T) {
	e := start(t)
	token := e.accessToken(e.admin)
	org := e.create("/orgs", map[string]string{"name": "Recovery"}, "orgId")
	other := e.create("/orgs", map[string]string{"name": "Elsewhere"}, "orgId")
	key := e.machineUser(org, "Deployer", "ACCESS_TOKEN_TYPE_BEARER", "ORG_OWNER")
	e.machineUser(other, "deployer", "ACCESS_TOKEN_TYPE_BEARER")
	e.machineUser(org, "deployer-2", "ACCESS_TOKEN_TYPE_BEARER")
	second := parseKeyFile(t, e.control(http.MethodPost, "/users/"+key.UserID+"/keys", nil).Body["keyDetails"].(string))

	// User names are found in the org of x-zitadel-orgid only, with ZITADEL's text methods.
	found := results(t, e.rest(http.MethodPost, "/management/v1/users/_search", token, org,
		userNameQuery("deployer", "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE")))
	if len(found) != 1 || found[0]["id"] != key.UserID || found[0]["userName"] != "Deployer" ||
		found[0]["details"].(map[string]any)["resourceOwner"] != org || found[0]["machine"] == nil {
		t.Fatalf("users/_search: %v", found)
	}
	if got := results(t, e.rest(http.MethodPost, "/management/v1/users/_search", token, org,
		userNameQuery("deployer", "TEXT_QUERY_METHOD_EQUALS"))); len(got) != 0 {
		t.Fatalf("EQUALS is case-sensitive: %v", got)
	}
	if got := results(t, e.rest(http.MethodPost, "/management/v1/users/_search", token, org,
		userNameQuery("deployer", "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE"))); len(got) != 2 {
		t.Fatalf("STARTS_WITH_IGNORE_CASE: %v", got)
	}
	all := e.rest(http.MethodPost, "/management/v1/users/_search", token, org, nil)
	if n := all.Body["details"].(map[string]any)["totalResult"]; n != "2" {
		t.Fatalf("totalResult %v (int64 as a string): %s", n, all.Raw)
	}

	keys := results(t, e.rest(http.MethodPost, "/management/v1/users/"+key.UserID+"/keys/_search", token, org, map[string]any{}))
	if len(keys) != 2 || keys[0]["id"] != key.KeyID || keys[1]["id"] != second.KeyID || keys[0]["type"] != "KEY_TYPE_JSON" {
		t.Fatalf("keys/_search: %v", keys)
	}
	if strings.Contains(e.rest(http.MethodPost, "/management/v1/users/"+key.UserID+"/keys/_search", token, org, nil).Raw, "PRIVATE") {
		t.Fatal("key material in a list answer")
	}
	// Another org's context sees neither the user nor its keys.
	if got := results(t, e.rest(http.MethodPost, "/management/v1/users/"+key.UserID+"/keys/_search", token, other, nil)); len(got) != 0 {
		t.Fatalf("keys seen from another org: %v", got)
	}

	members := results(t, e.rest(http.MethodPost, "/management/v1/orgs/me/members/_search", token, org,
		map[string]any{"queries": []any{map[string]any{"userIdQuery": map[string]any{"userId": key.UserID}}}}))
	if len(members) != 1 || members[0]["userId"] != key.UserID || members[0]["roles"].([]any)[0] != "ORG_OWNER" {
		t.Fatalf("orgs/me/members/_search: %v", members)
	}
	iam := results(t, e.rest(http.MethodPost, "/admin/v1/members/_search", token, "", nil))
	if len(iam) != 1 || iam[0]["userId"] != e.admin.UserID {
		t.Fatalf("admin members/_search: %v", iam)
	}

	if r := e.rest(http.MethodDelete, "/management/v1/users/"+key.UserID+"/keys/"+second.KeyID, token, org, nil); r.Status != http.StatusOK {
		t.Fatalf("remove key: %d %s", r.Status, r.Raw)
	}
	r := e.rest(http.MethodDelete, "/management/v1/users/"+key.UserID+"/keys/"+second.KeyID, token, org, nil)
	if r.Status != http.StatusNotFound || !strings.Contains(r.Raw, "COMMAND-4m77G") {
		t.Fatalf("removing it again: %d %s", r.Status, r.Raw)
	}
	if keys := e.userNamed("Deployer")["keys"].([]any); len(keys) != 1 {
		t.Fatalf("keys left: %v", keys)
	}
	if r := e.rest(http.MethodDelete, "/management/v1/orgs/me/members/"+key.UserID, token, org, nil); r.Status != http.StatusOK {
		t.Fatalf("remove member: %d %s", r.Status, r.Raw)
	}
	if r := e.rest(http.MethodDelete, "/management/v1/users/"+key.UserID, token, org, nil); r.Status != http.StatusOK {
		t.Fatalf("remove user: %d %s", r.Status, r.Raw)
	}
	if e.userNamed("Deployer") != nil {
		t.Fatal("the user is still there")
	}
	if r := e.rest(http.MethodGet, "/management/v1/users/"+key.UserID, token, org, nil); r.Status != http.StatusNotFound {
		t.Fatalf("get a removed user: %d %s", r.Status, r.Raw)
	}
}

// TestGatewayProjectAndGrantMembers: project and project grant members by the routes of their project.
func TestGatewayProjectAndGrantMembers(t *testing.T) {
	e := start(t)
	token := e.accessToken(e.admin)
	org := e.create("/orgs", map[string]string{"name": "Owner"}, "orgId")
	granted := e.create("/orgs", map[string]string{"name": "Granted"}, "orgId")
	project := e.create("/projects", map[string]string{"orgId": org, "name": "Shop"}, "projectId")
	grant := e.create("/projects/"+project+"/grants", map[string]string{"grantedOrgId": granted}, "grantId")
	user := e.machineUser(org, "builder", "ACCESS_TOKEN_TYPE_BEARER")
	e.control(http.MethodPost, "/projects/"+project+"/members", map[string]any{"userId": user.UserID, "roles": []string{"PROJECT_OWNER"}})
	e.control(http.MethodPost, "/project-grants/"+grant+"/members", map[string]any{"userId": user.UserID, "roles": []string{"PROJECT_GRANT_OWNER"}})

	byUser := map[string]any{"queries": []any{map[string]any{"userIdQuery": map[string]any{"userId": user.UserID}}}}
	if got := results(t, e.rest(http.MethodPost, "/management/v1/projects/"+project+"/members/_search", token, org, byUser)); len(got) != 1 {
		t.Fatalf("project members: %v", got)
	}
	grantPath := "/management/v1/projects/" + project + "/grants/" + grant + "/members"
	if got := results(t, e.rest(http.MethodPost, grantPath+"/_search", token, org, byUser)); len(got) != 1 {
		t.Fatalf("grant members: %v", got)
	}
	// A project of another org is not found in this org's context: an empty list, as in ZITADEL.
	if got := results(t, e.rest(http.MethodPost, "/management/v1/projects/"+project+"/members/_search", token, granted, byUser)); len(got) != 0 {
		t.Fatalf("project members from another org: %v", got)
	}
	if r := e.rest(http.MethodDelete, "/management/v1/projects/"+project+"/members/"+user.UserID, token, org, nil); r.Status != http.StatusOK {
		t.Fatalf("remove project member: %d %s", r.Status, r.Raw)
	}
	if r := e.rest(http.MethodDelete, grantPath+"/"+user.UserID, token, org, nil); r.Status != http.StatusOK {
		t.Fatalf("remove grant member: %d %s", r.Status, r.Raw)
	}
	r := e.rest(http.MethodDelete, grantPath+"/"+user.UserID, token, org, nil)
	if r.Status != http.StatusNotFound || !strings.Contains(r.Raw, "PROJECT-37fug") {
		t.Fatalf("removing a grant member twice: %d %s", r.Status, r.Raw)
	}
	for _, m := range e.control(http.MethodGet, "/state", nil).Body["memberships"].([]any) {
		if m.(map[string]any)["userId"] == user.UserID {
			t.Fatalf("membership left: %v", m)
		}
	}
}

// TestGatewayChecksAuthAndReadLag: the REST routes run ZITADEL's checks (token, permission, validation) and see
// the management read lag like the gRPC reads; faults apply to them like to any HTTP path.
func TestGatewayChecksAuthAndReadLag(t *testing.T) {
	e := start(t)
	token := e.accessToken(e.admin)
	org := e.create("/orgs", map[string]string{"name": "Guarded"}, "orgId")
	viewer := e.machineUser(org, "viewer", "ACCESS_TOKEN_TYPE_BEARER", "ORG_OWNER_VIEWER")
	stranger := e.machineUser(org, "stranger", "ACCESS_TOKEN_TYPE_BEARER")

	r := e.do(http.MethodPost, "/management/v1/users/_search", strings.NewReader("{}"), map[string]string{"x-zitadel-orgid": org})
	if r.Status != http.StatusUnauthorized || r.Body["code"] != float64(16) {
		t.Fatalf("no token: %d %s", r.Status, r.Raw)
	}
	if r := e.rest(http.MethodPost, "/management/v1/users/_search", e.accessToken(stranger), org, nil); r.Status != http.StatusNotFound ||
		!strings.Contains(r.Raw, "AUTHZ-cdgFk") {
		t.Fatalf("no membership: %d %s", r.Status, r.Raw)
	}
	viewerToken := e.accessToken(viewer)
	if got := results(t, e.rest(http.MethodPost, "/management/v1/users/_search", viewerToken, org, nil)); len(got) != 2 {
		t.Fatalf("a viewer reads users: %v", got)
	}
	if r := e.rest(http.MethodDelete, "/management/v1/users/"+stranger.UserID, viewerToken, org, nil); r.Status != http.StatusForbidden ||
		!strings.Contains(r.Raw, "AUTH-5mWD2") {
		t.Fatalf("a viewer deletes a user: %d %s", r.Status, r.Raw)
	}
	if r := e.do(http.MethodPost, "/management/v1/users/_search", strings.NewReader("{not json"),
		map[string]string{"Authorization": "Bearer " + token}); r.Status != http.StatusBadRequest {
		t.Fatalf("a broken body: %d %s", r.Status, r.Raw)
	}

	e.control(http.MethodPut, "/lag", map[string]int{"managementReadsMs": 60_000})
	late := e.machineUser(org, "late", "ACCESS_TOKEN_TYPE_BEARER")
	if got := results(t, e.rest(http.MethodPost, "/management/v1/users/_search", token, org,
		userNameQuery("late", "TEXT_QUERY_METHOD_EQUALS"))); len(got) != 0 {
		t.Fatalf("a user younger than the read lag is listed: %v", got)
	}
	if got := results(t, e.rest(http.MethodPost, "/management/v1/users/"+late.UserID+"/keys/_search", token, org, nil)); len(got) != 0 {
		t.Fatalf("keys of a user younger than the read lag: %v", got)
	}
	e.control(http.MethodPut, "/lag", map[string]int{})
	if got := results(t, e.rest(http.MethodPost, "/management/v1/users/_search", token, org,
		userNameQuery("late", "TEXT_QUERY_METHOD_EQUALS"))); len(got) != 1 {
		t.Fatalf("without lag: %v", got)
	}

	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/management/v1/users/_search", "status": 503})
	if r := e.rest(http.MethodPost, "/management/v1/users/_search", token, org, nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("a fault: %d %s", r.Status, r.Raw)
	}
}
