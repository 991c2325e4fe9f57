#!/usr/bin/env bash
# Builds the language hosts that the e2e tests' consumer programs need besides Python, into the cache, and prints
# the bin directory (stdout: that path only): `pulumi-language-yaml` (Pulumi YAML, PULUMI_YAML_VERSION, built from
# its own module with `go install`, its go.sum checked by the checksum database) and `pulumi-language-nodejs`
# (TypeScript, from tools/build/language-hosts, whose committed go.sum checks every module). The engine finds them
# on PATH (tools/engine.sh with ZB_LANGUAGE_HOSTS=1 puts this folder there).
#
# The cache folder is keyed by a hash of the module's go.mod and go.sum and by the YAML host's version.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
module_dir="$here/build/language-hosts"
# shellcheck source=lib.sh
. "$here/lib.sh"
say() { echo "build-language-hosts: $*" >&2; }
out="$CACHE/language-hosts-yaml$PULUMI_YAML_VERSION-$(cache_key "$module_dir")/bin"
complete() { [ -x "$out/pulumi-language-yaml" ] && [ -x "$out/pulumi-language-nodejs" ]; }
if complete; then echo "$out"; exit 0; fi

require_pulumi_version "$module_dir" "$LANGUAGE_HOSTS_PULUMI_VERSION" LANGUAGE_HOSTS_PULUMI_VERSION

lock_build language-hosts
if complete; then echo "$out"; exit 0; fi

say "building pulumi-language-yaml v$PULUMI_YAML_VERSION and pulumi-language-nodejs (Pulumi v$LANGUAGE_HOSTS_PULUMI_VERSION)" \
  "from Go modules (GOPROXY=$(go env GOPROXY)); about 3 minutes cold on 2 cores, later runs reuse $out"
start=$(date +%s)
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
# The YAML host's module is built as its own main module, so its go.mod and go.sum apply as released.
GOBIN="$out.tmp" GOFLAGS="-buildvcs=false" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
  "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@v$PULUMI_YAML_VERSION" >&2
(cd "$module_dir" && GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
  -o "$out.tmp/" github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 >&2)
rm -rf "$out"; mv "$out.tmp" "$out"
say "built in $(( $(date +%s) - start )) s: $(ls "$out" | tr '\n' ' ')"
echo "$out"
