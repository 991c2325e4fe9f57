#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the version in versions.env) from its Go module into the cache and prints the
# binary's path (stdout: that path only). The e2e tests run it as an S3-compatible, distributed object store
# that holds Pulumi state (tools/seaweedfs.py starts it).
#
# How:
#   1. fetch github.com/seaweedfs/seaweedfs at the pinned pseudo-version (tools/build/seaweedfs pins it; go.sum
#      there checks the download);
#   2. copy the module out of the read-only module cache: its go.mod has replace directives, which apply only
#      when the module itself is the main module;
#   3. `go build ./weed` inside the copy, so that the module's own go.mod and go.sum check every dependency;
#      CGO off, the commit set where `weed version` reads it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
module_dir="$here/build/seaweedfs"
SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
# shellcheck source=lib.sh
. "$here/lib.sh"
say() { echo "build-seaweedfs: $*" >&2; }
out="$CACHE/seaweedfs-$SEAWEEDFS_VERSION-$(cache_key "$module_dir")/bin"
bin="$out/weed"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
if ! grep -qx "require $SEAWEEDFS_MODULE $SEAWEEDFS_VERSION" "$module_dir/go.mod"; then
  say "$module_dir/go.mod does not require $SEAWEEDFS_MODULE $SEAWEEDFS_VERSION (versions.env): make them agree"
  exit 1
fi
command -v go >/dev/null || { say "Go 1.26+ is needed to build SeaweedFS from its module"; exit 1; }
lock_build seaweedfs
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

say "building weed (SeaweedFS $SEAWEEDFS_VERSION) from Go modules (GOPROXY=$(go env GOPROXY)); a few minutes"
start=$(date +%s)
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
module_copy "$module_dir" "$SEAWEEDFS_MODULE" "$work/seaweedfs"
commit="${SEAWEEDFS_VERSION##*-}"
(cd "$work/seaweedfs" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
  -ldflags "-s -w -X $SEAWEEDFS_MODULE/weed/util/version.COMMIT=$commit" \
  -o "$work/weed" ./weed) >&2
reported="$("$work/weed" version 2>/dev/null)" || true
case "$reported" in
  *"$commit"*) ;;
  *) say "the built weed's version says '$reported', expected commit $commit"; exit 1 ;;
esac
install_binaries "$out" "$work/weed"
say "built in $(( $(date +%s) - start )) s"
echo "$bin"
