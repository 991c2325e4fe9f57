#!/usr/bin/env bash
# The one entry point to the real Pulumi engine for the Makefile, the tests and people:
#
#   env_sh="$(tools/engine.sh env)" && eval "$env_sh"   # build or reuse everything, export the environment
#   tools/engine.sh verify            # the same, then prove each part starts (pulumi, plugin, launcher)
#
# (A bare `eval "$(tools/engine.sh env)"` succeeds even when this fails: it evaluates nothing.)
# What is exported and what the module proxy can and cannot provide: tools/README.md.
#
# Options (after the command): --without-zitadel  go on when the zitadel plugin cannot be had (see
# build-zitadel-plugin.sh, exit 2), so that what needs only the engine still runs; ZB_ZITADEL_PLUGIN is
# then exported empty. Environment: ZB_CACHE_DIR (default ~/.cache/zitadel-bootstrap), PULUMI_VERSION
# (CLI to build when no usable one is on PATH), ZB_ZITADEL_PLUGIN_FILE (official plugin binary to use).
#
# stdout carries only `export` lines; every message goes to stderr. Nonzero exit when a part is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
PULUMI_VERSION="${PULUMI_VERSION:-3.274.1}"
# Oldest CLI taken from PATH: the project relies on behaviour of recent engines (exit code 7 for a
# violated --expect-no-changes, current Automation API protocol).
MIN_PULUMI_VERSION=3.260.0
ZITADEL_PLUGIN_VERSION=0.2.0
CACHE="${ZB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zitadel-bootstrap}"
export ZB_CACHE_DIR="$CACHE"
# A PULUMI_HOME of our own: plugins installed by hand for this project do not leak into the user's
# ~/.pulumi, and the user's plugins cannot shadow ours.
PULUMI_HOME_DIR="$CACHE/pulumi-home"
# Our engine runs must never reach for the network (update check, plugin downloads).
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

die() { echo "engine.sh: $*" >&2; exit 1; }
say() { echo "engine.sh: $*" >&2; }

cmd="${1:-env}"; [ $# -gt 0 ] && shift
without_zitadel=false
for arg in "$@"; do
  case "$arg" in
    --without-zitadel) without_zitadel=true ;;
    *) die "unknown option $arg (usage: engine.sh env|verify [--without-zitadel])" ;;
  esac
done
case "$cmd" in env|verify) ;; *) die "unknown command $cmd (usage: engine.sh env|verify [--without-zitadel])" ;; esac

mkdir -p "$CACHE"
# Serialize whole runs: two test processes starting together must not install into PULUMI_HOME at once.
exec 9>"$CACHE/.engine.lock"
flock 9

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# --- (a) the CLI: a recent enough one on PATH, else our cached build --------------------------------------
pulumi_bin=""
if p="$(command -v pulumi 2>/dev/null)"; then
  v="$("$p" version 2>/dev/null | tr -d '[:space:]')" || v=""
  v="${v#v}"
  if [ -n "$v" ] && version_ge "${v%%-*}" "$MIN_PULUMI_VERSION"; then
    pulumi_bin="$p"
  else
    say "ignoring $p (version '${v:-unknown}' < $MIN_PULUMI_VERSION)"
  fi
fi
if [ -z "$pulumi_bin" ]; then
  built="$CACHE/pulumi-v$PULUMI_VERSION/bin/pulumi"
  if [ ! -x "$built" ]; then
    say "building pulumi v$PULUMI_VERSION from Go modules (a cold build takes about 10 minutes on 2 cores)"
    built="$(PULUMI_VERSION="$PULUMI_VERSION" "$here/build-pulumi.sh")" || die "building pulumi v$PULUMI_VERSION failed (see above)"
  fi
  [ -x "$built" ] || die "build-pulumi.sh reported $built, which is not an executable"
  pulumi_bin="$built"
fi
pulumi_dir="$(dirname "$pulumi_bin")"
pulumi_version="$("$pulumi_bin" version 2>/dev/null | tr -d '[:space:]')" || die "$pulumi_bin does not run"

# The Automation API's PulumiCommand(root=R) runs R/bin/pulumi.
if [ "$(basename "$pulumi_dir")" = bin ]; then
  pulumi_root="$(dirname "$pulumi_dir")"
else
  pulumi_root="$CACHE/pulumi-external"
  mkdir -p "$pulumi_root/bin"
  ln -sfn "$pulumi_bin" "$pulumi_root/bin/pulumi"
fi

