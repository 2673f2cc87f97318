"""tinyscheduler-server over gRPC from Python: every RPC family, TSO streams, restart persistence."""
import concurrent.futures
import threading

import grpc
import pytest

import metapb_pb2 as meta
import schedulerpb_pb2 as pd
import schedulerpb_pb2_grpc as pd_grpc

from conftest import BIN, Process, free_port, wait_port


@pytest.fixture
def scheduler(workdir):
    state = {}

    def start():
        port = state.get("port") or free_port()
        state["port"] = port
        proc = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{port}",
                        "--data-dir", str(workdir / "pd"), "--name", "pd-test"], str(workdir / "pd.log"))
        wait_port(port, proc.proc)
        state["proc"] = proc
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        return proc, pd_grpc.SchedulerStub(channel)

    yield start
    if "proc" in state:
        state["proc"].stop()


def header(cluster_id=0):
    return pd.RequestHeader(cluster_id=cluster_id)


def tso(stub, count, requests=1):
    responses = list(stub.Tso(iter([pd.TsoRequest(header=header(), count=count) for _ in range(requests)])))
    return [(r.timestamp.physical << 18) + r.timestamp.logical for r in responses]


def bootstrap(stub):
    store = meta.Store(id=1, address="127.0.0.1:20160")
    return stub.Bootstrap(pd.BootstrapRequest(header=header(), store=store))


def test_members_ids_and_bootstrap(scheduler):
    _, stub = scheduler()
    members = stub.GetMembers(pd.GetMembersRequest(header=header()))
    assert members.leader.name == "pd-test"
    assert members.header.cluster_id != 0
    assert any("127.0.0.1" in u for u in members.leader.client_urls)

    ids = [stub.AllocID(pd.AllocIDRequest(header=header())).id for _ in range(20)]
    assert ids == sorted(ids) and len(set(ids)) == 20

    assert not stub.IsBootstrapped(pd.IsBootstrappedRequest(header=header())).bootstrapped
    r = stub.GetStore(pd.GetStoreRequest(header=header(), store_id=1))
    assert r.header.error.type == pd.NOT_BOOTSTRAPPED
    assert bootstrap(stub).header.error.type == pd.OK
    assert stub.IsBootstrapped(pd.IsBootstrappedRequest(header=header())).bootstrapped
    assert bootstrap(stub).header.error.type == pd.ALREADY_BOOTSTRAPPED


def test_stores(scheduler):
    _, stub = scheduler()
    bootstrap(stub)
    for store_id in (2, 3):
        r = stub.PutStore(pd.PutStoreRequest(header=header(), store=meta.Store(id=store_id, address=f"127.0.0.1:2016{store_id}")))
        assert r.header.error.type == pd.OK
    got = stub.GetStore(pd.GetStoreRequest(header=header(), store_id=2))
    assert got.store.address == "127.0.0.1:20162"
    assert len(stub.GetAllStores(pd.GetAllStoresRequest(header=header())).stores) == 3
    # As in TinyKV, PutStore cannot change a known store's state (tombstoning is the scheduler's decision).
    stub.PutStore(pd.PutStoreRequest(header=header(), store=meta.Store(id=3, address="127.0.0.1:20163", state=meta.Tombstone)))
    live = stub.GetAllStores(pd.GetAllStoresRequest(header=header(), exclude_tombstone_stores=True)).stores
    assert sorted(s.id for s in live) == [1, 2, 3]
    assert stub.PutStore(pd.PutStoreRequest(header=header(), store=meta.Store(id=9, address="127.0.0.1:20162"))).header.error.type != pd.OK
    hb = stub.StoreHeartbeat(pd.StoreHeartbeatRequest(header=header(), stats=pd.StoreStats(store_id=2, capacity=100, available=50)))
    assert hb.header.error.type == pd.OK


def test_tso_is_strictly_increasing_within_and_across_streams(scheduler):
    _, stub = scheduler()
    single = tso(stub, 1, requests=200)
    assert all(a < b for a, b in zip(single, single[1:]))
    batched = tso(stub, 1000, requests=10)
    assert all(b - a >= 1000 for a, b in zip(batched, batched[1:]))
    assert batched[0] > single[-1]

    seen = []
    lock = threading.Lock()

    def stream(_):
        values = tso(stub, 1, requests=500)
        with lock:
            seen.extend(values)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(stream, range(8)))
    assert len(seen) == len(set(seen)) == 4000


