#!/usr/bin/env bash
# Profiles the server under saturated appends (issue 11, docs/PERFORMANCE.md).
#
#   bench/profile.sh [memory|local] [streams] [seconds]
#
# Starts target/release/strand, drives it with `strand-bench run append`, records the
# server with `perf record -g` for the run, and prints: throughput, server CPU seconds and
# CPU ms per MiB appended, then the hottest symbols (self time) and a coarse split by
# component. Output files go to target/profile/.
set -euo pipefail
store=${1:-memory}
streams=${2:-8}
secs=${3:-15}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/target/profile
mkdir -p "$out"
port=$((20000 + RANDOM % 20000))
args=(--bind 127.0.0.1 --port "$port" ${STRAND_ARGS:-})
if [ "$store" = local ]; then
    rm -rf "$out/data"
    args+=(--local-root "$out/data")
fi
env RUST_LOG=warn ${STRAND_ENV:-} "$root/target/release/strand" "${args[@]}" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
done
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
tck=$(getconf CLK_TCK)
perf record -g -F 499 -p "$server" -o "$out/perf.data" -- sleep $((secs + 2)) 2>/dev/null &
perfpid=$!
before=$(cpu)
"$root/target/release/strand-bench" run append --endpoint "http://127.0.0.1:$port" \
    --streams "$streams" --batch-records 16 --duration "$secs" --warmup 1 \
    --json "$out/append.json" >"$out/append.txt" 2>&1
after=$(cpu)
wait $perfpid || true
mib=$(python3 -c "import json;d=json.load(open('$out/append.json'));print(d.get('mib_per_sec') or d['throughput']['mib_per_sec'])" 2>/dev/null || echo "?")
cpu_s=$(python3 -c "print(($after-$before)/$tck)")
echo "store=$store streams=$streams: $mib MiB/s over ${secs}s, server CPU ${cpu_s}s"
python3 -c "m='$mib'; print('CPU ms per MiB: %.1f' % (1000*$cpu_s/(float(m)*$secs)) if m!='?' else '')"
perf report -i "$out/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | head -40 >"$out/top.txt"
cat "$out/top.txt"
