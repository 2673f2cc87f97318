#!/usr/bin/env bash
# `make bench`: a standard benchmark set on a fresh local cluster, side by side with a 3-member
# etcd on the same machine, measured by the neutral kvload tool and by tinykv-bench.
# Writes bench-results.md. Everything runs on loopback and stops by itself.
#
#   STORES (3) / RAFT (true): the TinyKV cluster to measure; SECONDS_PER_RUN (10); CONCURRENCY (64).
#   ROUNDS (3): both clusters run side by side and the compared workloads run in this many
#   interleaved rounds (TinyKV, etcd, TinyKV, ...); a comparison is the median of its per-round ratios.
#   BIN (.build/release): the binaries; OUT (bench-results.md): the results file.
#   SKIP_ETCD=1 skips the etcd side.
set -euo pipefail
cd "$(dirname "$0")/.."
STORES=${STORES:-3}
RAFT=${RAFT:-true}
RUN=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-3}
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
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; TinyKV: $STORES store(s), raft=$RAFT, release build; fsync on; 16-byte keys, 100-byte values; ${RUN}s per run; $ROUNDS interleaved round(s)."
  echo
  echo "| system | tool | workload | clients | round | ops/s | p50 ms | p99 ms | p99.9 ms |"
  echo "|---|---|---|---|---|---|---|---|---|"
} > "$OUT"

