"""TLS and mutual TLS on the gRPC ports of tinykv-server and tinyscheduler-server."""
import grpc
import pytest

import kvrpcpb_pb2 as kv
import schedulerpb_pb2 as pd
import schedulerpb_pb2_grpc as pd_grpc
import tinykvpb_pb2_grpc as tinykv

from conftest import BIN, Process, free_port, wait_port
from tlsutil import make_pki, read


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def creds(pki, client="client", ca="ca.pem"):
    if client is None:
        return grpc.ssl_channel_credentials(root_certificates=read(pki[ca]))
    return grpc.ssl_channel_credentials(root_certificates=read(pki[ca]), private_key=read(pki[f"{client}.key"]),
                                        certificate_chain=read(pki[f"{client}.pem"]))


def refused(call):
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value


def store(workdir, args):
    port = free_port()
    proc = Process([str(BIN / "tinykv-server"), "-addr", f"127.0.0.1:{port}", "-path", str(workdir / "data"), *args],
                   str(workdir / "server.log"))
    wait_port(port, proc.proc)
    return proc, f"127.0.0.1:{port}"


def put_get(channel):
    stub = tinykv.TinyKvStub(channel)
    assert stub.RawPut(kv.RawPutRequest(key=b"k", value=b"secret"), timeout=10).error == ""
    return stub.RawGet(kv.RawGetRequest(key=b"k"), timeout=10).value


def test_store_mutual_tls_flags(workdir, pki):
    proc, addr = store(workdir, ["--cacert", pki["ca.pem"], "--cert", pki["server.pem"], "--key", pki["server.key"]])
    try:
        assert put_get(grpc.secure_channel(addr, creds(pki))) == b"secret"
        assert "mutual-tls" in proc.output()
        refused(lambda: put_get(grpc.insecure_channel(addr)))                      # plaintext client
        refused(lambda: put_get(grpc.secure_channel(addr, creds(pki, client=None))))  # no client certificate
        refused(lambda: put_get(grpc.secure_channel(addr, creds(pki, client="rogue"))))  # another CA's client
        refused(lambda: put_get(grpc.secure_channel(addr, creds(pki, ca="rogue-ca.pem"))))  # server not trusted
        assert put_get(grpc.secure_channel(addr, creds(pki))) == b"secret"
        assert proc.proc.poll() is None
    finally:
        proc.stop()


def test_store_server_only_tls_from_config(workdir, pki):
    config = workdir / "store.toml"
    config.write_text(f'[security]\ncert-path = "{pki["server.pem"]}"\nkey-path = "{pki["server.key"]}"\n')
    proc, addr = store(workdir, ["-config", str(config)])
    try:
        assert put_get(grpc.secure_channel(addr, creds(pki, client=None))) == b"secret"
        refused(lambda: put_get(grpc.insecure_channel(addr)))
    finally:
        proc.stop()


def test_bad_security_config_is_refused(workdir, pki):
    for text in [f'[security]\nca-path = "{pki["ca.pem"]}"\n', '[security]\ncert-path = "/nope.pem"\nkey-path = "/nope.key"\n',
                 '[security]\ncert-file = "x"\n']:
        config = workdir / "bad.toml"
        config.write_text(text)
        proc = Process([str(BIN / "tinykv-server"), "-config", str(config), "-addr", f"127.0.0.1:{free_port()}",
                        "-path", str(workdir / "d")], str(workdir / "bad.log"))
        assert proc.proc.wait(timeout=30) != 0
        proc.stop()


