"""tinykv-bench against a real replicated cluster (1 scheduler + 3 raft stores): every workload
completes operations without errors, the JSON report is well formed, and the write-only
transaction variant really writes (its keys are readable afterwards through KvGet).
"""
import json
import subprocess

import kvrpcpb_pb2 as kv
import schedulerpb_pb2 as pd
from conftest import BIN
from test_raft_cluster import Cluster
import pytest


@pytest.fixture
def cluster(workdir):
    c = Cluster(workdir)
    for index in (1, 2, 3):
        c.start_store(index)
    c.put(b"bench-ready", b"1")
    c.wait_replicas(3)
    yield c
    c.stop_all()


def bench(cluster, *args):
    result = subprocess.run(
        [str(BIN / "tinykv-bench"), "--scheduler", f"127.0.0.1:{cluster.pd_port}", "--duration", "1",
         "--warmup", "0.2", "--concurrency", "4", "--keys", "200", "--json", "--no-progress", *args],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("args", [
    ["--workload", "raw-put"],
    ["--workload", "raw-get", "--prefill"],
    ["--workload", "txn", "--txn-keys", "2"],
    ["--workload", "txn", "--txn-keys", "2", "--no-txn-reads"],
    ["--workload", "tso"],
    ["--workload", "tso", "--tso-count", "100"],
])
def test_every_workload_completes_without_errors(cluster, args):
    report = bench(cluster, *args)
    assert report["operations"] > 0, report
    assert report["errors"] == 0, report


def test_write_only_transactions_commit_their_writes(cluster):
    report = bench(cluster, "--workload", "txn", "--txn-keys", "2", "--no-txn-reads", "--keys", "10", "--key-size", "8")
    assert report["operations"] > 0, report
    # With 10 keys and 4 clients, every key was written (and committed) with overwhelming odds;
    # read them at a timestamp above every commit.
    ts = cluster.pd_stub.Tso(iter([pd.TsoRequest(header=cluster.header(), count=1)]))
    stamp = next(ts).timestamp
    version = stamp.physical << 18 | stamp.logical
    found = 0
    for index in range(10):
        key = f"key{index:05d}".encode()
        response = cluster._call("KvGet", lambda ctx: kv.GetRequest(context=ctx, key=key, version=version))
        found += 0 if response.not_found else 1
    assert found >= 8, f"only {found} of 10 keys were committed"
