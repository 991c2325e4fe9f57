package standin

import (
	"context"
	"net/http"
	"regexp"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	authnpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authn"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// The management and admin API over ZITADEL's REST gateway, for tools that find and clean up what an
// interrupted run left behind (tools/recover): users by org and user name, their machine keys, the members of
// an org, the instance, a project or a project grant, and the removals. As in ZITADEL, the gateway is a
// translation in front of the gRPC handlers: the JSON body and the path parameters fill the gRPC request
// (path parameters win), the Authorization and x-zitadel-orgid headers become its metadata, and the call goes
// through the same authorization, validation, handler and commit as a gRPC call (authorizeAndServe). The
// routes and permissions are those of the google.api.http and zitadel.v1.auth_option annotations in
// ZITADEL's management.proto and admin.proto (TestGatewayRoutesMatchZitadelProtos checks both).

// gatewayRoute is one REST route of a served gRPC method.
type gatewayRoute struct {
	pattern string // "<HTTP method> <path>", path parameters named as the request's proto fields
	method  string // full gRPC method name
	newReq  func() proto.Message
	handler grpc.UnaryHandler
}

// gatewayUnary adapts a typed gRPC handler to a grpc.UnaryHandler.
func gatewayUnary[Req, Resp proto.Message](fn func(context.Context, Req) (Resp, error)) grpc.UnaryHandler {
	return func(ctx context.Context, req any) (any, error) { return fn(ctx, req.(Req)) }
}

// gatewayRequest makes a new, empty request message of type T for each call.
func gatewayRequest[T any, PT interface {
	*T
	proto.Message
}]() func() proto.Message {
	return func() proto.Message { return PT(new(T)) }
}

const (
	mgmtREST  = "/management/v1"
	adminREST = "/admin/v1"
)

func (a *restAPI) gatewayRoutes() []gatewayRoute {
	m := &managementServer{st: a.st}
	ad := &adminServer{st: a.st}
	return []gatewayRoute{
		{"POST " + mgmtREST + "/users/_search", mgmt.ManagementService_ListUsers_FullMethodName,
			gatewayRequest[mgmt.ListUsersRequest](), gatewayUnary(m.ListUsers)},
		{"GET " + mgmtREST + "/users/{id}", mgmt.ManagementService_GetUserByID_FullMethodName,
			gatewayRequest[mgmt.GetUserByIDRequest](), gatewayUnary(m.GetUserByID)},
		{"DELETE " + mgmtREST + "/users/{id}", mgmt.ManagementService_RemoveUser_FullMethodName,
			gatewayRequest[mgmt.RemoveUserRequest](), gatewayUnary(m.RemoveUser)},
		{"POST " + mgmtREST + "/users/{user_id}/keys/_search", mgmt.ManagementService_ListMachineKeys_FullMethodName,
			gatewayRequest[mgmt.ListMachineKeysRequest](), gatewayUnary(m.ListMachineKeys)},
		{"DELETE " + mgmtREST + "/users/{user_id}/keys/{key_id}", mgmt.ManagementService_RemoveMachineKey_FullMethodName,
			gatewayRequest[mgmt.RemoveMachineKeyRequest](), gatewayUnary(m.RemoveMachineKey)},
		{"POST " + mgmtREST + "/orgs/me/members/_search", mgmt.ManagementService_ListOrgMembers_FullMethodName,
			gatewayRequest[mgmt.ListOrgMembersRequest](), gatewayUnary(m.ListOrgMembers)},
		{"DELETE " + mgmtREST + "/orgs/me/members/{user_id}", mgmt.ManagementService_RemoveOrgMember_FullMethodName,
			gatewayRequest[mgmt.RemoveOrgMemberRequest](), gatewayUnary(m.RemoveOrgMember)},
		{"POST " + mgmtREST + "/projects/{project_id}/members/_search", mgmt.ManagementService_ListProjectMembers_FullMethodName,
			gatewayRequest[mgmt.ListProjectMembersRequest](), gatewayUnary(m.ListProjectMembers)},
		{"DELETE " + mgmtREST + "/projects/{project_id}/members/{user_id}", mgmt.ManagementService_RemoveProjectMember_FullMethodName,
			gatewayRequest[mgmt.RemoveProjectMemberRequest](), gatewayUnary(m.RemoveProjectMember)},
		{"POST " + mgmtREST + "/projects/{project_id}/grants/{grant_id}/members/_search",
			mgmt.ManagementService_ListProjectGrantMembers_FullMethodName,
			gatewayRequest[mgmt.ListProjectGrantMembersRequest](), gatewayUnary(m.ListProjectGrantMembers)},
		{"DELETE " + mgmtREST + "/projects/{project_id}/grants/{grant_id}/members/{user_id}",
			mgmt.ManagementService_RemoveProjectGrantMember_FullMethodName,
			gatewayRequest[mgmt.RemoveProjectGrantMemberRequest](), gatewayUnary(m.RemoveProjectGrantMember)},
		{"POST " + adminREST + "/members/_search", admin.AdminService_ListIAMMembers_FullMethodName,
			gatewayRequest[admin.ListIAMMembersRequest](), gatewayUnary(ad.ListIAMMembers)},
		{"DELETE " + adminREST + "/members/{user_id}", admin.AdminService_RemoveIAMMember_FullMethodName,
			gatewayRequest[admin.RemoveIAMMemberRequest](), gatewayUnary(ad.RemoveIAMMember)},
		{"POST " + adminREST + "/orgs/_search", admin.AdminService_ListOrgs_FullMethodName,
			gatewayRequest[admin.ListOrgsRequest](), gatewayUnary(ad.ListOrgs)},
	}
}

// The two list methods the gateway needs that the provider never calls; ZITADEL's requirements.
func init() {
	methodAuth[mgmt.ManagementService_ListUsers_FullMethodName] = requirement{Permission: "user.read"}
	methodAuth[mgmt.ManagementService_ListMachineKeys_FullMethodName] = requirement{Permission: "user.read"}
}

var gatewayPathParam = regexp.MustCompile(`\{(\w+)\}`)

// registerGateway adds the REST routes to the mux (they take precedence over the catch-all 404 prefixes).
func (a *restAPI) registerGateway(mux *http.ServeMux) {
	for _, rt := range a.gatewayRoutes() {
		mux.HandleFunc(rt.pattern, a.gateway(rt))
	}
}

func (a *restAPI) gateway(rt gatewayRoute) http.HandlerFunc {
	params := gatewayPathParam.FindAllStringSubmatch(rt.pattern, -1)
	return func(w http.ResponseWriter, r *http.Request) {
		req := rt.newReq()
		if r.Method == http.MethodPost {
			if err := readBody(r, req); err != nil {
				writeGatewayError(w, status.New(codes.InvalidArgument, err.Error()).Err())
				return
			}
		}
		for _, p := range params {
			if err := setStringField(req, protoreflect.Name(p[1]), r.PathValue(p[1])); err != nil {
				writeGatewayError(w, err)
				return
			}
		}
		md := metadata.MD{}
		for _, h := range []string{"authorization", "x-zitadel-orgid"} {
			if v := r.Header.Get(h); v != "" {
				md.Set(h, v)
			}
		}
		ctx := metadata.NewIncomingContext(r.Context(), md)
		resp, err := a.st.authorizeAndServe(ctx, req, &grpc.UnaryServerInfo{FullMethod: rt.method}, rt.handler)
		if err != nil {
			writeGatewayError(w, err)
			return
		}
		writeProtoJSON(w, http.StatusOK, resp.(proto.Message))
	}
}

// setStringField sets a path parameter into the request field of that proto name.
func setStringField(req proto.Message, name protoreflect.Name, value string) error {
	msg := req.ProtoReflect()
	fd := msg.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.StringKind {
		return status.Errorf(codes.Internal, "%s has no string field %s", msg.Descriptor().Name(), name)
	}
	msg.Set(fd, protoreflect.ValueOfString(value))
	return nil
}

// readUsers are the users the management API's reads see, in creation order; the caller holds s.mu.
func (s *State) readUsers() []*User {
	cutoff, lagging := s.cutoff()
	if !lagging {
		out := make([]*User, 0, len(s.userOrder))
		for _, id := range s.userOrder {
			if u := s.users[id]; u != nil {
				out = append(out, u)
			}
		}
		return out
	}
	return viewAll[*User](s.reads.users, cutoff)
}

// userMatches applies ListUsers queries (all must match). The stand-in has machine users only: queries on
// human fields (first, last, nick name, email) match none of them, as their fields are empty in ZITADEL.
func (s *State) userMatches(u *User, queries []*userpb.SearchQuery) bool {
	for _, q := range queries {
		if !s.userMatchesQuery(u, q) {
			return false
		}
	}
	return true
}

func (s *State) userMatchesQuery(u *User, q *userpb.SearchQuery) bool {
	switch {
	case q.GetUserNameQuery() != nil:
		return textMatches(q.GetUserNameQuery().GetMethod(), u.UserName, q.GetUserNameQuery().GetUserName())
	case q.GetLoginNameQuery() != nil:
		for _, name := range u.loginNames(s.orgs[u.OrgID]) {
			if textMatches(q.GetLoginNameQuery().GetMethod(), name, q.GetLoginNameQuery().GetLoginName()) {
				return true
			}
		}
		return false
	case q.GetDisplayNameQuery() != nil:
		return textMatches(q.GetDisplayNameQuery().GetMethod(), u.Name, q.GetDisplayNameQuery().GetDisplayName())
	case q.GetInUserIdsQuery() != nil:
		return containsFold(q.GetInUserIdsQuery().GetUserIds(), u.ID)
	case q.GetStateQuery() != nil:
		return u.State == q.GetStateQuery().GetState()
	case q.GetTypeQuery() != nil:
		return q.GetTypeQuery().GetType() == userpb.Type_TYPE_MACHINE
	case q.GetOrQuery() != nil:
		for _, sub := range q.GetOrQuery().GetQueries() {
			if s.userMatchesQuery(u, sub) {
				return true
			}
		}
		return false
	case q.GetAndQuery() != nil:
		return s.userMatches(u, q.GetAndQuery().GetQueries())
	case q.GetNotQuery() != nil:
		return !s.userMatchesQuery(u, q.GetNotQuery().GetQuery())
	case q.GetFirstNameQuery() != nil, q.GetLastNameQuery() != nil, q.GetNickNameQuery() != nil,
		q.GetEmailQuery() != nil, q.GetInUserEmailsQuery() != nil:
		return false
	}
	return true
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// ListUsers lists the users of the caller's org (x-zitadel-orgid) that match the queries, as the read model
// shows them.
func (m *managementServer) ListUsers(ctx context.Context, req *mgmt.ListUsersRequest) (*mgmt.ListUsersResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	var result []*userpb.User
	for _, u := range m.st.readUsers() {
		if u.OrgID == orgID && m.st.userMatches(u, req.GetQueries()) {
			result = append(result, m.st.userProto(u))
		}
	}
	return &mgmt.ListUsersResponse{Details: m.st.listDetails(len(result)), Result: paginate(result, req.GetQuery())}, nil
}

// ListMachineKeys lists a user's keys (without key material); a user unknown in the caller's org has none.
func (m *managementServer) ListMachineKeys(ctx context.Context, req *mgmt.ListMachineKeysRequest) (*mgmt.ListMachineKeysResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	var result []*authnpb.Key
	if u, err := m.st.readUserInOrg(req.GetUserId(), orgID, "QUERY-Dfbg2"); err == nil {
		for _, k := range u.Keys {
			result = append(result, m.st.keyProto(k, orgID))
		}
	}
	return &mgmt.ListMachineKeysResponse{Details: m.st.listDetails(len(result)), Result: paginate(result, req.GetQuery())}, nil
}
