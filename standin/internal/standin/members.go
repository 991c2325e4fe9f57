package standin

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	memberpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/member"
	objpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// memberKind is what differs between ZITADEL's four kinds of manager membership: which roles they take and
// the error ids and keys of their commands (ZITADEL v2.5x, internal/command/{instance,org,project,
// project_grant}_member.go, which the provider v1.2.0 era talks to).
type memberKind struct {
	kind          string
	invalid       *apiError // adding with no roles or a role of another kind
	invalidUpdate *apiError // the same on update
	userMissing   *apiError // adding a user that does not exist
	exists        *apiError // adding a member twice
	missing       *apiError // updating a non-member
	unchanged     *apiError // updating to the same roles
	// strictRemove: removing a non-member fails with missing. ZITADEL does this for project grants only;
	// for the others the removal succeeds with empty details.
	strictRemove bool
}

var (
	iamMembers = &memberKind{
		kind:          KindIAM,
		invalid:       zerr(codes.InvalidArgument, "INSTANCE-4m0fS", "Errors.IAM.MemberInvalid"),
		invalidUpdate: zerr(codes.InvalidArgument, "INSTANCE-3m9fs", "Errors.IAM.MemberInvalid"),
		userMissing:   zerr(codes.FailedPrecondition, "INSTA-GSXOn", "Errors.User.NotFound"),
		exists:        zerr(codes.AlreadyExists, "INSTA-pFDwe", "Errors.Instance.Member.AlreadyExists"),
		missing:       zerr(codes.NotFound, "INSTANCE-D8JxR", "Errors.NotFound"),
		unchanged:     zerr(codes.FailedPrecondition, "INSTANCE-LiaZi", "Errors.IAM.Member.RolesNotChanged"),
	}
	orgMembers = &memberKind{
		kind:          KindOrg,
		invalid:       zerr(codes.InvalidArgument, "Org-4N8es", "Errors.Org.MemberInvalid"),
		invalidUpdate: zerr(codes.InvalidArgument, "IAM-m9fG8", "Errors.Org.MemberInvalid"),
		userMissing:   zerr(codes.FailedPrecondition, "ORG-GoXOn", "Errors.User.NotFound"),
		exists:        zerr(codes.AlreadyExists, "ORG-poWwe", "Errors.Org.Member.AlreadyExists"),
		missing:       zerr(codes.NotFound, "Org-D8JxR", "Errors.NotFound"),
		unchanged:     zerr(codes.FailedPrecondition, "Org-LiaZi", "Errors.Org.Member.RolesNotChanged"),
	}
	projectMembers = &memberKind{
		kind:          KindProject,
		invalid:       zerr(codes.InvalidArgument, "PROJECT-3m9ds", "Errors.Project.Member.Invalid"),
		invalidUpdate: zerr(codes.InvalidArgument, "PROJECT-3m9d", "Errors.Project.Member.Invalid"),
		userMissing:   zerr(codes.FailedPrecondition, "COMMAND-uXHNj", "Errors.User.NotFound"),
		exists:        zerr(codes.AlreadyExists, "PROJECT-PtXi1", "Errors.Project.Member.AlreadyExists"),
		missing:       zerr(codes.NotFound, "PROJECT-D8JxR", "Errors.NotFound"),
		unchanged:     zerr(codes.FailedPrecondition, "PROJECT-LiaZi", "Errors.Project.Member.RolesNotChanged"),
	}
	grantMembers = &memberKind{
		kind:          KindProjectGrant,
		invalid:       zerr(codes.InvalidArgument, "PROJECT-m9gKK", "Errors.Project.Grant.Member.Invalid"),
		invalidUpdate: zerr(codes.InvalidArgument, "PROJECT-m0sDf", "Errors.Project.Member.Invalid"),
		userMissing:   zerr(codes.FailedPrecondition, "COMMAND-uXHNj", "Errors.User.NotFound"),
		// ZITADEL has no check of its own here: the event store's unique constraint answers.
		exists:       zerr(codes.AlreadyExists, "V3-DKcYh", "Errors.Project.Member.AlreadyExists"),
		missing:      zerr(codes.NotFound, "PROJECT-37fug", "Errors.NotFound"),
		unchanged:    zerr(codes.FailedPrecondition, "PROJECT-2n8vx", "Errors.Project.Member.RolesNotChanged"),
		strictRemove: true,
	}

	errProjectNotFound = zerr(codes.NotFound, "PROJECT-Gd2hh", "Errors.Project.NotFound")
	errGrantNotFound   = zerr(codes.NotFound, "PROJECT-D8JxR", "Errors.Project.Grant.NotFound")
)

