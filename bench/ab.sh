#!/usr/bin/env bash
# Compares server variants under saturated appends, alternating them run by run so that
# machine noise falls on each alike (issue 11; docs/PERFORMANCE.md quotes its medians).
#
#   bench/ab.sh RUNS STREAMS SECONDS 'name|binary|env|args' 'name|binary|env|args' ...
#
# Each variant is a server binary with extra environment (space-separated VAR=value) and
# extra flags; `STORE=local` runs each on a fresh local root instead of in memory,
# `WORKLOAD` and `BENCH_ARGS` choose another workload or its flags (for example
# `WORKLOAD=latency BENCH_ARGS="--rate-mibps 50 --batch-records 8"`). Prints a
# line per run (MiB/s, server CPU ms per MiB, ack p50/p99/p99.9/max, the server's peak
# RSS) and the medians.
set -euo pipefail
runs=$1 streams=$2 secs=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${BENCH:-$root/target/release/strand-bench}
out=$(mktemp -d)
tck=$(getconf CLK_TCK)
one() { # name binary env args -> appends a result line to $out/name
    local name=$1 bin=$2 envs=$3 args=$4
    local port=$((20000 + RANDOM % 20000)) extra=()
    if [ "${STORE:-memory}" = local ]; then
        rm -rf "$out/data"
        extra=(--local-root "$out/data")
    fi
    # shellcheck disable=SC2086
    env RUST_LOG=error $envs "$bin" --bind 127.0.0.1 --port "$port" ${extra[@]+"${extra[@]}"} $args \
        >"$out/server.log" 2>&1 &
    local server=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
        sleep 0.1
    done
    local before after
    before=$(awk '{print $14 + $15}' "/proc/$server/stat")
    # shellcheck disable=SC2086
    "$bench" run "${WORKLOAD:-append}" --endpoint "http://127.0.0.1:$port" --streams "$streams" \
        ${BENCH_ARGS:---batch-records 16} --duration "$secs" --warmup 2 --json "$out/r.json" \
        >/dev/null 2>&1 || true
    after=$(awk '{print $14 + $15}' "/proc/$server/stat")
    local hwm
    hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$server/status")
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    python3 - "$out/r.json" "$(( after - before ))" "$tck" "$secs" "$name" "$hwm" >>"$out/$name" <<'EOF'
import json, sys
path, ticks, tck, secs, name, hwm = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception:
    print(f"{name} 0 0 0 0 0 0 {hwm}"); sys.exit()
lat = next((l for l in d["latencies"] if "ack" in l["name"]), d["latencies"][0])
mib = d["mib_per_sec"]
# CPU over warm-up plus measurement, bytes over the measurement: an upper bound.
cpu_ms = 1000 * int(ticks) / int(tck)
per = cpu_ms / (mib * float(d["measured_secs"])) if mib else 0
print(f"{name} {mib:.1f} {per:.2f} {lat['p50_ms']:.1f} {lat['p99_ms']:.1f} {lat['p999_ms']:.1f} {lat['max_ms']:.1f} {hwm}")
EOF
    tail -1 "$out/$name"
}
echo "variant MiB/s cpu_ms/MiB p50 p99 p99.9 max (ms) peak_rss_MiB"
for _ in $(seq "$runs"); do
    for v in "$@"; do
        IFS='|' read -r name bin envs args <<<"$v"
        one "$name" "$bin" "$envs" "$args"
    done
done
echo "medians:"
for v in "$@"; do
    IFS='|' read -r name _ <<<"$v"
    python3 - "$out/$name" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
cols = list(zip(*[[float(x) for x in r[1:]] for r in rows]))
print(rows[0][0], " ".join(f"{statistics.median(c):.1f}" for c in cols))
EOF
done
rm -rf "$out"
