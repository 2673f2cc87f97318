"""The raw API of a standalone tinykv-server, driven by Python grpcio stubs generated from our proto/."""
import signal

import grpc
import pytest

import kvrpcpb_pb2 as kv
import tinykvpb_pb2_grpc as tinykv

from conftest import BIN, Process, free_port, wait_port


@pytest.fixture
def server(workdir):
    started = []

    def start():
        port = started[0][1] if started else free_port()
        proc = Process([str(BIN / "tinykv-server"), "-addr", f"127.0.0.1:{port}", "-path", str(workdir / "data")],
                       str(workdir / "server.log"))
        wait_port(port, proc.proc)
        started.insert(0, (proc, port))
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        return proc, tinykv.TinyKvStub(channel), channel

    yield start
    for proc, _ in started:
        proc.stop()


def test_put_get_scan_delete_per_column_family(server):
    _, stub, _ = server()
    for cf in ["default", "lock", "write"]:
        for i in range(5):
            r = stub.RawPut(kv.RawPutRequest(key=b"k%d" % i, value=f"{cf}-{i}".encode(), cf=cf))
            assert r.error == "" and not r.HasField("region_error")
    got = stub.RawGet(kv.RawGetRequest(key=b"k3", cf="lock"))
    assert got.value == b"lock-3" and not got.not_found
    missing = stub.RawGet(kv.RawGetRequest(key=b"nope", cf="write"))
    assert missing.not_found and missing.value == b""

    scan = stub.RawScan(kv.RawScanRequest(start_key=b"k1", limit=3, cf="write"))
    assert [p.key for p in scan.kvs] == [b"k1", b"k2", b"k3"]
    assert [p.value for p in scan.kvs] == [b"write-1", b"write-2", b"write-3"]
    assert stub.RawScan(kv.RawScanRequest(start_key=b"", limit=100, cf="default")).kvs[0].key == b"k0"
    assert len(stub.RawScan(kv.RawScanRequest(start_key=b"", limit=0, cf="default")).kvs) == 0

    assert stub.RawDelete(kv.RawDeleteRequest(key=b"k3", cf="lock")).error == ""
    assert stub.RawGet(kv.RawGetRequest(key=b"k3", cf="lock")).not_found
    assert stub.RawGet(kv.RawGetRequest(key=b"k3", cf="default")).value == b"default-3"
    # An empty column family name means default.
    assert stub.RawGet(kv.RawGetRequest(key=b"k4", cf="")).value == b"default-4"


def test_bad_column_family_and_empty_key_are_errors_in_the_response(server):
    _, stub, _ = server()
    r = stub.RawPut(kv.RawPutRequest(key=b"k", value=b"v", cf="nope"))
    assert "column family" in r.error
    assert "column family" in stub.RawGet(kv.RawGetRequest(key=b"k", cf="nope")).error
    assert "empty" in stub.RawPut(kv.RawPutRequest(key=b"", value=b"v", cf="default")).error


def test_data_survives_restart(server):
    proc, stub, channel = server()
    for i in range(50):
        stub.RawPut(kv.RawPutRequest(key=b"durable-%02d" % i, value=b"v%d" % i, cf="default"))
    channel.close()
    proc.stop()
    _, stub, _ = server()
    scan = stub.RawScan(kv.RawScanRequest(start_key=b"durable-", limit=100, cf="default"))
    assert len(scan.kvs) == 50
    assert stub.RawGet(kv.RawGetRequest(key=b"durable-49", cf="default")).value == b"v49"


def test_acknowledged_writes_survive_kill_9(server):
    proc, stub, _ = server()
    for i in range(30):
        stub.RawPut(kv.RawPutRequest(key=b"crash-%02d" % i, value=b"x", cf="write"))
    proc.stop(sig=signal.SIGKILL)
    _, stub, _ = server()
    assert len(stub.RawScan(kv.RawScanRequest(start_key=b"crash-", limit=100, cf="write")).kvs) == 30


def test_malformed_request_gets_invalid_argument_and_server_keeps_serving(server):
    _, stub, channel = server()
    raw_put = channel.unary_unary("/tinykvpb.TinyKv/RawPut")
    with pytest.raises(grpc.RpcError) as failure:
        raw_put(b"\x12\x05\x01")  # a length-delimited field longer than the message
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    unknown = channel.unary_unary("/tinykvpb.TinyKv/NoSuchMethod")
    with pytest.raises(grpc.RpcError) as failure:
        unknown(b"")
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert stub.RawPut(kv.RawPutRequest(key=b"after", value=b"ok", cf="default")).error == ""
    assert stub.RawGet(kv.RawGetRequest(key=b"after", cf="default")).value == b"ok"


def test_concurrent_clients(server):
    import concurrent.futures
    _, stub, _ = server()

    def work(n):
        for i in range(40):
            key = b"c%02d-%02d" % (n, i)
            assert stub.RawPut(kv.RawPutRequest(key=key, value=key, cf="default")).error == ""
            assert stub.RawGet(kv.RawGetRequest(key=key, cf="default")).value == key

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(16)))
    assert len(stub.RawScan(kv.RawScanRequest(start_key=b"c", limit=1000, cf="default")).kvs) == 640
