#!/usr/bin/env bash
# One `s2 bench` run against Strand (release build) or `s2 lite`, in memory or on a local
# directory, printing MiB/s, ack and end-to-end p50/p99, server CPU seconds and peak RSS.
# Build first: cargo build --release --bin strand; the s2 CLI comes from scripts/tools.sh.
# usage: bench.sh strand|lite memory|local TARGET_MIBPS DURATION
set -u
kind=$1; store=$2; target=$3; dur=$4
port=$((8300 + RANDOM % 500))
dir=$(mktemp -d)
args=()
if [ "$kind" = strand ]; then
  bin="$(dirname "$0")/../target/release/strand"; args=(--bind 127.0.0.1 --port $port)
  [ "$store" = local ] && args+=(--local-root $dir)
else
  bin=$HOME/.cache/strand/s2-cli-0.43.4/bin/s2; args=(lite --port $port)
  [ "$store" = local ] && args+=(--local-root $dir)
fi
"$bin" "${args[@]}" >/dev/null 2>&1 &
pid=$!
until curl -sf localhost:$port/health >/dev/null; do sleep 0.05; done
export S2_ACCOUNT_ENDPOINT=http://localhost:$port S2_BASIN_ENDPOINT=http://localhost:$port S2_ACCESS_TOKEN=x
S2=$HOME/.cache/strand/s2-cli-0.43.4/bin/s2
$S2 create-basin bench-basin-1 >/dev/null 2>&1
t0=$(awk '{print $14+$15}' /proc/$pid/stat)
out=$(timeout 120 $S2 bench bench-basin-1 -t $target -d $dur -w 1s 2>&1)
t1=$(awk '{print $14+$15}' /proc/$pid/stat)
hwm=$(grep VmHWM /proc/$pid/status | awk '{print $2}')
kill -TERM $pid; wait $pid 2>/dev/null; rm -rf $dir
w=$(echo "$out" | grep '^Write:' | awk '{print $2}')
ackp50=$(echo "$out" | grep '^p50' | awk '{print $3}'); ackp99=$(echo "$out" | grep '^p99' | awk '{print $3}')
e2ep50=$(echo "$out" | grep '^p50' | awk '{print $6}'); e2ep99=$(echo "$out" | grep '^p99' | awk '{print $6}')
echo "$kind $store target=$target write_mibps=$w ack_p50=$ackp50 ack_p99=$ackp99 e2e_p50=$e2ep50 e2e_p99=$e2ep99 cpu_s=$(echo "scale=2;($t1-$t0)/100" | bc) peak_rss_mb=$((hwm/1024))"
