// Fetches the SeaweedFS Go module, checked against the hashes in go.sum, for tools/build-seaweedfs.sh. `weed`
// is then built inside a writable copy of that module, so that the module's own go.mod (with its replace
// directives) and go.sum apply. SeaweedFS serves the S3 API that the e2e tests use as a Pulumi state backend.
module zitadel-bootstrap/tools/build/seaweedfs

go 1.21

// The commit of 2026-11-09 (master), by its pseudo-version.
require github.com/seaweedfs/seaweedfs v0.0.0-20261109003541-7506e5f91cd6
