#!/usr/bin/env bash
# Installs the tools the tests and benchmarks need into a version-pinned cache outside the
# clone ($STRAND_CACHE, default ~/.cache/strand), once. A second run reuses what is there.
# Usage: tools.sh s2|ts|py|moto|chromium|fuzz|all|env   -- prints nothing but progress on stderr.
set -euo pipefail

CACHE="${STRAND_CACHE:-$HOME/.cache/strand}"
S2_CLI_VERSION=0.43.4
TS_SDK_VERSION=0.27.0
PY_SDK_VERSION=0.13.0
MOTO_VERSION=5.2.5
CARGO_FUZZ_VERSION=0.13.2

S2_DIR="$CACHE/s2-cli-$S2_CLI_VERSION"
TS_DIR="$CACHE/ts-sdk-$TS_SDK_VERSION"
PY_DIR="$CACHE/py-sdk-$PY_SDK_VERSION"
MOTO_DIR="$CACHE/moto-$MOTO_VERSION"
FUZZ_DIR="$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION"

log() { echo "tools: $*" >&2; }

ensure_s2() {
  if [ -x "$S2_DIR/bin/s2" ]; then return; fi
  log "installing s2-cli $S2_CLI_VERSION (the s2 CLI and s2 lite; ~14 min on 2 cores, once)"
  mkdir -p "$CACHE"
  # Its own target dir, so it never shares locks or artifacts with the project build.
  CARGO_TARGET_DIR="$CACHE/s2-cli-build" cargo install --locked s2-cli \
    --version "$S2_CLI_VERSION" --root "$S2_DIR.tmp" >&2
  rm -rf "$CACHE/s2-cli-build"
  mv "$S2_DIR.tmp" "$S2_DIR"
}

ensure_ts() {
  if [ -f "$TS_DIR/node_modules/@s2-dev/streamstore/package.json" ]; then return; fi
  log "installing @s2-dev/streamstore $TS_SDK_VERSION"
  rm -rf "$TS_DIR.tmp" && mkdir -p "$TS_DIR.tmp"
  (cd "$TS_DIR.tmp" && echo '{"name":"strand-ts-tests","private":true,"type":"module"}' > package.json \
    && npm install --no-audit --no-fund --silent "@s2-dev/streamstore@$TS_SDK_VERSION" >&2)
  rm -rf "$TS_DIR" && mv "$TS_DIR.tmp" "$TS_DIR"
}

ensure_py() {
  if [ -x "$PY_DIR/bin/python" ] && "$PY_DIR/bin/python" -c 'import s2_sdk' 2>/dev/null; then return; fi
  log "installing Python s2-sdk $PY_SDK_VERSION"
  rm -rf "$PY_DIR"
  python3 -m venv "$PY_DIR"
  "$PY_DIR/bin/pip" install --quiet "s2-sdk==$PY_SDK_VERSION" >&2
}

ensure_moto() {
  if [ -x "$MOTO_DIR/bin/moto_server" ]; then return; fi
  log "installing moto[server] $MOTO_VERSION (local S3-compatible server)"
  rm -rf "$MOTO_DIR"
  python3 -m venv "$MOTO_DIR"
  "$MOTO_DIR/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" >&2
}

# Debian's Chromium, for the dashboard's headless-browser test. A system package (apt), so
# it lives outside the cache; installed once, reused after.
ensure_chromium() {
  if [ -x "${STRAND_CHROMIUM:-/usr/bin/chromium}" ]; then return; fi
  log "installing Debian's chromium (headless browser for the dashboard test)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y chromium >&2 \
    || { $sudo apt-get update >&2 && $sudo apt-get install -y chromium >&2; }
}

# Only for `make fuzz` (not part of `all`): cargo-fuzz drives libFuzzer builds.
ensure_fuzz() {
  if [ -x "$FUZZ_DIR/bin/cargo-fuzz" ]; then return; fi
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  mkdir -p "$CACHE"
  CARGO_TARGET_DIR="$CACHE/cargo-fuzz-build" cargo install --locked cargo-fuzz \
    --version "$CARGO_FUZZ_VERSION" --root "$FUZZ_DIR.tmp" >&2
  rm -rf "$CACHE/cargo-fuzz-build"
  mv "$FUZZ_DIR.tmp" "$FUZZ_DIR"
}

case "${1:-all}" in
  s2) ensure_s2 ;;
  ts) ensure_ts ;;
  py) ensure_py ;;
  moto) ensure_moto ;;
  fuzz) ensure_fuzz ;;
  chromium) ensure_chromium ;;
  all) ensure_s2; ensure_ts; ensure_py; ensure_moto; ensure_chromium ;;
  env)
    echo "S2_CLI=$S2_DIR/bin/s2"
    echo "STRAND_TS_SDK=$TS_DIR/node_modules"
    echo "STRAND_PY=$PY_DIR/bin/python"
    echo "MOTO_SERVER=$MOTO_DIR/bin/moto_server"
    echo "CARGO_FUZZ=$FUZZ_DIR/bin/cargo-fuzz"
    ;;
  *) echo "usage: $0 s2|ts|py|moto|fuzz|all|env" >&2; exit 2 ;;
esac
