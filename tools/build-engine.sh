#!/usr/bin/env bash
# Builds the Pulumi engine from Go modules into the cache and prints the bin directory (stdout: that path only).
#
# The bin directory holds what Pulumi's release archive holds for this project: `pulumi`, the Python language
# host `pulumi-language-python` (both compiled from tools/build/engine, one module, so they link the same
# pkg/v3 and sdk/v3), and two files that Pulumi ships as they are in the sdk/v3 module: the language executor
# `pulumi-language-python-exec` and the dynamic-provider launcher `pulumi-resource-pulumi-python`.
#
# The cache folder is keyed by the version and a hash of the module's go.mod and go.sum, so a change of either
# builds afresh and nothing unchanged is ever rebuilt. Modules come from GOPROXY and are checked against the
# committed go.sum (the checksum database is never asked).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
module_dir="$here/build/engine"
# shellcheck source=lib.sh
. "$here/lib.sh"
say() { echo "build-engine: $*" >&2; }
out="$CACHE/engine-v$PULUMI_VERSION-$(cache_key "$module_dir")/bin"
complete() { [ -x "$out/pulumi" ] && [ -x "$out/pulumi-language-python" ] && [ -x "$out/pulumi-language-python-exec" ] \
  && [ -x "$out/pulumi-resource-pulumi-python" ]; }
if complete; then echo "$out"; exit 0; fi

require_pulumi_version "$module_dir" "$PULUMI_VERSION" PULUMI_VERSION

# A cold build takes most of ten minutes of two cores: a second caller waits for the first instead.
lock_build engine
if complete; then echo "$out"; exit 0; fi

say "building pulumi v$PULUMI_VERSION and its Python language host from Go modules (GOPROXY=$(go env GOPROXY));"
say "a cold build takes about 10 minutes on 2 cores, later runs reuse $out"
start=$(date +%s)
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
cd "$module_dir"
# -mod=readonly: go.sum is complete and committed, so nothing is looked up in the checksum database.
GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -o "$out.tmp/" \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 >&2
sdk_dir="$(GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
for shipped in python/cmd/pulumi-language-python-exec python/dist/pulumi-resource-pulumi-python; do
  [ -f "$sdk_dir/$shipped" ] || { say "$sdk_dir/$shipped is missing from the sdk/v3 module"; exit 1; }
  install -m 755 "$sdk_dir/$shipped" "$out.tmp/"
done
"$out.tmp/pulumi" version >/dev/null || { say "the built pulumi does not run"; exit 1; }
rm -rf "$out"; mv "$out.tmp" "$out"
say "built in $(( $(date +%s) - start )) s: $(ls "$out" | tr '\n' ' ')"
echo "$out"
