#!/usr/bin/env bash
# Builds the ZITADEL stand-in binary, or reuses it when no Go source changed since (clientcheck/, a test-only
# module of its own, does not count), and prints its path
# (only the path goes to stdout; build output goes to stderr).
#   standin/build.sh            -> standin/bin/zitadel-standin (git-ignored)
#   ZITADEL_STANDIN_BIN=/p/bin standin/build.sh   builds to another place
# Go's build cache keeps rebuilds after small changes quick; the first build on a machine compiles grpc,
# protobuf, zitadel/oidc and zitadel-go's generated API packages and takes longer.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${ZITADEL_STANDIN_BIN:-$here/bin/zitadel-standin}"

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: the Go toolchain (go) is not on PATH; the stand-in needs Go 1.26 or newer" >&2
  exit 1
fi

if [[ -x "$out" ]]; then
  newer="$(find "$here" -path "$here/bin" -prune -o -path "$here/clientcheck" -prune -o \
    \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$out" -print -quit)"
  if [[ -z "$newer" ]]; then
    echo "$out"
    exit 0
  fi
fi

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# Same flags as `go test`, so the two share Go's build cache.
(cd "$here" && go build -o "$tmp" .) >&2
mv "$tmp" "$out"
echo "$out"
