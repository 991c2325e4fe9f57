package standin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/auth"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	objpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// The REST answers are zitadel-go's generated auth/management messages, marshalled the way ZITADEL's
// grpc-gateway does: ZITADEL replaces the gateway's default marshaler (which emits zero values) with
// runtime.JSONPb{UnmarshalOptions: {DiscardUnknown: true}}, i.e. protojson defaults: lowerCamelCase names,
// zero values omitted, int64 as strings, enums by name, bytes as padded base64.
var (
	gatewayMarshal   = protojson.MarshalOptions{}
	gatewayUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}
)

func writeProtoJSON(w http.ResponseWriter, code int, m proto.Message) {
	raw, err := gatewayMarshal.Marshal(m)
	if err != nil {
		http.Error(w, "marshal error", http.StatusInternalServerError)
		return
	}
	// protojson randomizes whitespace on purpose; the gateway output is compact.
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		raw = buf.Bytes()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(raw)
}

// writeGatewayError writes a grpc-gateway error body: {"code","message","details":[...]}.
func writeGatewayError(w http.ResponseWriter, err error) {
	st, ok := status.FromError(err)
	if !ok {
		st = status.New(codes.Unknown, err.Error())
	}
	body := st.Proto()
	raw, mErr := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(body)
	if mErr != nil {
		http.Error(w, st.Message(), runtime.HTTPStatusFromCode(st.Code()))
		return
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		raw = buf.Bytes()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	_, _ = w.Write(raw)
}

type restAPI struct{ st *State }

func (a *restAPI) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /auth/v1/users/me", a.getMyUser)
	mux.HandleFunc("POST /auth/v1/memberships/me/_search", a.listMyMemberships)
	mux.HandleFunc("POST /auth/v1/permissions/zitadel/me/_search", a.listMyZitadelPermissions)
	mux.HandleFunc("GET /management/v1/iam", a.getIAM)
	mux.HandleFunc("GET /management/v1/orgs/me", a.getMyOrg)
	a.registerGateway(mux) // rest_management.go: the management and admin methods tools use
	for _, prefix := range []string{"/auth/v1/", "/management/v1/", "/admin/v1/", "/v2/", "/zitadel."} {
		mux.HandleFunc(prefix, func(w http.ResponseWriter, _ *http.Request) {
			writeGatewayError(w, status.New(codes.NotFound, "Not Found").Err())
		})
	}
}

// authorize runs ZITADEL's API checks and leaves s.mu locked on success; the caller unlocks it.
func (a *restAPI) authorize(w http.ResponseWriter, r *http.Request, permission string) *caller {
	a.st.mu.Lock()
	c, err := a.st.authorize(r.Header.Get("Authorization"), r.Header.Get("x-zitadel-orgid"), requirement{Permission: permission})
	if err != nil {
		a.st.mu.Unlock()
		writeGatewayError(w, err)
		return nil
	}
	return c
}

func (a *restAPI) getMyUser(w http.ResponseWriter, r *http.Request) {
	c := a.authorize(w, r, permAuthenticated)
	if c == nil {
		return
	}
	resp := &authpb.GetMyUserResponse{User: a.st.userProto(c.User)}
	a.st.mu.Unlock()
	writeProtoJSON(w, http.StatusOK, resp)
}

func readBody(r *http.Request, m proto.Message) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	return gatewayUnmarshal.Unmarshal(raw, m)
}

func (a *restAPI) listMyMemberships(w http.ResponseWriter, r *http.Request) {
	req := &authpb.ListMyMembershipsRequest{}
	if err := readBody(r, req); err != nil {
		writeGatewayError(w, status.New(codes.InvalidArgument, err.Error()).Err())
		return
	}
	c := a.authorize(w, r, permAuthenticated)
	if c == nil {
		return
	}
	var result []*userpb.Membership
	for _, m := range a.st.visibleMemberships(c.User.ID) {
		if a.st.membershipMatches(m, req.GetQueries()) {
			result = append(result, a.st.membershipProto(m))
		}
	}
	total := uint64(len(result))
	result = paginate(result, req.GetQuery())
	resp := &authpb.ListMyMembershipsResponse{
		Details: &objpb.ListDetails{TotalResult: total, ProcessedSequence: a.st.sequence, ViewTimestamp: timestamppb.New(a.st.now())},
		Result:  result,
	}
	a.st.mu.Unlock()
	writeProtoJSON(w, http.StatusOK, resp)
}

// membershipMatches applies ListMyMemberships queries; several queries must all match.
func (s *State) membershipMatches(m *Membership, queries []*userpb.MembershipQuery) bool {
	for _, q := range queries {
		switch {
		case q.GetOrgQuery() != nil:
			if m.Kind == KindIAM || s.membershipOrg(m) != q.GetOrgQuery().GetOrgId() {
				return false
			}
		case q.GetProjectQuery() != nil:
			if m.Kind != KindProject || m.TargetID != q.GetProjectQuery().GetProjectId() {
				return false
			}
		case q.GetProjectGrantQuery() != nil:
			if m.Kind != KindProjectGrant || m.TargetID != q.GetProjectGrantQuery().GetProjectGrantId() {
				return false
			}
		case q.GetIamQuery() != nil:
			if (m.Kind == KindIAM) != q.GetIamQuery().GetIam() {
				return false
			}
		}
	}
	return true
}

func (s *State) membershipProto(m *Membership) *userpb.Membership {
	out := &userpb.Membership{UserId: m.UserID, Roles: append([]string(nil), m.Roles...),
		DisplayName: s.membershipDisplayName(m),
		Details:     details(m.Sequence, m.Created, m.Changed, s.membershipResourceOwner(m))}
	switch m.Kind {
	case KindIAM:
		out.Type = &userpb.Membership_Iam{Iam: true}
	case KindOrg:
		out.Type = &userpb.Membership_OrgId{OrgId: m.TargetID}
	case KindProject:
		out.Type = &userpb.Membership_ProjectId{ProjectId: m.TargetID}
	case KindProjectGrant:
		out.Type = &userpb.Membership_ProjectGrantId{ProjectGrantId: m.TargetID}
	}
	return out
}

func (a *restAPI) listMyZitadelPermissions(w http.ResponseWriter, r *http.Request) {
	c := a.authorize(w, r, permAuthenticated)
	if c == nil {
		return
	}
	roles, _ := a.st.rolesInContext(c.User.ID, c.OrgID)
	resp := &authpb.ListMyZitadelPermissionsResponse{Result: permissionsOf(roles)}
	a.st.mu.Unlock()
	writeProtoJSON(w, http.StatusOK, resp)
}

func (a *restAPI) getIAM(w http.ResponseWriter, r *http.Request) {
	if a.authorize(w, r, permAuthenticated) == nil {
		return
	}
	resp := &mgmt.GetIAMResponse{GlobalOrgId: a.st.DefaultOrgID, IamProjectId: a.st.IAMProjectID, DefaultOrgId: a.st.DefaultOrgID}
	a.st.mu.Unlock()
	writeProtoJSON(w, http.StatusOK, resp)
}

func (a *restAPI) getMyOrg(w http.ResponseWriter, r *http.Request) {
	c := a.authorize(w, r, "org.read")
	if c == nil {
		return
	}
	resp := &mgmt.GetMyOrgResponse{Org: a.st.orgProto(a.st.orgs[c.OrgID])}
	a.st.mu.Unlock()
	writeProtoJSON(w, http.StatusOK, resp)
}
