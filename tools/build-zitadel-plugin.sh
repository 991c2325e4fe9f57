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
CACHE="${ZB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zitadel-bootstrap}"
key="$(cat "$module_dir/go.mod" "$module_dir/go.sum" | sha256sum | cut -c1-12)"
out="$CACHE/pulumi-resource-zitadel-v$ZITADEL_PLUGIN_VERSION-$key/bin"
bin="$out/pulumi-resource-zitadel"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

say() { echo "build-zitadel-plugin: $*" >&2; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.build-zitadel-plugin.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

say "building pulumi-resource-zitadel $ZITADEL_PLUGIN_VERSION from Go modules (GOPROXY=$(go env GOPROXY))"
start=$(date +%s)
if ! info="$(cd "$module_dir" && GOFLAGS=-mod=readonly go mod download -json "$PROVIDER_MODULE" 2>&1)"; then
  why="$(printf '%s' "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Error",""))' 2>/dev/null || true)"
  say "fetching $PROVIDER_MODULE failed: ${why:-$info}"
  say "the public Go proxy does not serve it on every network: point GOPROXY at a mirror that does, e.g."
  say "  export GOPROXY=\"file://\$(realpath ../shared/goproxy),\$(go env GOPROXY)\""
  say "or, with internet access: pulumi plugin install resource zitadel $ZITADEL_PLUGIN_VERSION --server github://api.github.com/pulumiverse"
  exit 2
fi
src="$(printf '%s' "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cp -R "$src" "$work/provider"
chmod -R u+w "$work/provider"
(cd "$work/provider/cmd/pulumi-resource-zitadel" && VERSION="$ZITADEL_PLUGIN_VERSION" GOFLAGS=-mod=readonly go run ./generate.go) >&2
(cd "$work/provider" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
  -ldflags "-s -w -X $PROVIDER_MODULE/pkg/version.Version=$ZITADEL_PLUGIN_VERSION" \
  -o "$work/pulumi-resource-zitadel" ./cmd/pulumi-resource-zitadel) >&2
reported="$("$work/pulumi-resource-zitadel" -version 2>/dev/null | tr -d '[:space:]')" || true
if [ "${reported#v}" != "$ZITADEL_PLUGIN_VERSION" ]; then
  say "the built plugin's -version says '$reported', expected $ZITADEL_PLUGIN_VERSION"
  exit 1
fi
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
install -m 755 "$work/pulumi-resource-zitadel" "$out.tmp/"
rm -rf "$out"; mv "$out.tmp" "$out"
say "built in $(( $(date +%s) - start )) s"
echo "$bin"
