"""Operability end to end: reflection, health, tinykv-ctl, /metrics and /status on real processes."""
import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from conftest import BIN, Process, free_port, wait_port

CTL = str(BIN / "tinykv-ctl")


@pytest.fixture
def cluster(workdir):
    """A scheduler and a standalone store, both with status ports."""
    pd_port, pd_status, kv_port, kv_status = free_port(), free_port(), free_port(), free_port()
    pd = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{pd_port}",
                  "--data-dir", str(workdir / "pd"), "--status-addr", f"127.0.0.1:{pd_status}"], str(workdir / "pd.log"))
    # `-scheduler` starts a raft store unless the config says `raft = false`: these tests want one standalone node.
    (workdir / "kv.toml").write_text("raft = false\n")
    kv = Process([str(BIN / "tinykv-server"), "-addr", f"127.0.0.1:{kv_port}", "-path", str(workdir / "kv"),
                  "-scheduler", f"127.0.0.1:{pd_port}", "-status-addr", f"127.0.0.1:{kv_status}",
                  "-config", str(workdir / "kv.toml")], str(workdir / "kv.log"))
    for port, proc in ((pd_port, pd), (pd_status, pd), (kv_port, kv), (kv_status, kv)):
        wait_port(port, proc.proc)
    info = {"pd": f"127.0.0.1:{pd_port}", "pd_status": pd_status, "kv": f"127.0.0.1:{kv_port}",
            "kv_status": kv_status, "pd_proc": pd, "kv_proc": kv}
    yield info
    kv.stop()
    pd.stop()


def ctl(cluster, *args, check=None):
    cmd = [CTL, *args, "--scheduler", cluster["pd"], "--store", cluster["kv"]]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check is not None:
        assert r.returncode == check, (cmd, r.returncode, r.stdout, r.stderr)
    return r


def ctl_json(cluster, *args):
    return json.loads(ctl(cluster, *args, "--format", "json", check=0).stdout)


