#!/usr/bin/env bash
# Starts a local cluster in the foreground: one scheduler and the stores, on loopback, with
# data under ${DATA:-./data}. Ctrl-C stops everything cleanly.
#
#   STORES   how many stores (default 3).
#   RAFT     true (default): raft stores that join through the scheduler, which grows the first
#            region to three replicas; false: one standalone store (set STORES=1).
#   BIN      where the binaries are (default .build/debug), DATA where the data goes.
#   SCHEDULER_PORT (2379), STORE_PORT (20160, then +1 per store), status ports: scheduler
#   2380 (SCHEDULER_STATUS_PORT), stores 20180 (+1 per store; STORE_STATUS_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
STORES=${STORES:-3}
RAFT=${RAFT:-true}
BIN=${BIN:-.build/debug}
DATA=${DATA:-./data}
SCHEDULER_PORT=${SCHEDULER_PORT:-2379}
SCHEDULER_STATUS_PORT=${SCHEDULER_STATUS_PORT:-2380}
STORE_PORT=${STORE_PORT:-20160}
STORE_STATUS_PORT=${STORE_STATUS_PORT:-20180}
mkdir -p "$DATA"

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "stopping the cluster..."
  # Stores first, then the scheduler, each with SIGTERM (graceful shutdown).
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped; data kept in $DATA"
}
trap cleanup EXIT INT TERM

# The embedded default configs (written each run; edit the variables above, not the files).
cat > "$DATA/scheduler.toml" <<TOML
name = "scheduler-1"
data-dir = "$DATA/scheduler"
client-urls = "http://127.0.0.1:$SCHEDULER_PORT"
status-addr = "127.0.0.1:$SCHEDULER_STATUS_PORT"
log-level = "info"
TOML
"$BIN/tinyscheduler-server" --config "$DATA/scheduler.toml" >"$DATA/scheduler.log" 2>&1 &
pids+=($!)

for ((n = 1; n <= STORES; n++)); do
  port=$((STORE_PORT + n - 1))
  status=$((STORE_STATUS_PORT + n - 1))
  cat > "$DATA/store-$n.toml" <<TOML
addr = "127.0.0.1:$port"
scheduler-addr = "127.0.0.1:$SCHEDULER_PORT"
db-path = "$DATA/store-$n"
status-addr = "127.0.0.1:$status"
raft = $RAFT
log-level = "info"
# Faster than the original's 1s base tick, so a local cluster elects leaders in about a second.
raft-base-tick-interval = "100ms"
scheduler-heartbeat-tick-interval = "1s"
scheduler-store-heartbeat-tick-interval = "2s"
TOML
  "$BIN/tinykv-server" -config "$DATA/store-$n.toml" >"$DATA/store-$n.log" 2>&1 &
  pids+=($!)
done

# Wait until every server answers on its status port.
for ((try = 0; try < 100; try++)); do
  ok=1
  curl -fs "http://127.0.0.1:$SCHEDULER_STATUS_PORT/status" >/dev/null 2>&1 || ok=0
  for ((n = 1; n <= STORES; n++)); do
    curl -fs "http://127.0.0.1:$((STORE_STATUS_PORT + n - 1))/status" >/dev/null 2>&1 || ok=0
  done
  [ $ok = 1 ] && break
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "a server exited early; see $DATA/*.log"; exit 1; }; done
  sleep 0.1
done

CTL="$BIN/tinykv-ctl"
cat <<INFO
TinyKV local cluster is up ($STORES store(s), raft=$RAFT); logs and data in $DATA
  scheduler  127.0.0.1:$SCHEDULER_PORT   status http://127.0.0.1:$SCHEDULER_STATUS_PORT/status  metrics /metrics
INFO
for ((n = 1; n <= STORES; n++)); do
  echo "  store $n    127.0.0.1:$((STORE_PORT + n - 1))  status http://127.0.0.1:$((STORE_STATUS_PORT + n - 1))/status  metrics /metrics"
done
cat <<INFO

Try, in another terminal (the ctl defaults to 127.0.0.1:2379 and 127.0.0.1:20160):
  export TINYKV_SCHEDULER=127.0.0.1:$SCHEDULER_PORT TINYKV_STORE=127.0.0.1:$STORE_PORT
  $CTL cluster status
  $CTL raw put hello world && $CTL raw get hello
  $CTL txn put a 1 b 2 && $CTL txn scan --format json
  $CTL region show hello
  $CTL tso
  grpcurl -plaintext 127.0.0.1:$STORE_PORT list
  grpcurl -plaintext 127.0.0.1:$STORE_PORT describe tinykvpb.TinyKv
  grpcurl -plaintext -d '{"key":"aGVsbG8=","cf":"default"}' 127.0.0.1:$STORE_PORT tinykvpb.TinyKv/RawGet
  curl -s http://127.0.0.1:$((STORE_STATUS_PORT))/metrics | grep grpc_server_handled_total

Ctrl-C stops the cluster.
INFO
# Exit (and clean up) as soon as any server stops.
wait -n "${pids[@]}"
echo "a server exited; see $DATA/*.log"
