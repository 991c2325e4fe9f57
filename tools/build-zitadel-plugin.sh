#!/usr/bin/env bash
# Builds the pulumiverse-zitadel resource plugin (pulumi-resource-zitadel 0.2.0, the binary the
# `pulumiverse-zitadel` 0.2.0 Python SDK expects) from its Go module into a cache keyed by version, and
# prints the binary's path on stdout (everything else goes to stderr).
#
# The release binary is downloaded from GitHub by `pulumi plugin install`, which offline machines cannot
# reach; the Go module proxy is the only way in. Alternatively, ZB_ZITADEL_PLUGIN_FILE may name a copy of
# the official release binary (pulumi-resource-zitadel-v0.2.0-linux-amd64.tar.gz, unpacked): it is
# checked and cached instead of building.
#
# Exit codes: 0 ok, 2 the module is not served by the proxy (nothing can be built here), 1 anything else.
set -euo pipefail

ZITADEL_PLUGIN_VERSION="${ZITADEL_PLUGIN_VERSION:-0.2.0}"
PROVIDER_MODULE=github.com/pulumiverse/pulumi-zitadel/provider
case "$ZITADEL_PLUGIN_VERSION" in
  0.2.0)
    # pulumiverse tags releases on the repository root only (v0.2.0 = this commit); the provider/ module has
    # no tag of its own, so it is required by pseudo-version. The timestamp is the commit time the proxy
    # reports for github.com/pulumiverse/pulumi-zitadel@v0.2.0, whose Origin hash is this same commit.
    PROVIDER_COMMIT=4c6e2b6fb1335bf20e8de19a0db4e47fa4f47a9d
    PROVIDER_VERSION=v0.0.0-20250324133318-4c6e2b6fb133
    ;;
  *) echo "build-zitadel-plugin: no pinned provider commit for version $ZITADEL_PLUGIN_VERSION" >&2; exit 1 ;;
esac
# Where goreleaser puts the release version (.goreleaser.yml: -X .../provider/pkg/version.Version={{.Tag}});
# tfbridge.Main reports it from -version and GetPluginInfo.
VERSION_VAR="$PROVIDER_MODULE/pkg/version.Version"

CACHE="${ZB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zitadel-bootstrap}"
out="$CACHE/pulumi-resource-zitadel-v$ZITADEL_PLUGIN_VERSION/bin"
bin="$out/pulumi-resource-zitadel"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

mkdir -p "$CACHE"
# Two callers (make test and make demo in parallel, say) must not both spend many minutes building it.
exec 9>"$CACHE/.build-zitadel-plugin.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

# The binary must say it is the version it is installed as, or the engine and the SDK disagree about it.
check_version() {
  local reported
  reported="$("$1" -version 2>/dev/null | tr -d '[:space:]')" || true
  if [ "${reported#v}" != "$ZITADEL_PLUGIN_VERSION" ]; then
    echo "build-zitadel-plugin: $1 -version says '$reported', expected $ZITADEL_PLUGIN_VERSION" >&2
    return 1
  fi
}

install_into_cache() {  # $1 = built or supplied binary
  check_version "$1"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  cp "$1" "$out.tmp/pulumi-resource-zitadel"; chmod 755 "$out.tmp/pulumi-resource-zitadel"
  rm -rf "$out"; mv "$out.tmp" "$out"
  echo "$bin"
}

# A plugin installed the official way (`pulumi plugin install resource zitadel 0.2.0 --server
# github://api.github.com/pulumiverse`, on a machine with internet access) is used as is.
official="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-zitadel-v$ZITADEL_PLUGIN_VERSION/pulumi-resource-zitadel"
if [ -z "${ZB_ZITADEL_PLUGIN_FILE:-}" ] && [ -x "$official" ]; then ZB_ZITADEL_PLUGIN_FILE="$official"; fi

