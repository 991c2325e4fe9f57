package standin

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	msgpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/message"
	orgpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// apiError is a ZITADEL error: a gRPC code, an error id and a message key. On the wire (gRPC status and
// grpc-gateway body alike) the message reads "<key> (<id>)" and a zitadel.v1.ErrorDetail carries both.
type apiError struct {
	Code codes.Code
	ID   string
	Key  string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%s)", e.Key, e.ID) }

func (e *apiError) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Error())
	if withDetails, err := st.WithDetails(&msgpb.ErrorDetail{Id: e.ID, Message: e.Key}); err == nil {
		return withDetails
	}
	return st
}

func zerr(code codes.Code, id, key string) *apiError { return &apiError{Code: code, ID: id, Key: key} }

var (
	errAuthHeaderMissing = zerr(codes.Unauthenticated, "AUTH-7mN0x", "auth header missing")
	errTokenInvalidAPI   = zerr(codes.Unauthenticated, "AUTH-7fs1e", "Errors.Token.Invalid")
	errOrgNotExisting    = zerr(codes.PermissionDenied, "AUTH-Bs7Ds", "Organisation doesn't exist")
	errNoMembership      = zerr(codes.NotFound, "AUTHZ-cdgFk", "membership not found")
	errNoPermission      = zerr(codes.PermissionDenied, "AUTH-5mWD2", "No matching permissions found")
)

// permAuthenticated marks calls that need a valid ZITADEL-audience token and nothing else.
const permAuthenticated = "authenticated"

// caller is who a verified API request acts as, and in which org.
type caller struct {
	User  *User
	OrgID string
	Token *AccessToken
}

// authorize checks a request the way ZITADEL's API interceptors do: bearer token, instance project in the
// audience, org context (x-zitadel-orgid, else the user's own org), then memberships and the permission.
// The caller holds s.mu.
func (s *State) authorize(authHeader, orgHeader, permission string) (*caller, *apiError) {
	if authHeader == "" {
		return nil, errAuthHeaderMissing
	}
	scheme, raw, ok := strings.Cut(authHeader, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || raw == "" {
		return nil, errTokenInvalidAPI
	}
	t, err := s.lookupToken(strings.TrimSpace(raw))
	if err != nil || !slices.Contains(t.Audience, s.IAMProjectID) {
		return nil, errTokenInvalidAPI
	}
	u := s.users[t.UserID]
	if u == nil || u.State != userpb.UserState_USER_STATE_ACTIVE {
		return nil, errTokenInvalidAPI
	}
	orgID := orgHeader
	if orgID == "" {
		orgID = u.OrgID
	}
	if o := s.orgs[orgID]; o == nil || o.State != orgpb.OrgState_ORG_STATE_ACTIVE {
		return nil, errOrgNotExisting
	}
	c := &caller{User: u, OrgID: orgID, Token: t}
	if permission == permAuthenticated {
		return c, nil
	}
	roles, found := s.rolesInContext(u.ID, orgID)
	if !found {
		return nil, errNoMembership
	}
	if !slices.Contains(permissionsOf(roles), permission) {
		return nil, errNoPermission
	}
	return c, nil
}

// rolesInContext collects the roles of the user's visible memberships that apply in org: the instance
// membership, the org membership and memberships on projects and grants in that org.
func (s *State) rolesInContext(userID, orgID string) ([]string, bool) {
	var roles []string
	found := false
	for _, m := range s.visibleMemberships(userID) {
		if m.Kind == KindIAM || s.membershipOrg(m) == orgID {
			found = true
			roles = append(roles, m.Roles...)
		}
	}
	return roles, found
}

// codeFromHTTPStatus maps an injected fault's HTTP status to a gRPC code (the reverse of grpc-gateway's
// runtime.HTTPStatusFromCode, which the REST side uses) for faults injected on gRPC paths.
func codeFromHTTPStatus(st int) codes.Code {
	switch st {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusConflict:
		return codes.AlreadyExists
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	}
	return codes.Internal
}
