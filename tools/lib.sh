# Shared steps of the build scripts in tools/ (sourced, not run). Each script builds one binary from a pinned Go
# module (tools/build/<name>/go.mod and go.sum) into a cache folder keyed by that module, under a lock.
# Callers set: `say` (a function printing to stderr), and use the functions below.

CACHE="${ZB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zitadel-bootstrap}"

# cache_key <build module dir>: a short hash of its go.mod and go.sum (a changed pin builds a new folder).
cache_key() {
  cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -c1-12
}

# lock_build <name>: one build of <name> at a time on this machine; a second caller waits for the first.
lock_build() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.build-$1.lock"
  flock 9
}

# module_copy <build module dir> <module path> <destination>: fetch the module its go.mod pins (checked against
# its go.sum) and copy it out of the read-only module cache into <destination>, writable, so that it can be
# built as the main module (its own replace directives and go.sum then apply). Exits 2 when GOPROXY refuses it.
module_copy() {
  local info why src
  if ! info="$(cd "$1" && GOFLAGS=-mod=readonly go mod download -json "$2" 2>&1)"; then
    why="$(printf '%s' "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Error",""))' 2>/dev/null || true)"
    say "fetching $2 failed: ${why:-$info}"
    say "the public Go proxy does not serve every module on every network: point GOPROXY at a mirror that does, e.g."
    say "  export GOPROXY=\"file://\$(realpath ../shared/goproxy),\$(go env GOPROXY)\""
    exit 2
  fi
  src="$(printf '%s' "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  cp -R "$src" "$3"
  chmod -R u+w "$3"
}

# install_binaries <cache bin folder> <file>...: put the files into the cache folder in one rename, so a reader
# never sees half of it.
install_binaries() {
  local out="$1"; shift
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  install -m 755 "$@" "$out.tmp/"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# require_pulumi_version <build module dir> <version> <versions.env name>: refuse to build when the module's go.mod
# requires another pkg/v3 than versions.env names (the one list of versions must hold).
require_pulumi_version() {
  local required
  required="$(cd "$1" && go mod edit -json | python3 -c '
import json, sys
print(next(r["Version"] for r in json.load(sys.stdin)["Require"] if r["Path"] == "github.com/pulumi/pulumi/pkg/v3"))')"
  if [ "$required" != "v$2" ]; then
    say "$1/go.mod requires pkg/v3 $required, but tools/versions.env says $3=$2; make them agree"
    exit 1
  fi
}
