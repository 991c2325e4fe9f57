#!/usr/bin/env bash
# Builds the Pulumi CLI from the Go module proxy into a cache keyed by version.
# Why a wrapper module: `go install github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v` is refused because
# pkg/go.mod carries replace directives; a tiny module that requires pkg/v3 and sdk/v3 at the same
# version and repeats the non-local replace builds the same binary.
set -euo pipefail
PULUMI_VERSION="${PULUMI_VERSION:-3.274.1}"
CACHE="${ZB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zitadel-bootstrap}"
out="$CACHE/pulumi-v$PULUMI_VERSION/bin"
if [ -x "$out/pulumi" ]; then echo "$out/pulumi"; exit 0; fi
mkdir -p "$CACHE"
# A cold build takes most of 10 minutes of both cores: two callers starting together must not both do it.
exec 9>"$CACHE/.build-pulumi.lock"
flock 9
if [ -x "$out/pulumi" ]; then echo "$out/pulumi"; exit 0; fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module zitadel-bootstrap/build/pulumi

go 1.26

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

// Repeated from pkg/go.mod at this version (replaces of a dependency do not apply to its users).
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
go mod tidy -e >&2
start=$(date +%s)
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
go build -trimpath -o "$out.tmp/pulumi" \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
rm -rf "$out"; mv "$out.tmp" "$out"
echo "built pulumi v$PULUMI_VERSION in $(( $(date +%s) - start ))s" >&2
echo "$out/pulumi"