def test_scheduler_mutual_tls(workdir, pki):
    port = free_port()
    config = workdir / "pd.toml"
    config.write_text(f'[security]\nca-path = "{pki["ca.pem"]}"\ncert-path = "{pki["server.pem"]}"\n'
                      f'key-path = "{pki["server.key"]}"\n')
    proc = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{port}",
                    "--data-dir", str(workdir / "pd"), "--config", str(config)], str(workdir / "pd.log"))
    wait_port(port, proc.proc)
    addr = f"127.0.0.1:{port}"

    def members(channel):
        return pd_grpc.SchedulerStub(channel).GetMembers(pd.GetMembersRequest(header=pd.RequestHeader()), timeout=10)

    try:
        assert members(grpc.secure_channel(addr, creds(pki))).header.cluster_id > 0
        stub = pd_grpc.SchedulerStub(grpc.secure_channel(addr, creds(pki)))
        assert len(list(stub.Tso(iter([pd.TsoRequest(header=pd.RequestHeader(), count=1)]), timeout=10))) == 1
        refused(lambda: members(grpc.insecure_channel(addr)))
        refused(lambda: members(grpc.secure_channel(addr, creds(pki, client=None))))
    finally:
        proc.stop()
    # The same with flags.
    proc = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{port}",
                    "--data-dir", str(workdir / "pd"), "--cacert", pki["ca.pem"], "--cert", pki["server.pem"],
                    "--key", pki["server.key"]], str(workdir / "pd2.log"))
    wait_port(port, proc.proc)
    try:
        assert members(grpc.secure_channel(addr, creds(pki))).header.cluster_id > 0
        refused(lambda: members(grpc.insecure_channel(addr)))
    finally:
        proc.stop()


def test_raft_cluster_with_mutual_tls_everywhere(workdir, pki):
    """Scheduler and three raft stores all on mutual TLS: the stores join, replicate to each
    other over TLS, and serve a TLS client; a plaintext client is refused."""
    import time
    import kvrpcpb_pb2 as kv
    import tinykvpb_pb2_grpc as tinykv
    security = (f'[security]\nca-path = "{pki["ca.pem"]}"\ncert-path = "{pki["server.pem"]}"\n'
                f'key-path = "{pki["server.key"]}"\n')
    pd_port = free_port()
    (workdir / "pd.toml").write_text(security)
    procs = [Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{pd_port}",
                      "--data-dir", str(workdir / "pd"), "--config", str(workdir / "pd.toml")], str(workdir / "pd.log"))]
    try:
        wait_port(pd_port, procs[0].proc)
        ports = []
        for n in range(3):
            port = free_port()
            ports.append(port)
            (workdir / f"s{n}.toml").write_text('raft-base-tick-interval = "50ms"\nscheduler-heartbeat-tick-interval = "300ms"\n'
                                                 'scheduler-store-heartbeat-tick-interval = "500ms"\n' + security)
            procs.append(Process([str(BIN / "tinykv-server"), "-scheduler", f"127.0.0.1:{pd_port}", "-addr", f"127.0.0.1:{port}",
                                  "-path", str(workdir / f"s{n}"), "-config", str(workdir / f"s{n}.toml")], str(workdir / f"s{n}.log")))
            wait_port(port, procs[-1].proc)
        pd_stub = pd_grpc.SchedulerStub(grpc.secure_channel(f"127.0.0.1:{pd_port}", creds(pki)))
        deadline = time.time() + 60
        region = None
        while time.time() < deadline:
            region = pd_stub.GetRegion(pd.GetRegionRequest(header=pd.RequestHeader(), region_key=b"k"), timeout=5)
            if len(region.region.peers) == 3 and region.leader.store_id:
                break
            time.sleep(0.2)
        assert len(region.region.peers) == 3, "the region did not grow to three replicas over TLS"
        leader_addr = pd_stub.GetStore(pd.GetStoreRequest(header=pd.RequestHeader(), store_id=region.leader.store_id)).store.address
        stub = tinykv.TinyKvStub(grpc.secure_channel(leader_addr, creds(pki)))
        context = kv.Context(region_id=region.region.id, region_epoch=region.region.region_epoch, peer=region.leader)
        for i in range(20):
            r = stub.RawPut(kv.RawPutRequest(context=context, key=b"tls-%d" % i, value=b"v", cf="default"), timeout=10)
            assert not r.HasField("region_error") and not r.error, r
        assert stub.RawGet(kv.RawGetRequest(context=context, key=b"tls-7", cf="default"), timeout=10).value == b"v"
        refused(lambda: tinykv.TinyKvStub(grpc.insecure_channel(leader_addr)).RawGet(
            kv.RawGetRequest(context=context, key=b"tls-7", cf="default"), timeout=5))
    finally:
        for p in reversed(procs):
            p.stop()
