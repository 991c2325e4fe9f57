// Package clientcheck proves the stand-in's gRPC contract with a client this project did not write: the one
// the Pulumi zitadel plugin is built with. pulumiverse-zitadel 0.2.0 bridges terraform-provider-zitadel
// v1.2.0, which talks to ZITADEL through zitadel-go v2.1.8's admin and management clients; this module pins
// those and the plugin's own versions of their dependencies (grpc v1.61.0, protobuf v1.33.0, zitadel/oidc
// v1.13.5, from pulumi-zitadel's provider/go.mod) and builds the clients the way the provider's
// helper.GetClientInfo and GetAdminClient/GetManagementClient do: JWT profile from a key file (or its JSON),
// scopes openid and the ZITADEL API audience, plaintext gRPC, the org chosen per call with x-zitadel-orgid.
//
// It is a module of its own, with tests only, because the stand-in is built on zitadel-go v3, whose generated
// packages register the same protobuf files (zitadel/management.proto, ...) as v2's: both in one binary
// panic at init. So the tests build the stand-in from the parent module and run it as a subprocess
// (ZITADEL_STANDIN_BIN names a prebuilt binary instead).
package clientcheck
