package standin

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	authnpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authn"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	memberpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/member"
	objpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object"
	orgpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// methodPermissions is the permission each served method needs (ZITADEL's proto auth options).
var methodPermissions = map[string]string{
	"GetIAM":                permAuthenticated,
	"GetMyOrg":              "org.read",
	"GetUserByID":           "user.read",
	"AddMachineUser":        "user.write",
	"UpdateUserName":        "user.write",
	"UpdateMachine":         "user.write",
	"GenerateMachineSecret": "user.write",
	"RemoveUser":            "user.delete",
	"GetMachineKeyByIDs":    "user.read",
	"AddMachineKey":         "user.write",
	"RemoveMachineKey":      "user.write",
	"ListOrgMembers":        "org.member.read",
	"AddOrgMember":          "org.member.write",
	"UpdateOrgMember":       "org.member.write",
	"RemoveOrgMember":       "org.member.delete",
}

type callerKey struct{}

func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// authInterceptor authenticates and authorizes every ManagementService call from its metadata.
func (s *State) authInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	name := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	perm, ok := methodPermissions[name]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "method %s not implemented", name)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	s.mu.Lock()
	c, apiErr := s.authorize(first("authorization"), first("x-zitadel-orgid"), perm)
	s.mu.Unlock()
	if apiErr != nil {
		return nil, apiErr
	}
	return handler(context.WithValue(ctx, callerKey{}, c), req)
}

type managementServer struct {
	mgmt.UnimplementedManagementServiceServer
	st *State
}

func details(seq uint64, created, changed time.Time, owner string) *objpb.ObjectDetails {
	return &objpb.ObjectDetails{Sequence: seq, CreationDate: timestamppb.New(created),
		ChangeDate: timestamppb.New(changed), ResourceOwner: owner}
}

func (s *State) changeDetails(owner string) *objpb.ObjectDetails {
	now := s.now()
	return &objpb.ObjectDetails{Sequence: s.nextSeq(), ChangeDate: timestamppb.New(now), ResourceOwner: owner}
}

func (s *State) userProto(u *User) *userpb.User {
	org := s.orgs[u.OrgID]
	names := u.loginNames(org)
	return &userpb.User{
		Id:                 u.ID,
		Details:            details(u.Sequence, u.Created, u.Changed, u.OrgID),
		State:              u.State,
		UserName:           u.UserName,
		LoginNames:         names,
		PreferredLoginName: names[0],
		Type: &userpb.User_Machine{Machine: &userpb.Machine{Name: u.Name, Description: u.Description,
			HasSecret: u.HasSecret, AccessTokenType: u.AccessTokenType}},
	}
}

func validation(msg string) error { return status.Error(codes.InvalidArgument, msg) }

// userInOrg finds a user of the caller's org; the management API never sees users of other orgs.
func (s *State) userInOrg(id, orgID, errID string) (*User, error) {
	u := s.users[id]
	if u == nil || u.OrgID != orgID {
		return nil, zerr(codes.NotFound, errID, "Errors.User.NotFound")
	}
	return u, nil
}

func (m *managementServer) GetIAM(context.Context, *mgmt.GetIAMRequest) (*mgmt.GetIAMResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	return &mgmt.GetIAMResponse{GlobalOrgId: m.st.DefaultOrgID, IamProjectId: m.st.IAMProjectID, DefaultOrgId: m.st.DefaultOrgID}, nil
}

func (s *State) orgProto(o *Org) *orgpb.Org {
	return &orgpb.Org{Id: o.ID, Details: details(o.Sequence, o.Created, o.Changed, o.ID), State: o.State,
		Name: o.Name, PrimaryDomain: o.PrimaryDomain}
}

func (m *managementServer) GetMyOrg(ctx context.Context, _ *mgmt.GetMyOrgRequest) (*mgmt.GetMyOrgResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	o := m.st.orgs[callerFrom(ctx).OrgID]
	if o == nil {
		return nil, zerr(codes.NotFound, "QUERY-iTTGJ", "Errors.Org.NotFound")
	}
	return &mgmt.GetMyOrgResponse{Org: m.st.orgProto(o)}, nil
}