row() { # system tool round line
  local system=$1 tool=$2 round=$3 line=$4
  python3 - "$system" "$tool" "$round" "$line" "$WORK/rows.tsv" >> "$OUT" <<'PY'
import re, sys
system, tool, round_, line = sys.argv[1:5]
workload = line.split()[0]
ops = re.search(r"ops/s=\s*([\d.]+)", line).group(1)
p50 = re.search(r"p50(?:_ms)?=([\d.]+)", line).group(1)
p99 = re.search(r"p99(?:_ms)?=([\d.]+)", line).group(1)
p999 = re.search(r"p(?:999_ms|99\.9)=([\d.]+)", line).group(1)
conc = re.search(r"conc=\s*(\d+)", line).group(1)
print(f"| {system} | {tool} | {workload} | {conc} | {round_} | {float(ops):.0f} | {p50} | {p99} | {p999} |")
with open(sys.argv[5], "a") as raw:
    raw.write(f"{system}\t{workload}\t{conc}\t{round_}\t{ops}\t{p50}\t{p99}\n")
PY
  echo "$system $tool (round $round): $line"
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

# --- etcd 3.4 (Debian etcd-server), 3 members on loopback, running alongside (idle while TinyKV runs)
ETCD=0
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
  ETCD=1
fi

tinykv_kvload() { "$KVLOAD" --scheduler 127.0.0.1:2379 --seconds "$RUN" "$@"; }
etcd_kvload() { "$KVLOAD" --target 127.0.0.1:12379 --seconds "$RUN" "$@"; }
bench() { "$BIN/tinykv-bench" --duration "$RUN" "$@"; }
# The compared workloads, in rounds that alternate between the two systems: on a noisy machine
# (this VM's disk and CPU drift by tens of percent within minutes) a ratio of figures taken minutes
# apart says little; medians of interleaved rounds say more. Reads prefill their keys in round 1.
for ((round = 1; round <= ROUNDS; round++)); do
  prefill=(); [ "$round" = 1 ] && prefill=(--prefill)
  row TinyKV kvload "$round" "$(tinykv_kvload --workload raw-put --concurrency "$CONC")"
  [ "$ETCD" = 1 ] && row etcd kvload "$round" "$(etcd_kvload --workload etcd-put --concurrency "$CONC")"
  row TinyKV kvload "$round" "$(tinykv_kvload --workload raw-put --concurrency 1)"
  [ "$ETCD" = 1 ] && row etcd kvload "$round" "$(etcd_kvload --workload etcd-put --concurrency 1)"
  row TinyKV kvload "$round" "$(tinykv_kvload --workload raw-get --concurrency "$CONC" "${prefill[@]}")"
  [ "$ETCD" = 1 ] && row etcd kvload "$round" "$(etcd_kvload --workload etcd-get --concurrency "$CONC" "${prefill[@]}")"
  row TinyKV kvload "$round" "$(tinykv_kvload --workload txn-put --concurrency "$CONC")"
  # Raw put by the transactions' own client, just before them: their same-client baseline.
  row TinyKV tinykv-bench "$round" "$(bench --workload raw-put --concurrency "$CONC" | sed 's/^raw-put  */raw-put-filled /')"
  row TinyKV tinykv-bench "$round" "$(bench --workload txn --txn-keys 2 --concurrency "$CONC" --keys 100000)"
  # The same transactions without the reads (prewrite + commit only), reported as txn-writes.
  row TinyKV tinykv-bench "$round" "$(bench --workload txn --txn-keys 2 --no-txn-reads --concurrency "$CONC" --keys 100000 | sed 's/^txn  */txn-writes /')"
done
row TinyKV tinykv-bench 1 "$(bench --workload raw-mixed --concurrency "$CONC")"
row TinyKV tinykv-bench 1 "$(bench --workload tso --concurrency 1)"
row TinyKV tinykv-bench 1 "$(bench --workload tso --concurrency "$CONC")"
row TinyKV tinykv-bench 1 "$(bench --workload tso --concurrency 8 --tso-count 1000)"
stop_all
# --- The issue's targets, ours against etcd's figures of this same run. The figures shown are the
# medians of their rounds; a comparison is the median of its per-round ratios (each round measures
# both sides within a minute), and its last column lists those ratios.
python3 - "$WORK/rows.tsv" "$CONC" "$ROUNDS" >> "$OUT" <<'PY'
import statistics, sys
rounds = {}
for line in open(sys.argv[1]):
    system, workload, conc, round_, ops, p50, p99 = line.rstrip("\n").split("\t")
    rounds.setdefault((system, workload, conc), {})[int(round_)] = (float(ops), float(p50), float(p99))
conc, nrounds = sys.argv[2], int(sys.argv[3])
OPS, P50, P99 = 0, 1, 2
def get(system, workload, c=conc):
    """The median figures of a workload's rounds, or None."""
    r = rounds.get((system, workload, c))
    if not r: return None
    return tuple(statistics.median(v[i] for v in r.values()) for i in range(3))
def ratios(a, b, field):
    """a's figure over b's, for each round both ran in; a round in which b measured nothing (a
    run that completed no operation, e.g. a 1-second smoke run caught in a stall) has no ratio."""
    ra, rb = rounds.get(a, {}), rounds.get(b, {})
    return [ra[n][field] / rb[n][field] for n in sorted(ra) if n in rb and rb[n][field] > 0]
def median(values):
    return statistics.median(values) if values else None
def fmt(r): return f"{r[0]:.0f} ops/s, p50 {r[1]:.3f} ms, p99 {r[2]:.3f} ms" if r else "n/a"
print(f"\n## Targets (medians of {nrounds} round(s))\n")
print("| target | TinyKV | etcd | ratio | met | per round |")
print("|---|---|---|---|---|---|")
def line(name, ours, theirs, ratio, met, per_round=None):
    detail = ", ".join(f"{x:.2f}" for x in per_round) if per_round else ""
    print(f"| {name} | {fmt(ours)} | {fmt(theirs)} | {ratio} | {met} | {detail} |")
T, E = "TinyKV", "etcd"
def compare(name, ours, theirs, field=OPS, unit="x", show_theirs=True, ok=None):
    """One comparison: `ours` and `theirs` are (system, workload, clients); the ratio is the median
    of the per-round ratios of `field`; `ok(ratio)` decides "met" (no verdict without it)."""
    a, b = get(*ours), get(*theirs)
    if not (a and b): return None
    r = ratios(ours, theirs, field)
    ratio = median(r)
    if ratio is None:
        line(name, a, b if show_theirs else None, "n/a (no round measured both)", "" if ok is None else "no")
        return None
    line(name, a, b if show_theirs else None, f"{ratio:.2f}{unit}", "" if ok is None else ("yes" if ok(ratio) else "no"), r)
    return ratio
tail = median(ratios((T, "raw-put", conc), (E, "etcd-put", conc), P99))
compare("raw put >= 1.0x etcd put, p99 <= etcd's", (T, "raw-put", conc), (E, "etcd-put", conc),
        unit=f"x (p99 {tail:.2f}x)" if tail is not None else "x (p99 n/a)",
        ok=lambda ratio: ratio >= 1 and tail is not None and tail <= 1)
compare("linearizable get >= 1.5x etcd get", (T, "raw-get", conc), (E, "etcd-get", conc), ok=lambda ratio: ratio >= 1.5)
compare("1-client put p50 <= etcd's", (T, "raw-put", "1"), (E, "etcd-put", "1"), field=P50, unit="x latency", ok=lambda ratio: ratio <= 1)
txn = get(T, "txn-put")
if txn:
    line("kvload txn-put >= 6,000 txn/s", txn, None, f"{txn[0]/6000:.2f}x target", "yes" if txn[0] >= 6000 else "no")
for name, workload, base, ok in [
    ("2-key txn >= 0.3x raw put", "txn", "raw-put", lambda ratio: ratio >= 0.3),
    ("(2-key txn without the reads, for reference)", "txn-writes", "raw-put", None),
    ("(2-key txn against tinykv-bench's raw put just before it, the same client)", "txn", "raw-put-filled", None),
    ("(2-key txn without the reads, against the same raw put)", "txn-writes", "raw-put-filled", None),
]:
    compare(name, (T, workload, conc), (T, base, conc), unit="x raw put", show_theirs=False, ok=ok)
tso = get(T, "tso")
if tso:
    line("TSO unbatched >= 50,000 req/s", tso, None, f"{tso[0]/50000:.2f}x target", "yes" if tso[0] >= 50000 else "no")
# 8 streams, each request asking for 1,000 timestamps: timestamps/s = requests/s x 1,000.
batched = get(T, "tso", "8")
if batched:
    line("TSO batched >= 1,000,000 ts/s (8 streams x 1,000 per request)", batched, None,
         f"{batched[0] * 1000 / 1e6:.1f}M ts/s", "yes" if batched[0] * 1000 >= 1_000_000 else "no")
PY
echo
echo "results written to $OUT"
