#!/usr/bin/env bash
# `make bench`: a standard benchmark set on a fresh local cluster, side by side with a 3-member
# etcd on the same machine, measured by the neutral kvload tool and by tinykv-bench.
# Writes bench-results.md. Everything runs on loopback and stops by itself.
#
#   STORES (3) / RAFT (true): the TinyKV cluster to measure; SECONDS_PER_RUN (10); CONCURRENCY (64).
#   SKIP_ETCD=1 skips the etcd side.
set -euo pipefail
cd "$(dirname "$0")/.."
STORES=${STORES:-3}
RAFT=${RAFT:-true}
RUN=${SECONDS_PER_RUN:-10}
CONC=${CONCURRENCY:-64}
BIN=.build/release
OUT=bench-results.md
WORK=$(mktemp -d /tmp/tinykv-bench.XXXXXX)
KVLOAD_SRC=${KVLOAD_SRC:-../shared/tools/kvload}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_port() { for _ in $(seq 1 200); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open"; exit 1; }

# kvload: built from the shared source into the work dir.
cp -r "$KVLOAD_SRC" "$WORK/kvload"
make -s -C "$WORK/kvload" >/dev/null
KVLOAD="$WORK/kvload/kvload"

{
  echo "# Benchmark results"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; TinyKV: $STORES store(s), raft=$RAFT, release build; fsync on; 16-byte keys, 100-byte values; ${RUN}s per run."
  echo
  echo "| system | tool | workload | clients | ops/s | p50 ms | p99 ms | p99.9 ms |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$OUT"

row() { # system tool line
  local system=$1 tool=$2 line=$3
  python3 - "$system" "$tool" "$line" >> "$OUT" <<'PY'
import re, sys
system, tool, line = sys.argv[1:4]
workload = line.split()[0]
ops = re.search(r"ops/s=\s*([\d.]+)", line).group(1)
p50 = re.search(r"p50(?:_ms)?=([\d.]+)", line).group(1)
p99 = re.search(r"p99(?:_ms)?=([\d.]+)", line).group(1)
p999 = re.search(r"p(?:999_ms|99\.9)=([\d.]+)", line).group(1)
conc = re.search(r"conc=\s*(\d+)", line).group(1)
print(f"| {system} | {tool} | {workload} | {conc} | {float(ops):.0f} | {p50} | {p99} | {p999} |")
PY
  echo "$system $tool: $line"
}

# --- TinyKV
mkdir -p "$WORK/tinykv"
"$BIN/tinyscheduler-server" --client-urls http://127.0.0.1:2379 --data-dir "$WORK/tinykv/pd" --name bench-pd >"$WORK/pd.log" 2>&1 &
pids+=($!)
wait_port 2379
for ((n = 1; n <= STORES; n++)); do
  port=$((20160 + n - 1))
  cat > "$WORK/store-$n.toml" <<TOML
raft = $RAFT
TOML
  "$BIN/tinykv-server" -config "$WORK/store-$n.toml" -scheduler 127.0.0.1:2379 -addr "127.0.0.1:$port" -path "$WORK/tinykv/s$n" >"$WORK/store-$n.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
done
# Wait until the scheduler routes keys (the first region is known, with all its replicas when raft is on).
STUBS_OK=0
for _ in $(seq 1 300); do
  if "$BIN/tinykv-ctl" raw put bench-ready 1 --scheduler 127.0.0.1:2379 >/dev/null 2>&1; then STUBS_OK=1; break; fi
  sleep 0.2
done
[ "$STUBS_OK" = 1 ] || { echo "the cluster did not become ready"; exit 1; }
if [ "$RAFT" = true ] && [ "$STORES" -ge 3 ]; then
  for _ in $(seq 1 300); do
    peers=$("$BIN/tinykv-ctl" region show bench-ready --scheduler 127.0.0.1:2379 --format json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("peers", [])))' 2>/dev/null || echo 0)
    [ "$peers" -ge 3 ] && break
    sleep 0.2
  done
fi

row TinyKV kvload "$("$KVLOAD" --workload raw-put --scheduler 127.0.0.1:2379 --concurrency "$CONC" --seconds "$RUN")"
row TinyKV kvload "$("$KVLOAD" --workload raw-get --scheduler 127.0.0.1:2379 --concurrency "$CONC" --seconds "$RUN" --prefill)"
row TinyKV kvload "$("$KVLOAD" --workload raw-put --scheduler 127.0.0.1:2379 --concurrency 1 --seconds "$RUN")"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload raw-mixed --concurrency "$CONC" --duration "$RUN")"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload txn --concurrency 32 --keys 100000 --duration "$RUN")"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload tso --concurrency 1 --duration "$RUN")"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload tso --concurrency 8 --duration "$RUN")"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload tso --concurrency 8 --tso-count 1000 --duration "$RUN")"
cleanup
pids=()

# --- etcd 3.4 (Debian etcd-server), 3 members on loopback
if [ "${SKIP_ETCD:-0}" != 1 ] && command -v etcd >/dev/null; then
  cluster="n1=http://127.0.0.1:12380,n2=http://127.0.0.1:22380,n3=http://127.0.0.1:32380"
  for n in 1 2 3; do
    etcd --name "n$n" --data-dir "$WORK/etcd-$n" \
      --listen-client-urls "http://127.0.0.1:${n}2379" --advertise-client-urls "http://127.0.0.1:${n}2379" \
      --listen-peer-urls "http://127.0.0.1:${n}2380" --initial-advertise-peer-urls "http://127.0.0.1:${n}2380" \
      --initial-cluster "$cluster" --log-level error >"$WORK/etcd-$n.log" 2>&1 &
    pids+=($!)
  done
  wait_port 12379; sleep 2
  row etcd kvload "$("$KVLOAD" --workload etcd-put --target 127.0.0.1:12379 --concurrency "$CONC" --seconds "$RUN")"
  row etcd kvload "$("$KVLOAD" --workload etcd-get --target 127.0.0.1:12379 --concurrency "$CONC" --seconds "$RUN" --prefill)"
  row etcd kvload "$("$KVLOAD" --workload etcd-put --target 127.0.0.1:12379 --concurrency 1 --seconds "$RUN")"
fi
echo
echo "results written to $OUT"
