#!/usr/bin/env bash
# Starts a local cluster in the foreground: one scheduler and the stores, with data under ${DATA:-./data}.
# Ctrl-C stops everything. The raft store is not in this build yet, so one standalone store serves all keys.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/debug}
DATA=${DATA:-./data}
SCHEDULER_PORT=${SCHEDULER_PORT:-2379}
STORE_PORT=${STORE_PORT:-20160}
mkdir -p "$DATA"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$BIN/tinyscheduler-server" --client-urls "http://127.0.0.1:$SCHEDULER_PORT" --data-dir "$DATA/scheduler" --name scheduler-1 &
pids+=($!)
"$BIN/tinykv-server" -scheduler "127.0.0.1:$SCHEDULER_PORT" -addr "127.0.0.1:$STORE_PORT" -path "$DATA/store-1" &
pids+=($!)

echo "scheduler on 127.0.0.1:$SCHEDULER_PORT, store on 127.0.0.1:$STORE_PORT (data in $DATA); Ctrl-C stops them"
wait -n "${pids[@]}"
