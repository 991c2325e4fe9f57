// Hand-written gRPC glue for the ManagementService subset in proto/zitadel/management.proto, in the shape
// protoc-gen-go-grpc produces (server interface, Unimplemented embeddable, ServiceDesc). Kept by hand so that
// regenerating needs no protoc plugin; the method paths are what ZITADEL's clients call.
package zpb

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const ManagementServiceName = "zitadel.management.v1.ManagementService"

// ManagementServiceServer is the server API for the served subset of ZITADEL's ManagementService.
type ManagementServiceServer interface {
	GetIAM(context.Context, *GetIAMRequest) (*GetIAMResponse, error)
	GetMyOrg(context.Context, *GetMyOrgRequest) (*GetMyOrgResponse, error)
	GetUserByID(context.Context, *GetUserByIDRequest) (*GetUserByIDResponse, error)
	AddMachineUser(context.Context, *AddMachineUserRequest) (*AddMachineUserResponse, error)
	UpdateUserName(context.Context, *UpdateUserNameRequest) (*UpdateUserNameResponse, error)
	UpdateMachine(context.Context, *UpdateMachineRequest) (*UpdateMachineResponse, error)
	GenerateMachineSecret(context.Context, *GenerateMachineSecretRequest) (*GenerateMachineSecretResponse, error)
	RemoveUser(context.Context, *RemoveUserRequest) (*RemoveUserResponse, error)
	GetMachineKeyByIDs(context.Context, *GetMachineKeyByIDsRequest) (*GetMachineKeyByIDsResponse, error)
	AddMachineKey(context.Context, *AddMachineKeyRequest) (*AddMachineKeyResponse, error)
	RemoveMachineKey(context.Context, *RemoveMachineKeyRequest) (*RemoveMachineKeyResponse, error)
	ListOrgMembers(context.Context, *ListOrgMembersRequest) (*ListOrgMembersResponse, error)
	AddOrgMember(context.Context, *AddOrgMemberRequest) (*AddOrgMemberResponse, error)
	UpdateOrgMember(context.Context, *UpdateOrgMemberRequest) (*UpdateOrgMemberResponse, error)
	RemoveOrgMember(context.Context, *RemoveOrgMemberRequest) (*RemoveOrgMemberResponse, error)
}

// UnimplementedManagementServiceServer answers Unimplemented for every method; embed it.
type UnimplementedManagementServiceServer struct{}

func unimplemented(method string) error {
	return status.Errorf(codes.Unimplemented, "method %s not implemented", method)
}