if [ -n "${ZB_ZITADEL_PLUGIN_FILE:-}" ]; then
  [ -x "$ZB_ZITADEL_PLUGIN_FILE" ] || { echo "build-zitadel-plugin: ZB_ZITADEL_PLUGIN_FILE=$ZB_ZITADEL_PLUGIN_FILE is not an executable file" >&2; exit 1; }
  install_into_cache "$ZB_ZITADEL_PLUGIN_FILE"
  exit 0
fi

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"

# Ask for the module alone first: if the proxy refuses it, say so in one sentence instead of failing
# halfway through `go mod tidy` with a wall of download errors.
if ! info="$(go mod download -json "$PROVIDER_MODULE@$PROVIDER_VERSION" 2>&1)"; then
  why="$(printf '%s' "$info" | jq -r '.Error // empty' 2>/dev/null || true)"
  cat >&2 <<MSG
build-zitadel-plugin: the Go module proxy ($(go env GOPROXY)) does not serve
  $PROVIDER_MODULE@$PROVIDER_VERSION (commit $PROVIDER_COMMIT, release v$ZITADEL_PLUGIN_VERSION):
$(printf '%s\n' "${why:-$info}" | sed 's/^/    /')
  so pulumi-resource-zitadel $ZITADEL_PLUGIN_VERSION cannot be built here. Either build on a machine whose
  GOPROXY serves it, or set ZB_ZITADEL_PLUGIN_FILE to the official release binary, or (with internet)
  run: pulumi plugin install resource zitadel $ZITADEL_PLUGIN_VERSION --server github://api.github.com/pulumiverse
MSG
  exit 2
fi
origin="$(printf '%s' "$info" | jq -r '.Origin.Hash // empty')"
if [ -n "$origin" ] && [ "$origin" != "$PROVIDER_COMMIT" ]; then
  echo "build-zitadel-plugin: $PROVIDER_VERSION resolves to commit $origin, expected $PROVIDER_COMMIT" >&2
  exit 1
fi

cat > go.mod <<MOD
module zitadel-bootstrap/build/zitadel-plugin

go 1.21

require $PROVIDER_MODULE $PROVIDER_VERSION

// Repeated from provider/go.mod at that commit: replace directives of a dependency do not apply to the
// module that builds it, and the bridge needs Pulumi's fork of the SDK.
replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20230912190043-e6d96b3b8f7e
MOD
cat > tools.go <<GO
//go:build tools

package tools

import _ "$PROVIDER_MODULE/cmd/pulumi-resource-zitadel"
GO
# tidy keeps the provider's own pinned dependency versions (MVS with nothing newer asking for more).
go mod tidy >&2

start=$(date +%s)
# CGO off like the release build (.goreleaser.yml): a static binary, and no C toolchain needed.
build() {
  CGO_ENABLED=0 go build -trimpath -o "$work/pulumi-resource-zitadel" \
    -ldflags "-s -w -X $VERSION_VAR=$ZITADEL_PLUGIN_VERSION $*" \
    "$PROVIDER_MODULE/cmd/pulumi-resource-zitadel"
}
if ! build 2>"$work/build.log"; then
  cat "$work/build.log" >&2
  # The module pins 2023-era dependencies; Go >= 1.23 refuses go:linkname references into the standard
  # library that are not on its allow list. If (and only if) that is the failure, link once more with the
  # check off: the compiled packages are cached, so this costs one link. Not exercised on the project's
  # machines, whose proxy does not serve the module; if it triggers, prefer upgrading the one dependency
  # named in the log (go get that@newer in the go.mod above) and record which one here.
  if grep -q 'linkname' "$work/build.log"; then
    echo "build-zitadel-plugin: go:linkname refused by $(go env GOVERSION); relinking with -checklinkname=0" >&2
    build -checklinkname=0 >&2
  else
    exit 1
  fi
fi
echo "built pulumi-resource-zitadel $ZITADEL_PLUGIN_VERSION in $(( $(date +%s) - start ))s" >&2
install_into_cache "$work/pulumi-resource-zitadel"