func (m *managementServer) GetUserByID(ctx context.Context, req *mgmt.GetUserByIDRequest) (*mgmt.GetUserByIDResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	u, err := m.st.userInOrg(req.GetId(), callerFrom(ctx).OrgID, "QUERY-Dfbg2")
	if err != nil {
		return nil, err
	}
	return &mgmt.GetUserByIDResponse{User: m.st.userProto(u)}, nil
}

func (m *managementServer) AddMachineUser(ctx context.Context, req *mgmt.AddMachineUserRequest) (*mgmt.AddMachineUserResponse, error) {
	if n := len([]rune(req.GetUserName())); n < 1 || n > 200 {
		return nil, validation("invalid AddMachineUserRequest.UserName: value length must be between 1 and 200 runes, inclusive")
	}
	if n := len([]rune(req.GetName())); n < 1 || n > 200 {
		return nil, validation("invalid AddMachineUserRequest.Name: value length must be between 1 and 200 runes, inclusive")
	}
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	if m.st.userByName(orgID, req.GetUserName()) != nil {
		return nil, zerr(codes.AlreadyExists, "COMMAND-k2sIe", "Errors.User.AlreadyExisting")
	}
	u := m.st.addMachineUser(orgID, req.GetUserName(), req.GetName(), req.GetDescription(), req.GetAccessTokenType())
	return &mgmt.AddMachineUserResponse{UserId: u.ID, Details: details(u.Sequence, u.Created, u.Changed, orgID)}, nil
}

func (m *managementServer) UpdateUserName(ctx context.Context, req *mgmt.UpdateUserNameRequest) (*mgmt.UpdateUserNameResponse, error) {
	if n := len([]rune(req.GetUserName())); n < 1 || n > 200 {
		return nil, validation("invalid UpdateUserNameRequest.UserName: value length must be between 1 and 200 runes, inclusive")
	}
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	u, err := m.st.userInOrg(req.GetUserId(), orgID, "COMMAND-5N9ds")
	if err != nil {
		return nil, err
	}
	if u.UserName == req.GetUserName() {
		return nil, zerr(codes.FailedPrecondition, "COMMAND-2m8vx", "Errors.User.UsernameNotChanged")
	}
	if other := m.st.userByName(orgID, req.GetUserName()); other != nil && other != u {
		return nil, zerr(codes.AlreadyExists, "COMMAND-42dje", "Errors.User.AlreadyExisting")
	}
	u.UserName = req.GetUserName()
	u.Changed, u.Sequence = m.st.now(), m.st.nextSeq()
	return &mgmt.UpdateUserNameResponse{Details: details(u.Sequence, u.Created, u.Changed, orgID)}, nil
}

func (m *managementServer) UpdateMachine(ctx context.Context, req *mgmt.UpdateMachineRequest) (*mgmt.UpdateMachineResponse, error) {
	if n := len([]rune(req.GetName())); n < 1 || n > 200 {
		return nil, validation("invalid UpdateMachineRequest.Name: value length must be between 1 and 200 runes, inclusive")
	}
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	u, err := m.st.userInOrg(req.GetUserId(), orgID, "COMMAND-5M0od")
	if err != nil {
		return nil, err
	}
	if u.Name == req.GetName() && u.Description == req.GetDescription() && u.AccessTokenType == req.GetAccessTokenType() {
		return nil, zerr(codes.FailedPrecondition, "COMMAND-2n8vs", "Errors.User.NotChanged")
	}
	u.Name, u.Description, u.AccessTokenType = req.GetName(), req.GetDescription(), req.GetAccessTokenType()
	u.Changed, u.Sequence = m.st.now(), m.st.nextSeq()
	return &mgmt.UpdateMachineResponse{Details: details(u.Sequence, u.Created, u.Changed, orgID)}, nil
}

func (m *managementServer) GenerateMachineSecret(ctx context.Context, req *mgmt.GenerateMachineSecretRequest) (*mgmt.GenerateMachineSecretResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	u, err := m.st.userInOrg(req.GetUserId(), orgID, "COMMAND-x8910n")
	if err != nil {
		return nil, err
	}
	u.HasSecret = true
	u.Changed, u.Sequence = m.st.now(), m.st.nextSeq()
	return &mgmt.GenerateMachineSecretResponse{ClientId: u.UserName, ClientSecret: randomToken(),
		Details: details(u.Sequence, u.Created, u.Changed, orgID)}, nil
}

