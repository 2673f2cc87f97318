"""Snapshots between real processes.

One store is stopped while ~40 MB are written; a small raft-log-gc-count-limit makes the
leader truncate its log past it, so on restart it can only catch up by snapshot. The
snapshot goes as SST files streamed in 1 MiB chunks and is ingested from files: the
restarted store's peak memory (VmHWM) stays far below the region's size, and no snapshot
file is left behind on either side.
"""
import json
import os
import time

from test_raft_cluster import Cluster

CONFIG = """
raft-base-tick-interval = "50ms"
raft-heartbeat-ticks = 2
raft-election-timeout-ticks = 10
raft-log-gc-tick-interval = "200ms"
raft-log-gc-count-limit = 20
scheduler-heartbeat-tick-interval = "200ms"
scheduler-store-heartbeat-tick-interval = "200ms"
"""

MB = 1 << 20
VALUES = int(os.environ.get("TINYKV_SNAPSHOT_TEST_VALUES", "320"))
VALUE_SIZE = 128 * 1024  # 320 x 128 KiB = 40 MiB of incompressible values


def status_kb(pid, field):
    """A `VmRSS`/`VmHWM`-style field of /proc/<pid>/status, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def index_of(cluster, store_id):
    address = cluster.store_address(store_id)
    return next(i for i, p in cluster.ports.items() if f"127.0.0.1:{p}" == address)


def snap_files(workdir, index):
    path = workdir / f"store{index}" / "snap"
    return sorted(os.listdir(path)) if path.exists() else []


def test_stopped_store_catches_up_by_streamed_snapshot_with_bounded_memory(workdir):
    cluster = Cluster(workdir)
    (workdir / "store.toml").write_text(CONFIG)
    try:
        for index in range(3):
            cluster.start_store(index)
        cluster.wait_replicas(3)
        cluster.put(b"warm-up", b"1")
        _, leader = cluster.region()
        leader_index = index_of(cluster, leader.store_id)
        lagging, third = [i for i in range(3) if i != leader_index]
        # The lagging store's peak before its restart: a process that started, joined and
        # caught up on an empty region (by a snapshot too).
        baseline = status_kb(cluster.procs[lagging].proc.pid, "VmHWM")
        cluster.kill_store(lagging)

        rng = os.urandom
        written = {}
        started = time.time()
        for i in range(VALUES):
            key, value = f"big{i:04}".encode(), rng(VALUE_SIZE)
            cluster.put(key, value)
            written[key] = value
        print(f"wrote {VALUES * VALUE_SIZE / MB:.0f} MiB in {time.time() - started:.1f}s")
        time.sleep(1.5)  # several log GC ticks: the leader's log no longer reaches back to the stopped store

        cluster.start_store(lagging)
        receiver = cluster.procs[lagging].proc.pid
        sender = cluster.procs[leader_index].proc.pid
        # The third store wrote everything too but sends no snapshot: the sender's extra peak
        # over it is what sending cost. Without it, a write needs the restarted store: it must
        # have caught up.
        third_peak = status_kb(cluster.procs[third].proc.pid, "VmHWM")
        cluster.kill_store(third)
        started = time.time()
        cluster.put(b"after-catch-up", b"2", timeout=90)
        caught_up = time.time() - started
        receiver_peak = status_kb(receiver, "VmHWM")
        sender_peak = status_kb(sender, "VmHWM")

        for key, value in written.items():
            assert cluster.get(key) == value, key
        log = (workdir / f"store{lagging}.log").read_text(errors="replace")
        assert "applied snapshot" in log
        deadline = time.time() + 20
        while time.time() < deadline and (snap_files(workdir, lagging) or snap_files(workdir, leader_index)):
            time.sleep(0.2)
        assert snap_files(workdir, lagging) == [], "received snapshot files are deleted once applied"
        assert snap_files(workdir, leader_index) == [], "sent snapshot files are deleted once sent"

        region_bytes = VALUES * VALUE_SIZE
        result = {"region_mib": region_bytes / MB, "caught_up_s": round(caught_up, 2),
                  "receiver_baseline_hwm_mib": round(baseline / MB, 1), "receiver_hwm_mib": round(receiver_peak / MB, 1),
                  "sender_hwm_mib": round(sender_peak / MB, 1), "third_store_hwm_mib": round(third_peak / MB, 1)}
        print("snapshot memory:", json.dumps(result))
        (workdir / "snapshot-memory.json").write_text(json.dumps(result))
        # Holding the snapshot in memory costs several times its size (the chunks, the decoded
        # pairs, the write batch); streaming to files must stay well below one region.
        assert receiver_peak - baseline < region_bytes / 2, result
    finally:
        cluster.stop_all()
