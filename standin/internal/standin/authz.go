package standin

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

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
	// errNoContextPermission: the permission is granted only on other projects or grants than the request's.
	errNoContextPermission = zerr(codes.PermissionDenied, "AUTH-3jknH", "No matching permissions found")
)

// permAuthenticated marks calls that need a valid ZITADEL-audience token and nothing else.
const permAuthenticated = "authenticated"

// requirement is what a call needs, as ZITADEL's auth option on the method says: a permission and, for some
// methods, the request field (check_field_name) whose id a permission granted only on a project or project
// grant must be for. CheckID is that field's value in the request at hand.
type requirement struct {
	Permission string
	CheckField protoreflect.Name
	CheckID    string
}

// caller is who a verified API request acts as, and in which org.
type caller struct {
	User  *User
	OrgID string
	Token *AccessToken
}

// authorize checks a request the way ZITADEL's API interceptors do: bearer token, instance project in the
// audience, org context (x-zitadel-orgid, else the user's own org), then memberships and the permission.
// The caller holds s.mu.
func (s *State) authorize(authHeader, orgHeader string, req requirement) (*caller, *apiError) {
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
	if req.Permission == permAuthenticated {
		return c, nil
	}
	if err := s.checkPermission(u.ID, orgID, req); err != nil {
		return nil, err
	}
	return c, nil
}

// checkPermission is ZITADEL's permission check: the memberships that apply in the org context must grant the
// permission; a method with a check field also needs it globally (instance or org membership) or on exactly
// the project or grant the request names.
func (s *State) checkPermission(userID, orgID string, req requirement) *apiError {
	contexts, found := s.permissionContexts(userID, orgID, req.Permission)
	switch {
	case !found:
		return errNoMembership
	case len(contexts) == 0:
		return errNoPermission
	case req.CheckField != "" && !slices.Contains(contexts, "") && !slices.Contains(contexts, req.CheckID):
		return errNoContextPermission
	}
	return nil
}

// permissionContexts lists where the user's visible memberships in the org context grant permission: ""
// for a global grant (instance or org membership), else the project or grant id the membership is on (or the
// context a role mapping names, like project.read:self). found says whether any membership applies at all.
func (s *State) permissionContexts(userID, orgID, permission string) (contexts []string, found bool) {
	for _, m := range s.visibleMemberships(userID) {
		if !s.appliesIn(m, orgID) {
			continue
		}
		found = true
		for _, p := range permissionsOf(m.Roles) {
			name, ctxID, _ := strings.Cut(p, ":")
			if name != permission {
				continue
			}
			if m.Kind == KindProject || m.Kind == KindProjectGrant {
				ctxID = m.TargetID
			}
			contexts = append(contexts, ctxID)
		}
	}
	return contexts, found
}

// appliesIn says whether a membership counts in an org context, as ZITADEL's membership search for
// permission checks selects them: instance memberships always, others by their resource owner, project grant
// memberships also in the granted org.
func (s *State) appliesIn(m *Membership, orgID string) bool {
	switch m.Kind {
	case KindIAM:
		return true
	case KindProjectGrant:
		return s.membershipOrg(m) == orgID || s.membershipResourceOwner(m) == orgID
	}
	return s.membershipOrg(m) == orgID
}

// rolesInContext collects the roles of the user's visible memberships that apply in the org context.
func (s *State) rolesInContext(userID, orgID string) ([]string, bool) {
	var roles []string
	found := false
	for _, m := range s.visibleMemberships(userID) {
		if s.appliesIn(m, orgID) {
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
