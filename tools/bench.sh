#!/usr/bin/env bash
# `make bench`: a standard benchmark set on a fresh local cluster, side by side with a 3-member
# etcd on the same machine, measured by the neutral kvload tool and by tinykv-bench.
# Writes bench-results.md. Everything runs on loopback and stops by itself.
#
#   STORES (3) / RAFT (true): the TinyKV cluster to measure; SECONDS_PER_RUN (10); CONCURRENCY (64).
#   BIN (.build/release): the binaries; OUT (bench-results.md): the results file.
#   SKIP_ETCD=1 skips the etcd side.
set -euo pipefail
cd "$(dirname "$0")/.."
STORES=${STORES:-3}
RAFT=${RAFT:-true}
RUN=${SECONDS_PER_RUN:-10}
CONC=${CONCURRENCY:-64}
BIN=${BIN:-.build/release}
OUT=${OUT:-bench-results.md}
port_open() { (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null; }
# The ports are fixed (the commands in docs/benchmarks.md name them): a port already in use would
# make wait_port pass at once and the runs measure whatever listens there.
for port in 2379 $(seq 20160 $((20160 + STORES - 1))) 12379 12380 22379 22380 32379 32380; do
  if port_open "$port"; then
    echo "bench: port $port is already in use (a running cluster, or an etcd service started by its package?)" >&2
    exit 1
  fi
done
WORK=$(mktemp -d /tmp/tinykv-bench.XXXXXX)
KVLOAD_SRC=${KVLOAD_SRC:-../shared/tools/kvload}

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
finish() {
  local status=$?
  stop_all
  # The clusters' data (about 700 MB) goes at the end; after a failure it stays, with the logs.
  if [ "$status" = 0 ]; then rm -rf "$WORK"; else echo "bench: data and logs kept in $WORK" >&2; fi
}
trap finish EXIT INT TERM

wait_port() { for _ in $(seq 1 200); do port_open "$1" && return 0; sleep 0.1; done; echo "port $1 did not open"; exit 1; }

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
  python3 - "$system" "$tool" "$line" "$WORK/rows.tsv" >> "$OUT" <<'PY'
import re, sys
system, tool, line = sys.argv[1:4]
workload = line.split()[0]
ops = re.search(r"ops/s=\s*([\d.]+)", line).group(1)
p50 = re.search(r"p50(?:_ms)?=([\d.]+)", line).group(1)
p99 = re.search(r"p99(?:_ms)?=([\d.]+)", line).group(1)
p999 = re.search(r"p(?:999_ms|99\.9)=([\d.]+)", line).group(1)
conc = re.search(r"conc=\s*(\d+)", line).group(1)
print(f"| {system} | {tool} | {workload} | {conc} | {float(ops):.0f} | {p50} | {p99} | {p999} |")
with open(sys.argv[4], "a") as raw:
    raw.write(f"{system}\t{workload}\t{conc}\t{ops}\t{p50}\t{p99}\n")
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
row TinyKV kvload "$("$KVLOAD" --workload txn-put --scheduler 127.0.0.1:2379 --concurrency "$CONC" --seconds "$RUN")"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload raw-mixed --concurrency "$CONC" --duration "$RUN")"
# Raw put again, on the stores the workloads above filled: the transactions' own baseline.
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload raw-put --concurrency "$CONC" --duration "$RUN" | sed 's/^raw-put  */raw-put-filled /')"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload txn --txn-keys 2 --concurrency "$CONC" --keys 100000 --duration "$RUN")"
# The same transactions without the reads (prewrite + commit only), reported as txn-writes.
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload txn --txn-keys 2 --no-txn-reads --concurrency "$CONC" --keys 100000 --duration "$RUN" | sed 's/^txn  */txn-writes /')"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload tso --concurrency 1 --duration "$RUN")"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload tso --concurrency "$CONC" --duration "$RUN")"
row TinyKV tinykv-bench "$("$BIN/tinykv-bench" --workload tso --concurrency 8 --tso-count 1000 --duration "$RUN")"
stop_all

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
# --- The issue's targets, ours against etcd's figures of this same run.
python3 - "$WORK/rows.tsv" "$CONC" >> "$OUT" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    system, workload, conc, ops, p50, p99 = line.rstrip("\n").split("\t")
    rows[(system, workload, conc)] = (float(ops), float(p50), float(p99))
conc = sys.argv[2]
def get(system, workload, c=conc): return rows.get((system, workload, c))
print("\n## Targets\n")
print("| target | TinyKV | etcd | ratio | met |")
print("|---|---|---|---|---|")
def fmt(r): return f"{r[0]:.0f} ops/s, p50 {r[1]} ms, p99 {r[2]} ms" if r else "n/a"
def line(name, ours, theirs, ratio, met):
    print(f"| {name} | {fmt(ours)} | {fmt(theirs)} | {ratio} | {met} |")
put, eput = get("TinyKV", "raw-put"), get("etcd", "etcd-put")
if put and eput:
    line("raw put >= 1.0x etcd put, p99 <= etcd's", put, eput, f"{put[0]/eput[0]:.2f}x", "yes" if put[0] >= eput[0] and put[2] <= eput[2] else "no")
get_, eget = get("TinyKV", "raw-get"), get("etcd", "etcd-get")
if get_ and eget:
    line("linearizable get >= 1.5x etcd get", get_, eget, f"{get_[0]/eget[0]:.2f}x", "yes" if get_[0] >= 1.5 * eget[0] else "no")
one, eone = get("TinyKV", "raw-put", "1"), get("etcd", "etcd-put", "1")
if one and eone:
    line("1-client put p50 <= etcd's", one, eone, f"{one[1]/eone[1]:.2f}x latency", "yes" if one[1] <= eone[1] else "no")
txn = get("TinyKV", "txn-put")
if txn:
    line("kvload txn-put >= 6,000 txn/s", txn, None, f"{txn[0]/6000:.2f}x target", "yes" if txn[0] >= 6000 else "no")
txn2 = get("TinyKV", "txn")
if txn2 and put:
    line("2-key txn >= 0.3x raw put", txn2, None, f"{txn2[0]/put[0]:.2f}x raw put", "yes" if txn2[0] >= 0.3 * put[0] else "no")
writes = get("TinyKV", "txn-writes")
if writes and put:
    line("(2-key txn without the reads, for reference)", writes, None, f"{writes[0]/put[0]:.2f}x raw put", "")
filled = get("TinyKV", "raw-put-filled")
if txn2 and filled:
    line("(2-key txn against a raw put on the same filled stores, just before it)", txn2, None, f"{txn2[0]/filled[0]:.2f}x raw put", "")
tso = get("TinyKV", "tso")
if tso:
    line("TSO unbatched >= 50,000 req/s", tso, None, f"{tso[0]/50000:.2f}x target", "yes" if tso[0] >= 50000 else "no")
# 8 streams, each request asking for 1,000 timestamps: timestamps/s = requests/s x 1,000.
batched = get("TinyKV", "tso", "8")
if batched:
    line("TSO batched >= 1,000,000 ts/s (8 streams x 1,000 per request)", batched, None,
         f"{batched[0] * 1000 / 1e6:.1f}M ts/s", "yes" if batched[0] * 1000 >= 1_000_000 else "no")
PY
echo
echo "results written to $OUT"
