// Fetches the pulumi-resource-zitadel plugin's Go module, checked against the hashes in go.sum, for
// tools/build-zitadel-plugin.sh. The plugin is then built inside a writable copy of that module, so that the
// module's own go.mod (with its replace of terraform-plugin-sdk/v2) and go.sum apply, as in its release build.
module zitadel-bootstrap/tools/build/zitadel-plugin

go 1.21

// pulumiverse/pulumi-zitadel tags its releases on the repository root only; tag v0.2.0 is commit
// 4c6e2b6fb1335bf20e8de19a0db4e47fa4f47a9d, so the provider/ module is required by its pseudo-version.
require github.com/pulumiverse/pulumi-zitadel/provider v0.0.0-20250324133318-4c6e2b6fb133
