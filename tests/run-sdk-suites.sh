#!/usr/bin/env bash
# Starts the strand binary on a free loopback port, and a second one serving TLS with a
# certificate made here (trusted by the SDKs through NODE_EXTRA_CA_CERTS / SSL_CERT_FILE),
# and runs the official TypeScript SDK suite (node --test) and Python SDK suite (unittest)
# against them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/debug/strand"
[ -x "$BIN" ] || cargo build --locked --bin strand
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d)
PORT=$(free_port)
TLS_PORT=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
"$BIN" --bind 127.0.0.1 --port "$PORT" >/dev/null 2>"$WORK/log" &
PID=$!
"$BIN" --bind 127.0.0.1 --port "$TLS_PORT" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" \
  >/dev/null 2>"$WORK/tls-log" &
TLS_PID=$!
trap 'kill $PID $TLS_PID 2>/dev/null || true; wait $PID $TLS_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null \
    && curl -sf --cacert "$WORK/cert.pem" "https://localhost:$TLS_PORT/health" >/dev/null && break
  sleep 0.05
done
export STRAND_ENDPOINT="http://127.0.0.1:$PORT"
export STRAND_TLS_ENDPOINT="https://localhost:$TLS_PORT"
status=0
echo "== TypeScript SDK (@s2-dev/streamstore) against $STRAND_ENDPOINT and $STRAND_TLS_ENDPOINT"
NODE_EXTRA_CA_CERTS="$WORK/cert.pem" node --test tests/ts/ || status=1
echo "== Python SDK (s2-sdk) against $STRAND_ENDPOINT and $STRAND_TLS_ENDPOINT"
SSL_CERT_FILE="$WORK/cert.pem" "$STRAND_PY" -m unittest discover -s tests/py -v || status=1
if [ $status -ne 0 ]; then
  echo "server log:"; tail -50 "$WORK/log"
  echo "TLS server log:"; tail -20 "$WORK/tls-log"
fi
exit $status
