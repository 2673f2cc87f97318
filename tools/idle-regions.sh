#!/bin/sh
# Idle-region cost of raft stores (issue 11): builds the release binaries if needed, creates
# ~10,000 regions through real splits on 3 stores, restarts them with default ticks, and
# measures each store's CPU share and RSS while idle. See tools/idle_regions.py for options.
set -e
cd "$(dirname "$0")/.."
BIN="${TINYKV_BIN:-.build/release}"
if [ ! -x "$BIN/tinykv-server" ]; then swift build -c release; fi
exec .venv/bin/python tools/idle_regions.py --bin "$BIN" "$@"