// memberTarget is the instance, org, project or project grant whose members a call manages.
type memberTarget struct {
	*memberKind
	id string // the TargetID of its memberships
}

// findTarget resolves a call's target in the caller's org context; the caller holds s.mu.
type findTarget func(s *State, orgID string) (memberTarget, error)

func instanceTarget(s *State, _ string) (memberTarget, error) {
	return memberTarget{iamMembers, s.InstanceID}, nil
}

func orgTarget(_ *State, orgID string) (memberTarget, error) {
	return memberTarget{orgMembers, orgID}, nil
}

// projectTarget is a project of the caller's org.
func projectTarget(projectID string) findTarget {
	return func(s *State, orgID string) (memberTarget, error) {
		if p := s.projects[projectID]; p != nil && p.OrgID == orgID {
			return memberTarget{projectMembers, projectID}, nil
		}
		return memberTarget{}, errProjectNotFound
	}
}

// grantTarget is a grant of the project, seen from the project's org or from the granted org.
func grantTarget(projectID, grantID string) findTarget {
	return func(s *State, orgID string) (memberTarget, error) {
		g := s.grants[grantID]
		if g != nil && g.ProjectID == projectID && (g.GrantedOrgID == orgID || s.projectOrg(projectID) == orgID) {
			return memberTarget{grantMembers, grantID}, nil
		}
		return memberTarget{}, errGrantNotFound
	}
}

func (s *State) projectOrg(projectID string) string {
	if p := s.projects[projectID]; p != nil {
		return p.OrgID
	}
	return ""
}

// addMember makes the user a member of the target, in ZITADEL's order of checks: roles, user, duplicate.
func (s *State) addMember(ctx context.Context, find findTarget, userID string, roles []string) (*objpb.ObjectDetails, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := find(s, callerFrom(ctx).OrgID)
	switch {
	case err != nil:
		return nil, err
	case !validRoles(t.kind, roles):
		return nil, t.invalid
	case s.users[userID] == nil:
		return nil, t.userMissing
	case s.membership(t.kind, t.id, userID) != nil:
		return nil, t.exists
	}
	m := s.addMembership(t.kind, t.id, userID, roles)
	return details(m.Sequence, m.Created, m.Changed, s.membershipResourceOwner(m)), nil
}

// updateMember replaces a member's roles.
func (s *State) updateMember(ctx context.Context, find findTarget, userID string, roles []string) (*objpb.ObjectDetails, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := find(s, callerFrom(ctx).OrgID)
	if err != nil {
		return nil, err
	}
	if !validRoles(t.kind, roles) {
		return nil, t.invalidUpdate
	}
	m := s.membership(t.kind, t.id, userID)
	switch {
	case m == nil:
		return nil, t.missing
	case equalRoles(m.Roles, roles):
		return nil, t.unchanged
	}
	m.Roles = slices.Clone(roles)
	m.Changed, m.Sequence = s.now(), s.nextSeq()
	return details(m.Sequence, m.Created, m.Changed, s.membershipResourceOwner(m)), nil
}

// removeMember ends a membership; removing a non-member succeeds without a change unless the kind is strict.
func (s *State) removeMember(ctx context.Context, find findTarget, userID string) (*objpb.ObjectDetails, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := find(s, callerFrom(ctx).OrgID)
	if err != nil {
		return nil, err
	}
	m := s.membership(t.kind, t.id, userID)
	switch {
	case m != nil:
		owner := s.membershipResourceOwner(m)
		s.removeMembership(m)
		return s.changeDetails(owner), nil
	case t.strictRemove:
		return nil, t.missing
	}
	return &objpb.ObjectDetails{}, nil
}