def http_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def metric(text, name, **labels):
    """The value of one sample of the Prometheus text `text` (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return 0.0


# --- reflection ---------------------------------------------------------------------------

@pytest.mark.parametrize("server", ["kv", "pd"])
def test_reflection_lists_and_describes(cluster, server):
    channel = grpc.insecure_channel(cluster[server])
    db = ProtoReflectionDescriptorDatabase(channel)
    services = set(db.get_services())
    own = "tinykvpb.TinyKv" if server == "kv" else "schedulerpb.Scheduler"
    assert {own, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
            "grpc.reflection.v1.ServerReflection"} <= services
    pool = descriptor_pool.DescriptorPool(db)
    for name in services:
        assert pool.FindServiceByName(name).full_name == name  # every listed service can be described
    if server == "kv":
        method = pool.FindServiceByName("tinykvpb.TinyKv").methods_by_name["RawPut"]
        assert method.input_type.full_name == "kvrpcpb.RawPutRequest"
        assert [f.name for f in method.input_type.fields] == ["context", "key", "value", "cf"]
        assert pool.FindMessageTypeByName("kvrpcpb.Context").fields_by_name["region_epoch"].message_type.full_name == "metapb.RegionEpoch"
    else:
        tso = pool.FindServiceByName("schedulerpb.Scheduler").methods_by_name["Tso"]
        assert tso.client_streaming and tso.server_streaming
    channel.close()


def test_reflection_v1_and_errors(cluster):
    channel = grpc.insecure_channel(cluster["kv"])
    v1 = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                               request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                               response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_by_filename="kvrpcpb.proto"),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.Such"),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="kvrpcpb.Context.region_id"),
                reflection_pb2.ServerReflectionRequest(file_by_filename="nope.proto")]
    responses = list(v1(iter(requests), timeout=10))
    assert len(responses) == 5
    assert "tinykvpb.TinyKv" in [s.name for s in responses[0].list_services_response.service]
    files = responses[1].file_descriptor_response.file_descriptor_proto
    assert len(files) >= 3  # kvrpcpb.proto and its imports (metapb, errorpb)
    assert responses[1].original_request.file_by_filename == "kvrpcpb.proto"
    assert responses[2].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert len(responses[3].file_descriptor_response.file_descriptor_proto) >= 1
    assert responses[4].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    channel.close()


def test_json_call_through_reflection_like_grpcurl(cluster):
    """What `grpcurl -d '{"key":"aw==",...}' ... tinykvpb.TinyKv/RawPut` does, without any .proto file."""
    channel = grpc.insecure_channel(cluster["kv"])
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    service = pool.FindServiceByName("tinykvpb.TinyKv")

    def call(name, body):
        method = service.methods_by_name[name]
        req_cls = message_factory.GetMessageClass(method.input_type)
        resp_cls = message_factory.GetMessageClass(method.output_type)
        stub = channel.unary_unary(f"/tinykvpb.TinyKv/{name}", request_serializer=req_cls.SerializeToString,
                                   response_deserializer=resp_cls.FromString)
        return json_format.MessageToDict(stub(json_format.Parse(json.dumps(body), req_cls()), timeout=10))

    assert call("RawPut", {"key": "aw==", "value": "dg==", "cf": "default"}) == {}
    assert call("RawGet", {"key": "aw==", "cf": "default"}) == {"value": "dg=="}
    channel.close()


# --- health --------------------------------------------------------------------------------

def test_health_check(cluster):
    for server, own in (("kv", "tinykvpb.TinyKv"), ("pd", "schedulerpb.Scheduler")):
        stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(cluster[server]))
        for service in ("", own):
            r = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert r.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as e:
            stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_watch_reports_not_serving_on_shutdown(cluster):
    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(cluster["kv"]))
    unknown = list(_first(stub.Watch(health_pb2.HealthCheckRequest(service="no.Such"), timeout=10), 1))
    assert unknown[0].status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

    seen = []
    stream = stub.Watch(health_pb2.HealthCheckRequest(service="tinykvpb.TinyKv"), timeout=30)
    done = threading.Event()

    def read():
        try:
            for r in stream:
                seen.append(r.status)
        except grpc.RpcError:
            pass
        done.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 10
    while not seen and time.time() < deadline:
        time.sleep(0.05)
    assert seen == [health_pb2.HealthCheckResponse.SERVING]
    started = time.time()
    cluster["kv_proc"].proc.send_signal(signal.SIGTERM)
    assert done.wait(10)
    assert seen[-1] == health_pb2.HealthCheckResponse.NOT_SERVING
    cluster["kv_proc"].proc.wait(timeout=10)
    assert time.time() - started < 4.5  # an open Watch does not hold up the graceful shutdown


def _first(stream, n):
    for i, r in enumerate(stream):
        yield r
        if i + 1 >= n:
            stream.cancel()
            return


# --- tinykv-ctl ------------------------------------------------------------------------------

HELP_PATHS = [[], ["raw"], ["raw", "get"], ["raw", "put"], ["raw", "delete"], ["raw", "scan"], ["txn"], ["txn", "get"],
              ["txn", "put"], ["txn", "scan"], ["store"], ["store", "list"], ["region"], ["region", "list"],
              ["region", "show"], ["cluster"], ["cluster", "status"], ["tso"], ["wire"]]


def test_ctl_help_everywhere():
    for path in HELP_PATHS:
        r = subprocess.run([CTL, *path, "--help"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "USAGE" in r.stdout, (path, r.stdout, r.stderr)
    r = subprocess.run([CTL, "raw", "get"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64  # usage error: missing key


def test_ctl_raw(cluster):
    assert ctl(cluster, "raw", "put", "k1", "v1", check=0).stdout.strip() == "OK"
    ctl(cluster, "raw", "put", "k2", "v2", check=0)
    assert ctl(cluster, "raw", "get", "k1", check=0).stdout.strip() == "v1"
    assert ctl_json(cluster, "raw", "get", "k2") == {"key": "k2", "found": True, "value": "v2"}
    r = ctl(cluster, "raw", "get", "missing", check=1)
    assert "not found" in r.stderr
    assert json.loads(ctl(cluster, "raw", "get", "missing", "--format", "json", check=1).stdout)["found"] is False
    assert ctl_json(cluster, "raw", "scan") == [{"key": "k1", "value": "v1"}, {"key": "k2", "value": "v2"}]
    assert ctl_json(cluster, "raw", "scan", "k2") == [{"key": "k2", "value": "v2"}]
    assert ctl_json(cluster, "raw", "scan", "--limit", "1") == [{"key": "k1", "value": "v1"}]
    assert ctl_json(cluster, "raw", "scan", "--end", "k2") == [{"key": "k1", "value": "v1"}]
    table = ctl(cluster, "raw", "scan", check=0).stdout.splitlines()
    assert table[0].split() == ["KEY", "VALUE"] and table[1].split() == ["k1", "v1"]
    ctl(cluster, "raw", "put", "--hex", "00ff", "0102", check=0)
    assert ctl(cluster, "raw", "get", "--hex", "00ff", check=0).stdout.strip() == "0102"
    assert ctl(cluster, "raw", "get", "--cf", "lock", "k1", check=1)
    ctl(cluster, "raw", "delete", "k1", check=0)
    ctl(cluster, "raw", "get", "k1", check=1)


def test_ctl_txn(cluster):
    out = ctl_json(cluster, "txn", "put", "a", "1", "b", "2")
    assert out["keys"] == 2 and out["commit_ts"] > out["start_ts"] > 0
    assert "committed 1 key(s)" in ctl(cluster, "txn", "put", "c", "3", check=0).stdout
    got = ctl_json(cluster, "txn", "get", "a")
    assert got["found"] and got["value"] == "1" and got["ts"] > out["commit_ts"]
    assert ctl(cluster, "txn", "get", "b", check=0).stdout.strip() == "2"
    # A read before the commit does not see it (snapshot isolation at --ts).
    assert ctl(cluster, "txn", "get", "a", "--ts", str(out["start_ts"]), check=1)
    assert ctl_json(cluster, "txn", "scan") == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}, {"key": "c", "value": "3"}]
    assert ctl_json(cluster, "txn", "scan", "b", "--limit", "1") == [{"key": "b", "value": "2"}]
    ctl(cluster, "txn", "get", "zzz", check=1)
    ctl(cluster, "txn", "put", "only-a-key", check=64)
    # Raw and transactional data are separate: a raw get does not see transactional keys' encoding as values.
    assert ctl(cluster, "raw", "get", "a", check=1)


def test_ctl_tso_store_region_cluster(cluster):
    t1 = ctl_json(cluster, "tso")
    t2 = ctl_json(cluster, "tso", "--count", "10")
    assert t2["ts"] > t1["ts"] and t1["ts"] == (t1["physical"] << 18) + t1["logical"]
    assert abs(t1["physical"] / 1000 - time.time()) < 60
    assert "physical" in ctl(cluster, "tso", check=0).stdout

    # Standalone store: the scheduler is not bootstrapped and knows no store or region.
    assert ctl_json(cluster, "store", "list") == []
    regions = ctl_json(cluster, "region", "list")
    assert regions == [{"id": 0, "start_key": "", "end_key": "", "standalone": True, "leader_address": cluster["kv"]}]
    assert ctl_json(cluster, "region", "show", "anykey")["leader_address"] == cluster["kv"]

    status = ctl_json(cluster, "cluster", "status")
    assert status["bootstrapped"] is False and status["regions"] == 1
    assert status["scheduler"]["health"] == "SERVING"
    assert status["stores"] == [{"id": 0, "address": cluster["kv"], "state": "Standalone", "health": "SERVING", "leaders": 1}]
    text = ctl(cluster, "cluster", "status", check=0).stdout
    assert "SERVING" in text and cluster["kv"] in text


def test_ctl_against_bootstrapped_scheduler_routes_by_region(cluster):
    """With a bootstrapped scheduler the ctl asks it for the region and the leader's store address."""
    import metapb_pb2 as meta
    import schedulerpb_pb2 as pd
    import schedulerpb_pb2_grpc as pd_grpc
    stub = pd_grpc.SchedulerStub(grpc.insecure_channel(cluster["pd"]))
    header = pd.RequestHeader()
    assert stub.Bootstrap(pd.BootstrapRequest(header=header, store=meta.Store(id=1, address=cluster["kv"]))).header.error.type == pd.OK
    # The region becomes known through a heartbeat from its leader (as a raft store would send).
    region = meta.Region(id=2, peers=[meta.Peer(id=3, store_id=1)], region_epoch=meta.RegionEpoch(conf_ver=1, version=1))
    stop = threading.Event()

    def heartbeats():
        yield pd.RegionHeartbeatRequest(header=header, region=region, leader=meta.Peer(id=3, store_id=1))
        stop.wait(20)

    stream = stub.RegionHeartbeat(heartbeats())
    deadline = time.time() + 10
    while stub.GetRegion(pd.GetRegionRequest(header=header, region_key=b"k")).region.id != 2:
        assert time.time() < deadline
        time.sleep(0.05)
    stop.set()
    stream.cancel()
    assert ctl_json(cluster, "store", "list") == [{"id": 1, "address": cluster["kv"], "state": "Up", "health": "SERVING"}]
    shown = ctl_json(cluster, "region", "show", "k")
    assert shown["id"] == 2 and shown["leader_address"] == cluster["kv"] and shown["standalone"] is False
    ctl(cluster, "raw", "put", "routed", "yes", check=0)
    assert ctl(cluster, "raw", "get", "routed", check=0).stdout.strip() == "yes"
    ctl(cluster, "txn", "put", "t", "1", check=0)
    assert ctl(cluster, "txn", "get", "t", check=0).stdout.strip() == "1"
    status = ctl_json(cluster, "cluster", "status")
    assert status["bootstrapped"] is True and status["regions"] == 1
    assert status["stores"][0]["health"] == "SERVING"


