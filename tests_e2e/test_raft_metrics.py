"""A raft store's /metrics: raft proposals, appends, applies, elections and reads are counted."""
import time

import grpc

import kvrpcpb_pb2 as kv
import tinykvpb_pb2_grpc as tinykv

from conftest import BIN, Process, free_port, metrics_text, sample, wait_port


def test_raft_store_metrics(workdir):
    pd_port, kv_port, status = free_port(), free_port(), free_port()
    pd = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{pd_port}",
                  "--data-dir", str(workdir / "pd")], str(workdir / "pd.log"))
    (workdir / "s.toml").write_text('raft-base-tick-interval = "50ms"\n')
    store = Process([str(BIN / "tinykv-server"), "-scheduler", f"127.0.0.1:{pd_port}", "-addr", f"127.0.0.1:{kv_port}",
                     "-path", str(workdir / "s1"), "-status-addr", f"127.0.0.1:{status}", "-config", str(workdir / "s.toml")],
                    str(workdir / "s1.log"))
    try:
        wait_port(pd_port, pd.proc)
        wait_port(status, store.proc)
        stub = tinykv.TinyKvStub(grpc.insecure_channel(f"127.0.0.1:{kv_port}"))
        deadline = time.time() + 20
        while time.time() < deadline:
            r = stub.RawPut(kv.RawPutRequest(key=b"m0", value=b"v", cf="default"))
            if not r.HasField("region_error") and not r.error:
                break
            time.sleep(0.1)
        for i in range(1, 10):
            assert not stub.RawPut(kv.RawPutRequest(key=b"m%d" % i, value=b"v", cf="default")).HasField("region_error")
        assert stub.RawGet(kv.RawGetRequest(key=b"m5", cf="default")).value == b"v"
        text = metrics_text(status)
        assert sample(text, "tinykv_raftstore_proposals_total") >= 10
        assert sample(text, "tinykv_raftstore_applied_entries_total") >= 10
        assert sample(text, "tinykv_raftstore_appended_entries_total") >= 10
        assert sample(text, "tinykv_raftstore_append_duration_seconds_count") >= 1
        assert sample(text, "tinykv_raftstore_apply_duration_seconds_count") >= 1
        # Every write that was answered was proposed and committed first.
        assert sample(text, "tinykv_raftstore_proposal_duration_seconds_count") >= 10
        assert sample(text, "tinykv_raftstore_commit_log_duration_seconds_count") >= 10
        assert sample(text, "tinykv_raftstore_became_leader_total") >= 1
        # The read is served from the leader's lease, or confirmed by ReadIndex when the lease is not (yet) held.
        reads = (sample(text, "tinykv_raftstore_read_index_total") or 0) + (sample(text, "tinykv_raftstore_lease_reads_total") or 0)
        assert reads >= 1
        assert sample(text, "tinykv_region_count") is not None
    finally:
        store.stop()
        pd.stop()