# --- (c) the dynamic-provider launcher -------------------------------------------------------------------
# Next to pulumi when that directory is ours; an official installation already ships its own, which we
# leave alone; otherwise in a cached bin dir put on PATH.
launcher_src="$here/pulumi-resource-pulumi-python"
real_pulumi_dir="$(dirname "$(readlink -f "$pulumi_bin")")"
extra_path=("$pulumi_root/bin")
install_launcher() {  # $1 = directory
  if ! cmp -s "$launcher_src" "$1/pulumi-resource-pulumi-python"; then
    mkdir -p "$1"
    cp "$launcher_src" "$1/.pulumi-resource-pulumi-python.tmp"
    chmod 755 "$1/.pulumi-resource-pulumi-python.tmp"
    mv -f "$1/.pulumi-resource-pulumi-python.tmp" "$1/pulumi-resource-pulumi-python"
  fi
}
case "$real_pulumi_dir" in
  "$CACHE"/*) install_launcher "$real_pulumi_dir" ;;
  *)
    if [ ! -x "$real_pulumi_dir/pulumi-resource-pulumi-python" ]; then
      install_launcher "$CACHE/bin"
      extra_path+=("$CACHE/bin")
    fi ;;
esac

# The Python language host cannot be built from the module proxy (see tools/README.md): without it only
# Automation API inline programs run. Tell callers instead of letting `pulumi up` fail on them.
has_python_host=false
if PATH="$real_pulumi_dir:$PATH" command -v pulumi-language-python >/dev/null 2>&1; then has_python_host=true; fi

# --- (b) + (d) the zitadel plugin, installed into our PULUMI_HOME ----------------------------------------
zitadel_bin=""
rc=0
plugin_path="$("$here/build-zitadel-plugin.sh")" || rc=$?
if [ "$rc" -eq 0 ]; then
  zitadel_bin="$plugin_path"
  dest="$PULUMI_HOME_DIR/plugins/resource-zitadel-v$ZITADEL_PLUGIN_VERSION"
  if [ -e "$dest.partial" ] || ! cmp -s "$zitadel_bin" "$dest/pulumi-resource-zitadel"; then
    say "installing pulumi-resource-zitadel $ZITADEL_PLUGIN_VERSION into $PULUMI_HOME_DIR"
    PULUMI_HOME="$PULUMI_HOME_DIR" "$pulumi_bin" plugin install resource zitadel "$ZITADEL_PLUGIN_VERSION" \
      --file "$zitadel_bin" --reinstall >&2 || die "pulumi plugin install resource zitadel failed"
  fi
elif [ "$rc" -eq 2 ] && $without_zitadel; then
  say "continuing without the zitadel plugin (--without-zitadel): stacks using zitadel resources will fail"
else
  die "the zitadel plugin $ZITADEL_PLUGIN_VERSION is not available (see above); use --without-zitadel for engine-only work"
fi

# --- (e) the environment ---------------------------------------------------------------------------------
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }  # POSIX-sh single quoting
new_path="$PATH"
for ((i=${#extra_path[@]}-1; i>=0; i--)); do
  case ":$new_path:" in *":${extra_path[i]}:"*) ;; *) new_path="${extra_path[i]}:$new_path" ;; esac
done
# Inline programs have no language host to name a virtualenv for the launcher: use the project's.
python_cmd="${PULUMI_PYTHON_CMD:-}"
if [ -z "$python_cmd" ] && [ -x "$repo/.venv/bin/python" ]; then python_cmd="$repo/.venv/bin/python"; fi

emit() {
  echo "export PATH=$(q "$new_path")"
  echo "export PULUMI_HOME=$(q "$PULUMI_HOME_DIR")"
  echo "export PULUMI_SKIP_UPDATE_CHECK=true"
  echo "export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"
  echo "export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true"
  echo "export ZB_PULUMI_ROOT=$(q "$pulumi_root")"
  echo "export ZB_PULUMI_VERSION=$(q "$pulumi_version")"
  echo "export ZB_PULUMI_HAS_PYTHON_HOST=$has_python_host"
  echo "export ZB_ZITADEL_PLUGIN=$(q "$zitadel_bin")"
  [ -z "$python_cmd" ] || echo "export PULUMI_PYTHON_CMD=$(q "$python_cmd")"
}

if [ "$cmd" = env ]; then emit; exit 0; fi

# --- verify: every part starts and says what it is -------------------------------------------------------
eval "$(emit)"
fail=0
check() {  # $1 = label; rest = command
  local label="$1"; shift
  if out="$("$@" 2>&1)"; then say "ok   $label: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-160)"
  else say "FAIL $label: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-300)"; fail=1; fi
}
check "pulumi version" "$ZB_PULUMI_ROOT/bin/pulumi" version
check "launcher on plugin path" command -v pulumi-resource-pulumi-python
check "launcher python has pulumi.dynamic" "${PULUMI_PYTHON_CMD:-python3}" -c 'import pulumi.dynamic; print(pulumi.dynamic.__file__)'
if [ -n "$zitadel_bin" ]; then
  check "zitadel plugin -version" "$zitadel_bin" -version
  # shellcheck disable=SC2016
  check "pulumi plugin ls" sh -c '"$1" plugin ls | grep -E "^zitadel +resource +'"$ZITADEL_PLUGIN_VERSION"' "' sh "$ZB_PULUMI_ROOT/bin/pulumi"
fi
say "python language host: $ZB_PULUMI_HAS_PYTHON_HOST"
exit "$fail"