func (m *managementServer) RemoveUser(ctx context.Context, req *mgmt.RemoveUserRequest) (*mgmt.RemoveUserResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	u, err := m.st.userInOrg(req.GetId(), orgID, "COMMAND-m9od5")
	if err != nil {
		return nil, err
	}
	m.st.removeUser(u)
	return &mgmt.RemoveUserResponse{Details: m.st.changeDetails(orgID)}, nil
}

func (s *State) keyProto(k *Key, orgID string) *authnpb.Key {
	return &authnpb.Key{Id: k.ID, Details: details(k.Sequence, k.Created, k.Created, orgID), Type: k.Type,
		ExpirationDate: timestamppb.New(k.Expiration)}
}

func (m *managementServer) GetMachineKeyByIDs(ctx context.Context, req *mgmt.GetMachineKeyByIDsRequest) (*mgmt.GetMachineKeyByIDsResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	notFound := zerr(codes.NotFound, "QUERY-Dgfb4", "Errors.AuthNKey.NotFound")
	u, err := m.st.userInOrg(req.GetUserId(), orgID, "QUERY-Dgfb4")
	if err != nil {
		return nil, notFound
	}
	k := u.key(req.GetKeyId())
	if k == nil {
		return nil, notFound
	}
	return &mgmt.GetMachineKeyByIDsResponse{Key: m.st.keyProto(k, orgID)}, nil
}

func (m *managementServer) AddMachineKey(ctx context.Context, req *mgmt.AddMachineKeyRequest) (*mgmt.AddMachineKeyResponse, error) {
	if req.GetType() == authnpb.KeyType_KEY_TYPE_UNSPECIFIED {
		return nil, validation("invalid AddMachineKeyRequest.Type: value must not be in list [0]")
	}
	var public *rsa.PublicKey
	if len(req.GetPublicKey()) > 0 {
		var err error
		if public, err = parsePublicKey(req.GetPublicKey()); err != nil {
			return nil, zerr(codes.InvalidArgument, "COMMAND-Dbf3w", "Errors.User.Machine.Key.Invalid")
		}
	}
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	u, err := m.st.userInOrg(req.GetUserId(), orgID, "COMMAND-bnipwm1")
	if err != nil {
		return nil, err
	}
	var exp time.Time
	if req.GetExpirationDate() != nil {
		exp = req.GetExpirationDate().AsTime()
		if !exp.After(m.st.now()) {
			return nil, zerr(codes.InvalidArgument, "COMMAND-dv3t5", "Errors.AuthNKey.ExpireBeforeNow")
		}
	}
	k, keyDetails, err := m.st.addKey(u, exp, public)
	if err != nil {
		return nil, zerr(codes.Internal, "COMMAND-Fv6b3", "Errors.Internal")
	}
	return &mgmt.AddMachineKeyResponse{KeyId: k.ID, KeyDetails: keyDetails,
		Details: details(k.Sequence, k.Created, k.Created, orgID)}, nil
}

func parsePublicKey(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, status.Error(codes.InvalidArgument, "no PEM block")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return x509.ParsePKCS1PublicKey(block.Bytes)
	}
	rsaKey, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, status.Error(codes.InvalidArgument, "not an RSA key")
	}
	return rsaKey, nil
}

func (m *managementServer) RemoveMachineKey(ctx context.Context, req *mgmt.RemoveMachineKeyRequest) (*mgmt.RemoveMachineKeyResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	notFound := zerr(codes.NotFound, "COMMAND-4m77G", "Errors.User.Machine.Key.NotFound")
	u, err := m.st.userInOrg(req.GetUserId(), orgID, "COMMAND-4m77G")
	if err != nil {
		return nil, notFound
	}
	if !u.removeKey(req.GetKeyId()) {
		return nil, notFound
	}
	u.Changed = m.st.now()
	return &mgmt.RemoveMachineKeyResponse{Details: m.st.changeDetails(orgID)}, nil
}

func (u *User) removeKey(id string) bool {
	for i, k := range u.Keys {
		if k.ID == id {
			u.Keys = append(u.Keys[:i], u.Keys[i+1:]...)
			return true
		}
	}
	return false
}

