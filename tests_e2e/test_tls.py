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
