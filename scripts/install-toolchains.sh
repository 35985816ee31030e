#!/usr/bin/env bash
# Idempotent setup of the language toolchains tests/realworld builds real projects with:
# Go from Debian (golang-go), Rust's cargo (the machine's, in ~/.cargo/bin, else Debian's),
# Node and npm (the machine's, else Debian's). Nothing here reaches the network at test time.
set -euo pipefail
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
PATH="$PATH:$HOME/.cargo/bin"
missing=()
command -v go >/dev/null || missing+=(golang-go)
command -v cargo >/dev/null || missing+=(cargo)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-toolchains: apt: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