// listMembers lists the target's members that match all queries, as the read model shows them; an unknown
// target has none.
func (s *State) listMembers(ctx context.Context, find findTarget, queries []*memberpb.SearchQuery, q *objpb.ListQuery) (*objpb.ListDetails, []*memberpb.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var result []*memberpb.Member
	if t, err := find(s, callerFrom(ctx).OrgID); err == nil {
		for _, m := range s.readMemberships() {
			if m.Kind == t.kind && m.TargetID == t.id && memberMatches(m, queries) {
				result = append(result, s.memberProto(m))
			}
		}
	}
	return s.listDetails(len(result)), paginate(result, q)
}

func (s *State) memberProto(m *Membership) *memberpb.Member {
	out := &memberpb.Member{UserId: m.UserID, Roles: slices.Clone(m.Roles),
		Details: details(m.Sequence, m.Created, m.Changed, s.membershipResourceOwner(m))}
	u := s.readUser(m.UserID)
	if u == nil {
		u = s.users[m.UserID]
	}
	if u != nil {
		out.PreferredLoginName = u.loginNames(s.orgs[u.OrgID])[0]
		out.DisplayName = u.Name
		out.UserType = userpb.Type_TYPE_MACHINE // the stand-in has machine users only
	}
	return out
}

// memberMatches applies the user id queries (the provider's); queries on human fields match every member.
func memberMatches(m *Membership, queries []*memberpb.SearchQuery) bool {
	for _, q := range queries {
		if uq := q.GetUserIdQuery(); uq != nil && uq.GetUserId() != m.UserID {
			return false
		}
	}
	return true
}

func (s *State) listDetails(total int) *objpb.ListDetails {
	return &objpb.ListDetails{TotalResult: uint64(total), ProcessedSequence: s.sequence, ViewTimestamp: timestamppb.New(s.now())}
}

func paginate[T any](items []T, q *objpb.ListQuery) []T {
	if q == nil {
		return items
	}
	if off := q.GetOffset(); off > 0 {
		if off >= uint64(len(items)) {
			return nil
		}
		items = items[off:]
	}
	if l := q.GetLimit(); l > 0 && int(l) < len(items) {
		items = items[:l]
	}
	return items
}

func validRoles(kind string, roles []string) bool {
	if len(roles) == 0 {
		return false
	}
	for _, r := range roles {
		if !validRole(kind, r) {
			return false
		}
	}
	return true
}

