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
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	authnpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authn"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	objpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// methodAuth is the requirement of every served method, keyed by its full gRPC path: ZITADEL's auth option
// on the method (permission and check field; TestMethodAuthMatchesZitadelProtos compares them with the
// options in zitadel-go's descriptors). A method missing here answers Unimplemented.
var methodAuth = map[string]requirement{
	mgmt.ManagementService_GetIAM_FullMethodName:                   {Permission: permAuthenticated},
	mgmt.ManagementService_GetMyOrg_FullMethodName:                 {Permission: "org.read"},
	mgmt.ManagementService_AddOrg_FullMethodName:                   {Permission: "org.create"},
	mgmt.ManagementService_UpdateOrg_FullMethodName:                {Permission: "org.write"},
	mgmt.ManagementService_GetUserByID_FullMethodName:              {Permission: "user.read"},
	mgmt.ManagementService_AddMachineUser_FullMethodName:           {Permission: "user.write"},
	mgmt.ManagementService_UpdateUserName_FullMethodName:           {Permission: "user.write"},
	mgmt.ManagementService_UpdateMachine_FullMethodName:            {Permission: "user.write"},
	mgmt.ManagementService_GenerateMachineSecret_FullMethodName:    {Permission: "user.write"},
	mgmt.ManagementService_RemoveUser_FullMethodName:               {Permission: "user.delete"},
	mgmt.ManagementService_GetMachineKeyByIDs_FullMethodName:       {Permission: "user.read"},
	mgmt.ManagementService_AddMachineKey_FullMethodName:            {Permission: "user.write"},
	mgmt.ManagementService_RemoveMachineKey_FullMethodName:         {Permission: "user.write"},
	mgmt.ManagementService_ListOrgMembers_FullMethodName:           {Permission: "org.member.read"},
	mgmt.ManagementService_AddOrgMember_FullMethodName:             {Permission: "org.member.write"},
	mgmt.ManagementService_UpdateOrgMember_FullMethodName:          {Permission: "org.member.write"},
	mgmt.ManagementService_RemoveOrgMember_FullMethodName:          {Permission: "org.member.delete"},
	mgmt.ManagementService_ListProjectMembers_FullMethodName:       {Permission: "project.member.read", CheckField: "project_id"},
	mgmt.ManagementService_AddProjectMember_FullMethodName:         {Permission: "project.member.write", CheckField: "project_id"},
	mgmt.ManagementService_UpdateProjectMember_FullMethodName:      {Permission: "project.member.write", CheckField: "project_id"},
	mgmt.ManagementService_RemoveProjectMember_FullMethodName:      {Permission: "project.member.delete", CheckField: "project_id"},
	mgmt.ManagementService_ListProjectGrantMembers_FullMethodName:  {Permission: "project.grant.member.read"},
	mgmt.ManagementService_AddProjectGrantMember_FullMethodName:    {Permission: "project.grant.member.write"},
	mgmt.ManagementService_UpdateProjectGrantMember_FullMethodName: {Permission: "project.grant.member.write"},
	mgmt.ManagementService_RemoveProjectGrantMember_FullMethodName: {Permission: "project.grant.member.delete"},
	admin.AdminService_GetOrgByID_FullMethodName:                   {Permission: "iam.read"},
	admin.AdminService_ListOrgs_FullMethodName:                     {Permission: "iam.read"},
	admin.AdminService_GetDefaultOrg_FullMethodName:                {Permission: "iam.read"},
	admin.AdminService_SetDefaultOrg_FullMethodName:                {Permission: "iam.write"},
	admin.AdminService_RemoveOrg_FullMethodName:                    {Permission: "iam.write"},
	admin.AdminService_ListIAMMembers_FullMethodName:               {Permission: "iam.member.read"},
	admin.AdminService_AddIAMMember_FullMethodName:                 {Permission: "iam.member.write"},
	admin.AdminService_UpdateIAMMember_FullMethodName:              {Permission: "iam.member.write"},
	admin.AdminService_RemoveIAMMember_FullMethodName:              {Permission: "iam.member.delete"},
}

type callerKey struct{}

func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// authInterceptor authenticates and authorizes every ManagementService and AdminService call from its
// metadata, then validates the request, in ZITADEL's interceptor order. Around that: an injected fault
// (faults.go) comes first, as a proxy or rate limiter would answer; a call whose client has given up by then
// is not served; after the handler the change is committed (read model, state file) before the answer
// leaves; a fault for after the handler then replaces the answer.
func (s *State) authInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	fault, err := grpcFault(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.authorizeAndServe(ctx, req, info, handler)
	if fault != nil && fault.After {
		return nil, faultStatus(fault).Err()
	}
	return resp, err
}

func (s *State) authorizeAndServe(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	need, ok := methodAuth[info.FullMethod]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "method %s not implemented", info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:])
	}
	if need.CheckField != "" {
		need.CheckID = stringField(req, need.CheckField)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	s.mu.Lock()
	c, apiErr := s.authorize(first("authorization"), first("x-zitadel-orgid"), need)
	s.mu.Unlock()
	if apiErr != nil {
		return nil, apiErr
	}
	if err := validateRequest(req); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	resp, err := handler(context.WithValue(ctx, callerKey{}, c), req)
	s.mu.Lock()
	s.commit()
	s.mu.Unlock()
	return resp, err
}

// stringField reads a request's string field by its proto name ("" when it has none).
func stringField(req any, name protoreflect.Name) string {
	m, ok := req.(proto.Message)
	if !ok {
		return ""
	}
	msg := m.ProtoReflect()
	fd := msg.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.StringKind {
		return ""
	}
	return msg.Get(fd).String()
}

type managementServer struct {
	mgmt.UnimplementedManagementServiceServer
	st *State
}

type adminServer struct {
	admin.UnimplementedAdminServiceServer
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

// readUserInOrg is userInOrg for the management API's reads, which see the read model (readmodel.go).
func (s *State) readUserInOrg(id, orgID, errID string) (*User, error) {
	u := s.readUser(id)
	if u == nil || u.OrgID != orgID {
		return nil, zerr(codes.NotFound, errID, "Errors.User.NotFound")
	}
	return u, nil
}

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

func (m *managementServer) GetMyOrg(ctx context.Context, _ *mgmt.GetMyOrgRequest) (*mgmt.GetMyOrgResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	o := m.st.orgs[callerFrom(ctx).OrgID]
	if o == nil {
		return nil, errOrgNotFound
	}
	return &mgmt.GetMyOrgResponse{Org: m.st.orgProto(o)}, nil
}

func (m *managementServer) GetUserByID(ctx context.Context, req *mgmt.GetUserByIDRequest) (*mgmt.GetUserByIDResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	u, err := m.st.readUserInOrg(req.GetId(), callerFrom(ctx).OrgID, "QUERY-Dfbg2")
	if err != nil {
		return nil, err
	}
	return &mgmt.GetUserByIDResponse{User: m.st.userProto(u)}, nil
}

func (m *managementServer) AddMachineUser(ctx context.Context, req *mgmt.AddMachineUserRequest) (*mgmt.AddMachineUserResponse, error) {
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
	u, err := m.st.readUserInOrg(req.GetUserId(), orgID, "QUERY-Dgfb4")
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
