#!/usr/bin/env bash
# Builds the pulumiverse-zitadel resource plugin (`pulumi-resource-zitadel`, the version in versions.env) from
# its Go module into the cache and prints the binary's path (stdout: that path only).
#
# How, as its release build does it (goreleaser in pulumiverse/pulumi-zitadel):
#   1. fetch github.com/pulumiverse/pulumi-zitadel/provider at the release commit (tools/build/zitadel-plugin
#      pins it; go.sum there checks the download);
#   2. copy the module out of the read-only module cache: its main.go embeds `schema-embed.json`, which is not
#      part of the module and is generated next to it by `VERSION=<v> go run ./generate.go`;
#   3. `go build` inside the copy, so that the module's own go.mod (its replace of terraform-plugin-sdk/v2 by
#      Pulumi's fork) and go.sum apply; CGO off, the version set where tfbridge reads it.
# No dependency was upgraded: the module's pinned 2023-era dependencies compile and link with Go 1.26 as they are.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
module_dir="$here/build/zitadel-plugin"
PROVIDER_MODULE=github.com/pulumiverse/pulumi-zitadel/provider
# shellcheck source=lib.sh
. "$here/lib.sh"
say() { echo "build-zitadel-plugin: $*" >&2; }
out="$CACHE/pulumi-resource-zitadel-v$ZITADEL_PLUGIN_VERSION-$(cache_key "$module_dir")/bin"
bin="$out/pulumi-resource-zitadel"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
lock_build zitadel-plugin
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

say "building pulumi-resource-zitadel $ZITADEL_PLUGIN_VERSION from Go modules (GOPROXY=$(go env GOPROXY))"
say "(with internet access, the release binary instead: pulumi plugin install resource zitadel $ZITADEL_PLUGIN_VERSION --server github://api.github.com/pulumiverse)"
start=$(date +%s)
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
module_copy "$module_dir" "$PROVIDER_MODULE" "$work/provider"
(cd "$work/provider/cmd/pulumi-resource-zitadel" && VERSION="$ZITADEL_PLUGIN_VERSION" GOFLAGS=-mod=readonly go run ./generate.go) >&2
(cd "$work/provider" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
  -ldflags "-s -w -X $PROVIDER_MODULE/pkg/version.Version=$ZITADEL_PLUGIN_VERSION" \
  -o "$work/pulumi-resource-zitadel" ./cmd/pulumi-resource-zitadel) >&2
reported="$("$work/pulumi-resource-zitadel" -version 2>/dev/null | tr -d '[:space:]')" || true
if [ "${reported#v}" != "$ZITADEL_PLUGIN_VERSION" ]; then
  say "the built plugin's -version says '$reported', expected $ZITADEL_PLUGIN_VERSION"
  exit 1
fi
install_binaries "$out" "$work/pulumi-resource-zitadel"
say "built in $(( $(date +%s) - start )) s"
echo "$bin"
