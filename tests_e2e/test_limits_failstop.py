"""Request limits (RESOURCE_EXHAUSTED), deadlines, and fail-stop after an injected disk failure."""
import time

import grpc
import pytest

import kvrpcpb_pb2 as kv
import tinykvpb_pb2_grpc as tinykv

from conftest import BIN, Process, free_port, wait_port

BIG = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]


def start_store(workdir, *extra, env=None, port=None, log="server.log"):
    port = port or free_port()
    proc = Process([str(BIN / "tinykv-server"), "-addr", f"127.0.0.1:{port}", "-path", str(workdir / "data"), *extra],
                   str(workdir / log), env=env)
    wait_port(port, proc.proc)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=BIG)
    return proc, tinykv.TinyKvStub(channel), port


def exhausted(call, *args):
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value
    return info.value.details()


def test_default_limits(workdir):
    proc, stub, _ = start_store(workdir)
    try:
        ok_key, big_key = b"k" * 8192, b"k" * 8193
        assert stub.RawPut(kv.RawPutRequest(key=ok_key, value=b"v")).error == ""
        assert "max-key-size" in exhausted(stub.RawPut, kv.RawPutRequest(key=big_key, value=b"v"))
        assert "max-key-size" in exhausted(stub.RawGet, kv.RawGetRequest(key=big_key))
        assert "max-key-size" in exhausted(stub.KvGet, kv.GetRequest(key=big_key, version=5))
        m = kv.Mutation(op=kv.Put, key=big_key, value=b"v")
        assert "max-key-size" in exhausted(stub.KvPrewrite, kv.PrewriteRequest(mutations=[m], primary_lock=b"p", start_version=1))
        # Values: one write carries at most raft-entry-max-size (8 MiB) of keys and values.
        assert stub.RawPut(kv.RawPutRequest(key=b"v", value=b"x" * ((8 << 20) - 1))).error == ""
        assert "raft-entry-max-size" in exhausted(stub.RawPut, kv.RawPutRequest(key=b"v", value=b"x" * (8 << 20)))
        # Messages over max-grpc-message-size (16 MiB) are refused by the transport.
        with pytest.raises(grpc.RpcError) as info:
            stub.RawPut(kv.RawPutRequest(key=b"v", value=b"x" * (17 << 20)), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Scans: 0 and up to 10240 are fine, more is refused rather than clamped.
        assert len(stub.RawScan(kv.RawScanRequest(start_key=b"", limit=0)).kvs) == 0
        assert len(stub.RawScan(kv.RawScanRequest(start_key=b"", limit=10240)).kvs) == 2
        for limit in [10241, 2**32 - 1]:
            assert "max-scan-limit" in exhausted(stub.RawScan, kv.RawScanRequest(start_key=b"", limit=limit))
            assert "max-scan-limit" in exhausted(stub.KvScan, kv.ScanRequest(start_key=b"", limit=limit, version=9))
        assert stub.RawGet(kv.RawGetRequest(key=ok_key)).value == b"v"
    finally:
        proc.stop()


def test_limits_from_config_file(workdir):
    config = workdir / "store.toml"
    config.write_text('max-key-size = "1KiB"\nraft-entry-max-size = "64KiB"\nmax-scan-limit = 5\n'
                      'max-grpc-message-size = "128KiB"\n')
    proc, stub, _ = start_store(workdir, "-config", str(config))
    try:
        assert stub.RawPut(kv.RawPutRequest(key=b"k" * 1024, value=b"v")).error == ""
        assert "1024" in exhausted(stub.RawPut, kv.RawPutRequest(key=b"k" * 1025, value=b"v"))
        assert "65536" in exhausted(stub.RawPut, kv.RawPutRequest(key=b"k", value=b"v" * 65536))
        assert "max-scan-limit (5)" in exhausted(stub.RawScan, kv.RawScanRequest(limit=6))
        with pytest.raises(grpc.RpcError) as info:
            stub.RawPut(kv.RawPutRequest(key=b"k", value=b"v" * (200 << 10)), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        proc.stop()
    bad = workdir / "bad.toml"
    bad.write_text('max-key-size = "1MiB"\nraft-entry-max-size = "64KiB"\n')
    out = Process([str(BIN / "tinykv-server"), "-config", str(bad), "-path", str(workdir / "d2")], str(workdir / "bad.log"))
    assert out.proc.wait(timeout=30) != 0
    out.stop()
    assert "raft-entry-max-size" in out.output()


def test_deadlines_are_honoured(workdir):
    proc, stub, _ = start_store(workdir)
    try:
        # Enough data that a full scan takes a while.
        mutations = [kv.Mutation(op=kv.Put, key=b"key%05d" % i, value=b"v" * 100) for i in range(8000)]
        assert not stub.KvPrewrite(kv.PrewriteRequest(mutations=mutations, primary_lock=b"key00000",
                                                      start_version=10, lock_ttl=100), timeout=60).errors
        stub.KvCommit(kv.CommitRequest(keys=[m.key for m in mutations], start_version=10, commit_version=11), timeout=60)
        exceeded = 0
        for _ in range(10):
            started = time.time()
            try:
                stub.KvScan(kv.ScanRequest(start_key=b"", limit=10240, version=20), timeout=0.002)
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
                exceeded += 1
            assert time.time() - started < 1.0
        assert exceeded > 0
        assert len(stub.KvScan(kv.ScanRequest(start_key=b"", limit=10240, version=20), timeout=30).pairs) == 8000
        assert stub.RawPut(kv.RawPutRequest(key=b"after", value=b"ok"), timeout=5).error == ""
    finally:
        proc.stop()


@pytest.mark.parametrize("failpoint,cause", [("engine.write=after(20):eio", "Input/output error"),
                                             ("engine.sync=after(20):enospc", "No space left on device")])
def test_failed_disk_write_stops_writes_not_reads(workdir, failpoint, cause):
    proc, stub, port = start_store(workdir, env={"TINYKV_FAILPOINTS": failpoint})
    try:
        acked = []
        for i in range(20):
            r = stub.RawPut(kv.RawPutRequest(key=b"k%02d" % i, value=b"v%d" % i))
            assert r.error == "", r.error
            acked.append(i)
        failed = stub.RawPut(kv.RawPutRequest(key=b"k20", value=b"v20"))
        assert cause in failed.error, failed.error
        # Fail-stop: every later write is refused, naming the cause; reads go on.
        for i in range(21, 25):
            r = stub.RawPut(kv.RawPutRequest(key=b"k%02d" % i, value=b"x"))
            assert "stopped serving writes" in r.error and cause in r.error, r.error
        assert "stopped serving writes" in stub.RawDelete(kv.RawDeleteRequest(key=b"k01")).error
        m = kv.Mutation(op=kv.Put, key=b"t1", value=b"v")
        pw = stub.KvPrewrite(kv.PrewriteRequest(mutations=[m], primary_lock=b"t1", start_version=100, lock_ttl=10))
        assert "stopped serving writes" in pw.region_error.message, pw
        for i in acked:
            assert stub.RawGet(kv.RawGetRequest(key=b"k%02d" % i)).value == b"v%d" % i
        assert len(stub.RawScan(kv.RawScanRequest(start_key=b"k", limit=100)).kvs) in (20, 21)
        assert proc.proc.poll() is None
    finally:
        proc.stop()
    log = proc.output()
    assert "disk write failed" in log and cause in log and "failpoint active" in log, log[-2000:]

    # Restart without the fault: every acknowledged write is there, writes work again.
    proc, stub, _ = start_store(workdir, port=port, log="server2.log")
    try:
        for i in acked:
            assert stub.RawGet(kv.RawGetRequest(key=b"k%02d" % i)).value == b"v%d" % i
        for i in range(21, 25):
            assert stub.RawGet(kv.RawGetRequest(key=b"k%02d" % i)).not_found
        assert stub.RawPut(kv.RawPutRequest(key=b"again", value=b"ok")).error == ""
    finally:
        proc.stop()