def test_ctl_unreachable_cluster_exits_3(workdir):
    port = free_port()
    r = subprocess.run([CTL, "tso", "--scheduler", f"127.0.0.1:{port}", "--timeout", "2"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and "error:" in r.stderr
    r = subprocess.run([CTL, "raw", "get", "k", "--scheduler", f"127.0.0.1:{port}", "--store", f"127.0.0.1:{port}", "--timeout", "2"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and "unreachable" in r.stderr


# --- metrics and status ---------------------------------------------------------------------

def test_store_metrics_and_status(cluster):
    code, ctype, text = http_get(cluster["kv_status"], "/metrics")
    assert code == 200 and ctype.startswith("text/plain")
    before = metric(text, "grpc_server_handled_total", grpc_method="RawPut", grpc_code="OK")
    for i in range(3):
        ctl(cluster, "raw", "put", f"m{i}", "x" * 100, check=0)
    _, _, text = http_get(cluster["kv_status"], "/metrics")
    assert metric(text, "grpc_server_handled_total", grpc_method="RawPut", grpc_code="OK") == before + 3
    assert metric(text, "grpc_server_started_total", grpc_service="tinykvpb.TinyKv", grpc_method="RawPut") >= 3
    assert metric(text, "grpc_server_handling_seconds_count", grpc_method="RawPut") >= 3
    assert 'grpc_server_handling_seconds_bucket{grpc_service="tinykvpb.TinyKv",grpc_method="RawPut"' in text
    assert metric(text, "tinykv_store_size_bytes") > 0
    assert metric(text, "tinykv_region_count") == 1 and metric(text, "tinykv_leader_count") == 1

    code, ctype, body = http_get(cluster["kv_status"], "/status")
    status = json.loads(body)
    assert ctype == "application/json"
    assert status["role"] == "store" and status["health"] == "SERVING" and status["address"] == cluster["kv"]
    assert status["version"] and status["uptime_seconds"] > 0 and status["mode"] == "standalone"
    with pytest.raises(urllib.error.HTTPError) as e:
        http_get(cluster["kv_status"], "/nope")
    assert e.value.code == 404


def test_scheduler_metrics_and_status(cluster):
    _, _, text = http_get(cluster["pd_status"], "/metrics")
    tso_before = metric(text, "tinyscheduler_tso_requests_total")
    ts_before = metric(text, "tinyscheduler_tso_timestamps_total")
    ctl(cluster, "tso", "--count", "5", check=0)
    _, _, text = http_get(cluster["pd_status"], "/metrics")
    assert metric(text, "tinyscheduler_tso_requests_total") == tso_before + 1
    assert metric(text, "tinyscheduler_tso_timestamps_total") == ts_before + 5
    assert metric(text, "grpc_server_started_total", grpc_method="Tso", grpc_type="bidi_stream") >= 1
    assert "tinyscheduler_operators_created_total" in text or "tinyscheduler_running_operators" in text
    assert metric(text, "tinyscheduler_bootstrapped") == 0 and metric(text, "tinyscheduler_store_count") == 0
    status = json.loads(http_get(cluster["pd_status"], "/status")[2])
    assert status["role"] == "scheduler" and status["health"] == "SERVING" and status["bootstrapped"] is False
    assert status["address"] == cluster["pd"]


def test_status_port_is_off_by_default(workdir):
    port = free_port()
    kv = Process([str(BIN / "tinykv-server"), "-addr", f"127.0.0.1:{port}", "-path", str(workdir / "kv")], str(workdir / "kv.log"))
    try:
        wait_port(port, kv.proc)
        assert "status server" not in kv.output()
    finally:
        kv.stop()


# --- startup failures -------------------------------------------------------------------------

def _scheduler(workdir, port):
    """A scheduler on `port`, listening."""
    pd = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{port}",
                  "--data-dir", str(workdir / "pd")], str(workdir / "pd.log"))
    wait_port(port, pd.proc)
    return pd


def _occupied_port():
    """A listening socket on a free port (closed by the caller)."""
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


def test_servers_on_a_port_in_use_exit_1_with_one_clear_line(workdir):
    blocker, busy = _occupied_port()
    try:
        r = subprocess.run([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{busy}",
                            "--data-dir", str(workdir / "pd-busy")], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert f"cannot listen on 127.0.0.1:{busy}: Address already in use" in r.stderr
        assert "crashed" not in r.stderr and "terminate called" not in r.stderr

        pd_port = free_port()
        pd = _scheduler(workdir, pd_port)
        try:
            r = subprocess.run([str(BIN / "tinykv-server"), "-scheduler", f"127.0.0.1:{pd_port}", "-addr", f"127.0.0.1:{busy}",
                                "-path", str(workdir / "kv")], capture_output=True, text=True, timeout=60)
            assert r.returncode == 1, (r.returncode, r.stderr)
            assert f"cannot listen on 127.0.0.1:{busy}: Address already in use" in r.stderr
            assert "crashed" not in r.stderr and "terminate called" not in r.stderr
            # Checked before joining: the store did not bootstrap the cluster with an address it cannot serve.
            assert ctl_json({"pd": f"127.0.0.1:{pd_port}", "kv": f"127.0.0.1:{busy}"}, "store", "list") == []
        finally:
            pd.stop()
    finally:
        blocker.close()


def test_servers_with_a_data_dir_that_is_a_file_exit_1_naming_it(workdir):
    taken = workdir / "taken"
    taken.write_text("not a directory\n")
    r = subprocess.run([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{free_port()}",
                        "--data-dir", str(taken)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"cannot start: {taken}: File exists" in r.stderr and "NSCocoaErrorDomain" not in r.stderr
    r = subprocess.run([str(BIN / "tinykv-server"), "-addr", f"127.0.0.1:{free_port()}", "-path", str(taken)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"cannot start: {taken}/kv: Not a directory" in r.stderr and "NSCocoaErrorDomain" not in r.stderr


def test_a_raft_store_serves_its_status_port_while_it_waits_to_join(workdir):
    """The status port is bound before the store joins: /status says "joining" (NOT_SERVING)
    while the scheduler is away, then the store's mode and SERVING once it has joined."""
    pd_port, kv_port, kv_status = free_port(), free_port(), free_port()
    kv = Process([str(BIN / "tinykv-server"), "-scheduler", f"127.0.0.1:{pd_port}", "-addr", f"127.0.0.1:{kv_port}",
                  "-path", str(workdir / "kv"), "-status-addr", f"127.0.0.1:{kv_status}"], str(workdir / "kv.log"))
    pd = None
    try:
        wait_port(kv_status, kv.proc)
        status = json.loads(http_get(kv_status, "/status")[2])
        assert status["mode"] == "joining" and status["health"] == "NOT_SERVING", status
        assert status["regions"] == 0 and status["leaders"] == 0
        pd = _scheduler(workdir, pd_port)
        deadline = time.time() + 60
        while time.time() < deadline:
            status = json.loads(http_get(kv_status, "/status")[2])
            if status["health"] == "SERVING":
                break
            time.sleep(0.2)
        assert status["health"] == "SERVING" and re.fullmatch(r"raft \(store \d+\)", status["mode"]), status
        wait_port(kv_port, kv.proc)
    finally:
        kv.stop()
        if pd:
            pd.stop()


def test_a_status_port_in_use_stops_the_store_before_it_joins(workdir):
    blocker, busy = _occupied_port()
    pd_port = free_port()
    pd = _scheduler(workdir, pd_port)
    try:
        r = subprocess.run([str(BIN / "tinykv-server"), "-scheduler", f"127.0.0.1:{pd_port}", "-addr", f"127.0.0.1:{free_port()}",
                            "-path", str(workdir / "kv"), "-status-addr", f"127.0.0.1:{busy}"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert f"cannot listen on status address 127.0.0.1:{busy}: Address already in use" in r.stderr
        assert ctl_json({"pd": f"127.0.0.1:{pd_port}", "kv": "127.0.0.1:1"}, "store", "list") == []
    finally:
        pd.stop()
        blocker.close()