def test_regions_heartbeat_routing_and_split(scheduler):
    _, stub = scheduler()
    bootstrap(stub)
    for store_id in (2, 3):
        stub.PutStore(pd.PutStoreRequest(header=header(), store=meta.Store(id=store_id, address=f"127.0.0.1:2016{store_id}")))
    peers = [meta.Peer(id=10 + i, store_id=i) for i in (1, 2, 3)]
    left = meta.Region(id=100, start_key=b"", end_key=b"m", region_epoch=meta.RegionEpoch(conf_ver=1, version=2), peers=peers)
    right = meta.Region(id=200, start_key=b"m", end_key=b"", region_epoch=meta.RegionEpoch(conf_ver=1, version=2), peers=peers)
    requests = [pd.RegionHeartbeatRequest(header=header(), region=r, leader=peers[0], approximate_size=1) for r in (left, right)]
    done = threading.Event()

    def stream():
        yield from requests
        done.wait(10)  # keep the stream open like a store does

    call = stub.RegionHeartbeat(stream())
    import time
    deadline = time.time() + 10
    while time.time() < deadline:
        r = stub.GetRegion(pd.GetRegionRequest(header=header(), region_key=b"z"))
        if r.region.id == 200:
            break
        time.sleep(0.05)
    done.set()
    call.cancel()
    assert stub.GetRegion(pd.GetRegionRequest(header=header(), region_key=b"z")).region.id == 200
    got = stub.GetRegion(pd.GetRegionRequest(header=header(), region_key=b"a"))
    assert got.region.id == 100 and got.leader.id == 11
    assert stub.GetPrevRegion(pd.GetRegionRequest(header=header(), region_key=b"z")).region.id == 100
    assert stub.GetRegionByID(pd.GetRegionByIDRequest(header=header(), region_id=200)).region.end_key == b""
    scan = stub.ScanRegions(pd.ScanRegionsRequest(header=header(), start_key=b"", limit=10))
    assert [r.id for r in scan.regions] == [100, 200]
    split = stub.AskSplit(pd.AskSplitRequest(header=header(), region=right))
    assert split.new_region_id > 0 and len(split.new_peer_ids) == 3


def test_gc_safe_point_only_moves_forward(scheduler):
    _, stub = scheduler()
    bootstrap(stub)
    assert stub.UpdateGCSafePoint(pd.UpdateGCSafePointRequest(header=header(), safe_point=100)).new_safe_point == 100
    assert stub.UpdateGCSafePoint(pd.UpdateGCSafePointRequest(header=header(), safe_point=50)).new_safe_point == 100
    assert stub.GetGCSafePoint(pd.GetGCSafePointRequest(header=header())).safe_point == 100


def test_restart_keeps_cluster_ids_and_time_moving_forward(scheduler):
    proc, stub = scheduler()
    cluster_id = stub.GetMembers(pd.GetMembersRequest(header=header())).header.cluster_id
    bootstrap(stub)
    stub.PutStore(pd.PutStoreRequest(header=header(), store=meta.Store(id=7, address="127.0.0.1:20167")))
    last_id = stub.AllocID(pd.AllocIDRequest(header=header())).id
    last_ts = tso(stub, 10)[-1]
    proc.stop()
    _, stub = scheduler()
    assert stub.GetMembers(pd.GetMembersRequest(header=header())).header.cluster_id == cluster_id
    assert stub.IsBootstrapped(pd.IsBootstrappedRequest(header=header())).bootstrapped
    assert stub.GetStore(pd.GetStoreRequest(header=header(), store_id=7)).store.address == "127.0.0.1:20167"
    assert stub.AllocID(pd.AllocIDRequest(header=header())).id > last_id
    assert tso(stub, 1)[0] > last_ts


def test_wrong_cluster_id_is_an_error_in_the_header(scheduler):
    _, stub = scheduler()
    cluster_id = stub.GetMembers(pd.GetMembersRequest(header=header())).header.cluster_id
    r = stub.AllocID(pd.AllocIDRequest(header=header(cluster_id + 1)))
    assert r.header.error.type != pd.OK