func (UnimplementedManagementServiceServer) GetIAM(context.Context, *GetIAMRequest) (*GetIAMResponse, error) {
	return nil, unimplemented("GetIAM")
}
func (UnimplementedManagementServiceServer) GetMyOrg(context.Context, *GetMyOrgRequest) (*GetMyOrgResponse, error) {
	return nil, unimplemented("GetMyOrg")
}
func (UnimplementedManagementServiceServer) GetUserByID(context.Context, *GetUserByIDRequest) (*GetUserByIDResponse, error) {
	return nil, unimplemented("GetUserByID")
}
func (UnimplementedManagementServiceServer) AddMachineUser(context.Context, *AddMachineUserRequest) (*AddMachineUserResponse, error) {
	return nil, unimplemented("AddMachineUser")
}
func (UnimplementedManagementServiceServer) UpdateUserName(context.Context, *UpdateUserNameRequest) (*UpdateUserNameResponse, error) {
	return nil, unimplemented("UpdateUserName")
}
func (UnimplementedManagementServiceServer) UpdateMachine(context.Context, *UpdateMachineRequest) (*UpdateMachineResponse, error) {
	return nil, unimplemented("UpdateMachine")
}
func (UnimplementedManagementServiceServer) GenerateMachineSecret(context.Context, *GenerateMachineSecretRequest) (*GenerateMachineSecretResponse, error) {
	return nil, unimplemented("GenerateMachineSecret")
}
func (UnimplementedManagementServiceServer) RemoveUser(context.Context, *RemoveUserRequest) (*RemoveUserResponse, error) {
	return nil, unimplemented("RemoveUser")
}
func (UnimplementedManagementServiceServer) GetMachineKeyByIDs(context.Context, *GetMachineKeyByIDsRequest) (*GetMachineKeyByIDsResponse, error) {
	return nil, unimplemented("GetMachineKeyByIDs")
}
func (UnimplementedManagementServiceServer) AddMachineKey(context.Context, *AddMachineKeyRequest) (*AddMachineKeyResponse, error) {
	return nil, unimplemented("AddMachineKey")
}
func (UnimplementedManagementServiceServer) RemoveMachineKey(context.Context, *RemoveMachineKeyRequest) (*RemoveMachineKeyResponse, error) {
	return nil, unimplemented("RemoveMachineKey")
}
func (UnimplementedManagementServiceServer) ListOrgMembers(context.Context, *ListOrgMembersRequest) (*ListOrgMembersResponse, error) {
	return nil, unimplemented("ListOrgMembers")
}
func (UnimplementedManagementServiceServer) AddOrgMember(context.Context, *AddOrgMemberRequest) (*AddOrgMemberResponse, error) {
	return nil, unimplemented("AddOrgMember")
}
func (UnimplementedManagementServiceServer) UpdateOrgMember(context.Context, *UpdateOrgMemberRequest) (*UpdateOrgMemberResponse, error) {
	return nil, unimplemented("UpdateOrgMember")
}
func (UnimplementedManagementServiceServer) RemoveOrgMember(context.Context, *RemoveOrgMemberRequest) (*RemoveOrgMemberResponse, error) {
	return nil, unimplemented("RemoveOrgMember")
}

// method builds a unary MethodDesc that decodes Req, runs the interceptor chain and calls call.
func method[Req any, PReq interface {
	*Req
	proto.Message
}, Resp proto.Message](name string, call func(ManagementServiceServer, context.Context, PReq) (Resp, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := PReq(new(Req))
			if err := dec(in); err != nil {
				return nil, err
			}
			impl := srv.(ManagementServiceServer)
			if interceptor == nil {
				return call(impl, ctx, in)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + ManagementServiceName + "/" + name}
			return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
				return call(impl, ctx, req.(PReq))
			})
		},
	}
}

// ManagementServiceDesc describes the served subset of zitadel.management.v1.ManagementService.
var ManagementServiceDesc = grpc.ServiceDesc{
	ServiceName: ManagementServiceName,
	HandlerType: (*ManagementServiceServer)(nil),
	Methods: []grpc.MethodDesc{
		method("GetIAM", ManagementServiceServer.GetIAM),
		method("GetMyOrg", ManagementServiceServer.GetMyOrg),
		method("GetUserByID", ManagementServiceServer.GetUserByID),
		method("AddMachineUser", ManagementServiceServer.AddMachineUser),
		method("UpdateUserName", ManagementServiceServer.UpdateUserName),
		method("UpdateMachine", ManagementServiceServer.UpdateMachine),
		method("GenerateMachineSecret", ManagementServiceServer.GenerateMachineSecret),
		method("RemoveUser", ManagementServiceServer.RemoveUser),
		method("GetMachineKeyByIDs", ManagementServiceServer.GetMachineKeyByIDs),
		method("AddMachineKey", ManagementServiceServer.AddMachineKey),
		method("RemoveMachineKey", ManagementServiceServer.RemoveMachineKey),
		method("ListOrgMembers", ManagementServiceServer.ListOrgMembers),
		method("AddOrgMember", ManagementServiceServer.AddOrgMember),
		method("UpdateOrgMember", ManagementServiceServer.UpdateOrgMember),
		method("RemoveOrgMember", ManagementServiceServer.RemoveOrgMember),
	},
	Metadata: "zitadel/management.proto",
}

// RegisterManagementServiceServer registers srv on s.
func RegisterManagementServiceServer(s grpc.ServiceRegistrar, srv ManagementServiceServer) {
	s.RegisterService(&ManagementServiceDesc, srv)
}
