package standin

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authoption"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
)

// TestMethodAuthMatchesZitadelProtos compares every served method's requirement with the zitadel.v1.auth_option
// that ZITADEL's proto puts on it, as zitadel-go's descriptors carry it.
func TestMethodAuthMatchesZitadelProtos(t *testing.T) {
	for path, need := range methodAuth {
		service, method, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		md := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(method))
		if md == nil {
			t.Fatalf("%s: no such method", path)
		}
		opt, _ := proto.GetExtension(md.Options(), authoption.E_AuthOption).(*authoption.AuthOption)
		check := ""
		if need.CheckField != "" {
			check = goName(need.CheckField)
		}
		if opt.GetPermission() != need.Permission || opt.GetCheckFieldName() != check {
			t.Errorf("%s: ZITADEL wants %q (check %q), the stand-in %q (check %q)", path,
				opt.GetPermission(), opt.GetCheckFieldName(), need.Permission, check)
		}
	}
}

// TestRequestValidation: the protoc-gen-validate rules of ZITADEL's protos, with their messages.
func TestRequestValidation(t *testing.T) {
	empty := ""
	for _, c := range []struct {
		req  proto.Message
		want string
	}{
		{&mgmt.AddMachineUserRequest{Name: "n"}, "invalid AddMachineUserRequest.UserName: value length must be between 1 and 200 runes, inclusive"},
		{&mgmt.AddMachineUserRequest{UserName: "u", Name: "n", Description: strings.Repeat("d", 501)}, "invalid AddMachineUserRequest.Description: value length must be at most 500 runes"},
		{&mgmt.AddMachineUserRequest{UserName: "u", Name: "n", UserId: &empty}, "invalid AddMachineUserRequest.UserId: value length must be between 1 and 200 runes, inclusive"},
		{&mgmt.AddMachineUserRequest{UserName: "u", Name: "n", AccessTokenType: 7}, "invalid AddMachineUserRequest.AccessTokenType: value must be one of the defined enum values"},
		{&mgmt.AddMachineKeyRequest{UserId: "1"}, "invalid AddMachineKeyRequest.Type: value must not be in list [0]"},
		{&admin.RemoveOrgRequest{}, "invalid RemoveOrgRequest.OrgId: value length must be between 1 and 200 runes, inclusive"},
		{&mgmt.AddMachineUserRequest{UserName: "u", Name: "n"}, ""},
	} {
		err := validateRequest(c.req)
		if c.want == "" {
			if err != nil {
				t.Errorf("%T: unexpected %v", c.req, err)
			}
			continue
		}
		wantCode(t, err, codes.InvalidArgument, "")
		if !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%T: got %v, want %s", c.req, err, c.want)
		}
	}
}

func TestAdminServiceAuthAndFaults(t *testing.T) {
	e := start(t)
	a := e.adminClient()
	_, err := a.GetDefaultOrg(t.Context(), &admin.GetDefaultOrgRequest{})
	wantCode(t, err, codes.Unauthenticated, "AUTH-7mN0x")
	token := e.accessToken(e.admin)
	_, err = a.Healthz(e.withAuth(token, ""), &admin.HealthzRequest{})
	wantCode(t, err, codes.Unimplemented, "")

	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/zitadel.admin.v1.AdminService/", "status": 503})
	_, err = a.GetDefaultOrg(e.withAuth(token, ""), &admin.GetDefaultOrgRequest{})
	wantCode(t, err, codes.Unavailable, "")
	if _, err = a.GetDefaultOrg(e.withAuth(token, ""), &admin.GetDefaultOrgRequest{}); err != nil {
		t.Fatalf("the fault was for one call: %v", err)
	}
}

// TestStateFileKeepsOrgChanges: orgs, their owner memberships and the default org made over gRPC survive a
// restart; the --default-org-id check still accepts the instance's first org after SetDefaultOrg.
func TestStateFileKeepsOrgChanges(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", AdminKeyFile: filepath.Join(dir, "admin.json"),
		StateFile: filepath.Join(dir, "state.json"), DefaultOrgID: "300000000000000001"}
	first := startWith(t, cfg)
	ctx := first.withAuth(first.accessToken(first.admin), "")
	added, err := first.mgmtClient().AddOrg(ctx, &mgmt.AddOrgRequest{Name: "Kept"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.adminClient().SetDefaultOrg(ctx, &admin.SetDefaultOrgRequest{OrgId: added.GetId()}); err != nil {
		t.Fatal(err)
	}
	stop(first.srv)

	second := startWith(t, cfg)
	if second.srv.Info.DefaultOrgID != added.GetId() {
		t.Fatalf("default org after restart: %s", second.srv.Info.DefaultOrgID)
	}
	inOrg := second.withAuth(second.accessToken(second.admin), added.GetId())
	owners, err := second.mgmtClient().ListOrgMembers(inOrg, &mgmt.ListOrgMembersRequest{Queries: userQuery(second.admin.UserID)})
	if err != nil || len(owners.GetResult()) != 1 {
		t.Fatalf("owner membership after restart: %v %v", owners, err)
	}
}