func (s *State) memberProto(m *Membership) *memberpb.Member {
	out := &memberpb.Member{UserId: m.UserID, Roles: append([]string(nil), m.Roles...),
		Details: details(m.Sequence, m.Created, m.Changed, s.membershipResourceOwner(m))}
	if u := s.users[m.UserID]; u != nil {
		out.PreferredLoginName = u.loginNames(s.orgs[u.OrgID])[0]
		out.DisplayName = u.Name
		out.UserType = userpb.Type_TYPE_MACHINE // the stand-in has machine users only
	}
	return out
}

func (m *managementServer) ListOrgMembers(ctx context.Context, req *mgmt.ListOrgMembersRequest) (*mgmt.ListOrgMembersResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	var result []*memberpb.Member
	for _, mem := range m.st.memberships {
		if mem.Kind != KindOrg || mem.TargetID != orgID || !memberMatches(mem, req.GetQueries()) {
			continue
		}
		result = append(result, m.st.memberProto(mem))
	}
	total := uint64(len(result))
	result = paginate(result, req.GetQuery())
	return &mgmt.ListOrgMembersResponse{
		Details: &objpb.ListDetails{TotalResult: total, ProcessedSequence: m.st.sequence, ViewTimestamp: timestamppb.New(m.st.now())},
		Result:  result,
	}, nil
}

func memberMatches(m *Membership, queries []*memberpb.SearchQuery) bool {
	for _, q := range queries {
		if uq := q.GetUserIdQuery(); uq != nil && uq.GetUserId() != m.UserID {
			return false
		}
	}
	return true
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

var errMemberInvalid = zerr(codes.InvalidArgument, "Org-4N8es", "Errors.Org.MemberInvalid")

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

func (m *managementServer) AddOrgMember(ctx context.Context, req *mgmt.AddOrgMemberRequest) (*mgmt.AddOrgMemberResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	if !validRoles(KindOrg, req.GetRoles()) {
		return nil, errMemberInvalid
	}
	if m.st.users[req.GetUserId()] == nil {
		return nil, zerr(codes.FailedPrecondition, "ORG-GoXOn", "Errors.User.NotFound")
	}
	if m.st.membership(KindOrg, orgID, req.GetUserId()) != nil {
		return nil, zerr(codes.AlreadyExists, "Org-PtXi1", "Errors.Org.Member.AlreadyExists")
	}
	mem := m.st.addMembership(KindOrg, orgID, req.GetUserId(), req.GetRoles())
	return &mgmt.AddOrgMemberResponse{Details: details(mem.Sequence, mem.Created, mem.Changed, orgID)}, nil
}

func (m *managementServer) UpdateOrgMember(ctx context.Context, req *mgmt.UpdateOrgMemberRequest) (*mgmt.UpdateOrgMemberResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	if !validRoles(KindOrg, req.GetRoles()) {
		return nil, errMemberInvalid
	}
	mem := m.st.membership(KindOrg, orgID, req.GetUserId())
	if mem == nil {
		return nil, zerr(codes.NotFound, "Org-D8JxR", "Errors.Org.Member.NotFound")
	}
	if equalRoles(mem.Roles, req.GetRoles()) {
		return nil, zerr(codes.FailedPrecondition, "Org-LiaZi", "Errors.Org.Member.RolesNotChanged")
	}
	mem.Roles = append([]string(nil), req.GetRoles()...)
	mem.Changed, mem.Sequence = m.st.now(), m.st.nextSeq()
	return &mgmt.UpdateOrgMemberResponse{Details: details(mem.Sequence, mem.Created, mem.Changed, orgID)}, nil
}

func equalRoles(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, r := range a {
		seen[r]++
	}
	for _, r := range b {
		seen[r]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func (m *managementServer) RemoveOrgMember(ctx context.Context, req *mgmt.RemoveOrgMemberRequest) (*mgmt.RemoveOrgMemberResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	orgID := callerFrom(ctx).OrgID
	mem := m.st.membership(KindOrg, orgID, req.GetUserId())
	if mem == nil {
		return nil, zerr(codes.NotFound, "Org-D8JxR", "Errors.Org.Member.NotFound")
	}
	m.st.removeMembership(mem)
	return &mgmt.RemoveOrgMemberResponse{Details: m.st.changeDetails(orgID)}, nil
}
