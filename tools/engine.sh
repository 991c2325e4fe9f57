#!/usr/bin/env bash
# Gives a shell the Pulumi engine this project runs on, in one line:
#
#   source "$(tools/engine.sh)"
#
# It builds what is missing (or reuses the cache), installs the zitadel plugin into the project's PULUMI_HOME,
# writes the environment to .engine/env and prints that file's path (stdout: that path only; messages go to
# stderr). After sourcing, `pulumi preview/up/refresh/destroy/stack output` work in the project directory.
#
# - The CLI: a `pulumi` >= MIN_PULUMI_VERSION on PATH that has its Python language host next to it (an official
#   installation), else our build from Go modules (build-engine.sh).
# - The zitadel plugin: one installed the official way under ${PULUMI_HOME:-~/.pulumi}, else our build
#   (build-zitadel-plugin.sh). Both builds need a GOPROXY that serves the modules (tools/README.md).
# - PULUMI_HOME is the project's own (under the cache), so the plugin installed here never mixes with yours.
#
# Environment: ZB_CACHE_DIR (default ~/.cache/zitadel-bootstrap), ZB_ENGINE_ENV (where to write the file),
# ZB_LANGUAGE_HOSTS=1 (also the YAML and Node.js language hosts, for the e2e tests' consumer programs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
# shellcheck source=versions.env
. "$here/versions.env"
CACHE="${ZB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zitadel-bootstrap}"
export ZB_CACHE_DIR="$CACHE"
env_file="${ZB_ENGINE_ENV:-$repo/.engine/env}"
pulumi_home="$CACHE/pulumi-home"
say() { echo "engine.sh: $*" >&2; }
die() { say "$*"; exit 1; }
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
command -v go >/dev/null || die "Go 1.26+ is needed to build the engine from modules (or install Pulumi the official way)"

# --- the CLI and its Python language host ----------------------------------------------------------------------
bin_dir=""
official="$(command -v pulumi 2>/dev/null)" || official=""
case "$(readlink -f "${official:-/}")" in "$CACHE"/*) official="" ;; esac  # our own build, from an earlier source
if [ -n "$official" ]; then
  official_dir="$(dirname "$(readlink -f "$official")")"
  v="$("$official" version 2>/dev/null | tr -d '[:space:]')" || v=""
  v="${v#v}"
  if [ -n "$v" ] && version_ge "${v%%-*}" "$MIN_PULUMI_VERSION" && [ -x "$official_dir/pulumi-language-python" ]; then
    bin_dir="$official_dir"
  else
    say "not using $official (version '${v:-unknown}'; needs >= $MIN_PULUMI_VERSION with pulumi-language-python next to it)"
  fi
fi
if [ -z "$bin_dir" ]; then
  bin_dir="$("$here/build-engine.sh")" || die "building the Pulumi engine failed (reason above)"
fi
pulumi="$bin_dir/pulumi"
"$pulumi" version >/dev/null 2>&1 || die "$pulumi does not run"

# --- the zitadel plugin, installed into the project's PULUMI_HOME --------------------------------------------------
installed="$pulumi_home/plugins/resource-zitadel-v$ZITADEL_PLUGIN_VERSION/pulumi-resource-zitadel"
plugin="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-zitadel-v$ZITADEL_PLUGIN_VERSION/pulumi-resource-zitadel"
if [ ! -x "$plugin" ] || [ "$plugin" = "$installed" ]; then
  plugin="$("$here/build-zitadel-plugin.sh")" || die "the zitadel plugin $ZITADEL_PLUGIN_VERSION cannot be had (reason above)"
fi
if [ -e "$installed.partial" ] || ! cmp -s "$plugin" "$installed"; then
  say "installing pulumi-resource-zitadel $ZITADEL_PLUGIN_VERSION into $pulumi_home"
  PULUMI_HOME="$pulumi_home" PULUMI_SKIP_UPDATE_CHECK=true \
    "$pulumi" plugin install resource zitadel "$ZITADEL_PLUGIN_VERSION" --file "$plugin" --reinstall >&2 \
    || die "pulumi plugin install resource zitadel $ZITADEL_PLUGIN_VERSION --file $plugin failed"
fi

# --- the language hosts of the consumer programs (opt-in) ----------------------------------------------------------
hosts_dir=""
if [ "${ZB_LANGUAGE_HOSTS:-}" = 1 ]; then
  hosts_dir="$("$here/build-language-hosts.sh")" || die "building the YAML and Node.js language hosts failed (reason above)"
fi

# --- the environment ----------------------------------------------------------------------------------------------
mkdir -p "$(dirname "$env_file")"
tmp="$env_file.tmp.$$"
{
  echo "# Written by tools/engine.sh; source it. The Pulumi engine of zitadel-bootstrap: $("$pulumi" version)"
  printf 'case ":$PATH:" in *:%q:*) ;; *) export PATH=%q:"$PATH" ;; esac\n' "$bin_dir" "$bin_dir"
  if [ -n "$hosts_dir" ]; then
    printf 'case ":$PATH:" in *:%q:*) ;; *) export PATH=%q:"$PATH" ;; esac\n' "$hosts_dir" "$hosts_dir"
  fi
  printf 'export PULUMI_HOME=%q\n' "$pulumi_home"
  # Never reach for the network: no update check, no plugin downloads.
  echo 'export PULUMI_SKIP_UPDATE_CHECK=true'
  echo 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true'
  printf 'export ZB_PULUMI=%q\n' "$pulumi"
} >"$tmp"
mv -f "$tmp" "$env_file"
echo "$env_file"