// equalRoles compares role lists as sets with multiplicity (ZITADEL compares them in order).
func equalRoles(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// The member RPCs: one line of target per kind, the rest is shared.

func (a *adminServer) ListIAMMembers(ctx context.Context, req *admin.ListIAMMembersRequest) (*admin.ListIAMMembersResponse, error) {
	d, result := a.st.listMembers(ctx, instanceTarget, req.GetQueries(), req.GetQuery())
	return &admin.ListIAMMembersResponse{Details: d, Result: result}, nil
}

func (a *adminServer) AddIAMMember(ctx context.Context, req *admin.AddIAMMemberRequest) (*admin.AddIAMMemberResponse, error) {
	d, err := a.st.addMember(ctx, instanceTarget, req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &admin.AddIAMMemberResponse{Details: d}, nil
}

func (a *adminServer) UpdateIAMMember(ctx context.Context, req *admin.UpdateIAMMemberRequest) (*admin.UpdateIAMMemberResponse, error) {
	d, err := a.st.updateMember(ctx, instanceTarget, req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &admin.UpdateIAMMemberResponse{Details: d}, nil
}

func (a *adminServer) RemoveIAMMember(ctx context.Context, req *admin.RemoveIAMMemberRequest) (*admin.RemoveIAMMemberResponse, error) {
	d, err := a.st.removeMember(ctx, instanceTarget, req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &admin.RemoveIAMMemberResponse{Details: d}, nil
}

func (m *managementServer) ListOrgMembers(ctx context.Context, req *mgmt.ListOrgMembersRequest) (*mgmt.ListOrgMembersResponse, error) {
	d, result := m.st.listMembers(ctx, orgTarget, req.GetQueries(), req.GetQuery())
	return &mgmt.ListOrgMembersResponse{Details: d, Result: result}, nil
}

func (m *managementServer) AddOrgMember(ctx context.Context, req *mgmt.AddOrgMemberRequest) (*mgmt.AddOrgMemberResponse, error) {
	d, err := m.st.addMember(ctx, orgTarget, req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &mgmt.AddOrgMemberResponse{Details: d}, nil
}

func (m *managementServer) UpdateOrgMember(ctx context.Context, req *mgmt.UpdateOrgMemberRequest) (*mgmt.UpdateOrgMemberResponse, error) {
	d, err := m.st.updateMember(ctx, orgTarget, req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &mgmt.UpdateOrgMemberResponse{Details: d}, nil
}

func (m *managementServer) RemoveOrgMember(ctx context.Context, req *mgmt.RemoveOrgMemberRequest) (*mgmt.RemoveOrgMemberResponse, error) {
	d, err := m.st.removeMember(ctx, orgTarget, req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &mgmt.RemoveOrgMemberResponse{Details: d}, nil
}

func (m *managementServer) ListProjectMembers(ctx context.Context, req *mgmt.ListProjectMembersRequest) (*mgmt.ListProjectMembersResponse, error) {
	d, result := m.st.listMembers(ctx, projectTarget(req.GetProjectId()), req.GetQueries(), req.GetQuery())
	return &mgmt.ListProjectMembersResponse{Details: d, Result: result}, nil
}

func (m *managementServer) AddProjectMember(ctx context.Context, req *mgmt.AddProjectMemberRequest) (*mgmt.AddProjectMemberResponse, error) {
	d, err := m.st.addMember(ctx, projectTarget(req.GetProjectId()), req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &mgmt.AddProjectMemberResponse{Details: d}, nil
}

func (m *managementServer) UpdateProjectMember(ctx context.Context, req *mgmt.UpdateProjectMemberRequest) (*mgmt.UpdateProjectMemberResponse, error) {
	d, err := m.st.updateMember(ctx, projectTarget(req.GetProjectId()), req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &mgmt.UpdateProjectMemberResponse{Details: d}, nil
}

func (m *managementServer) RemoveProjectMember(ctx context.Context, req *mgmt.RemoveProjectMemberRequest) (*mgmt.RemoveProjectMemberResponse, error) {
	d, err := m.st.removeMember(ctx, projectTarget(req.GetProjectId()), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &mgmt.RemoveProjectMemberResponse{Details: d}, nil
}

func (m *managementServer) ListProjectGrantMembers(ctx context.Context, req *mgmt.ListProjectGrantMembersRequest) (*mgmt.ListProjectGrantMembersResponse, error) {
	d, result := m.st.listMembers(ctx, grantTarget(req.GetProjectId(), req.GetGrantId()), req.GetQueries(), req.GetQuery())
	return &mgmt.ListProjectGrantMembersResponse{Details: d, Result: result}, nil
}

func (m *managementServer) AddProjectGrantMember(ctx context.Context, req *mgmt.AddProjectGrantMemberRequest) (*mgmt.AddProjectGrantMemberResponse, error) {
	d, err := m.st.addMember(ctx, grantTarget(req.GetProjectId(), req.GetGrantId()), req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &mgmt.AddProjectGrantMemberResponse{Details: d}, nil
}

func (m *managementServer) UpdateProjectGrantMember(ctx context.Context, req *mgmt.UpdateProjectGrantMemberRequest) (*mgmt.UpdateProjectGrantMemberResponse, error) {
	d, err := m.st.updateMember(ctx, grantTarget(req.GetProjectId(), req.GetGrantId()), req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &mgmt.UpdateProjectGrantMemberResponse{Details: d}, nil
}

func (m *managementServer) RemoveProjectGrantMember(ctx context.Context, req *mgmt.RemoveProjectGrantMemberRequest) (*mgmt.RemoveProjectGrantMemberResponse, error) {
	d, err := m.st.removeMember(ctx, grantTarget(req.GetProjectId(), req.GetGrantId()), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &mgmt.RemoveProjectGrantMemberResponse{Details: d}, nil
}
