#!/usr/bin/env bash
# Starts the strand binary on a free loopback port and runs the official TypeScript SDK
# suite (node --test) and Python SDK suite (unittest) against it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/debug/strand"
[ -x "$BIN" ] || cargo build --locked --bin strand
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$(mktemp)
"$BIN" --bind 127.0.0.1 --port "$PORT" >/dev/null 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.05
done
export STRAND_ENDPOINT="http://127.0.0.1:$PORT"
status=0
echo "== TypeScript SDK (@s2-dev/streamstore) against $STRAND_ENDPOINT"
node --test tests/ts/ || status=1
echo "== Python SDK (s2-sdk) against $STRAND_ENDPOINT"
"$STRAND_PY" -m unittest discover -s tests/py -v || status=1
if [ $status -ne 0 ]; then
  echo "server log:"; tail -50 "$LOG"
fi
exit $status
