"""Region split with real processes: 1 scheduler + 3 raft stores with small regions.

Writing ~2 MiB with `region-max-size = 96KiB` / `region-split-size = 64KiB` splits the
single region many times; the scheduler's regions tile the key space without gaps or
overlaps, `tinykv-ctl region list` shows them, and every key is readable through a
routing client (Python, re-routing on region errors) and through `tinykv-ctl raw scan`.
A store killed with SIGKILL while splits happen and restarted loses no acknowledged write.
"""
import json
import signal
import subprocess
import threading
import time

import grpc

import kvrpcpb_pb2 as kv
import schedulerpb_pb2 as pd

import tinysql_codec as codec
from conftest import BIN
from test_raft_cluster import CONFIG, Cluster

# The raft cluster's fast ticks plus small regions.
SPLIT_CONFIG = CONFIG + """split-region-check-tick-interval = "200ms"
region-max-size = "96KiB"
region-split-size = "64KiB"
"""


class Regroup(Exception):
    """A request's keys are no longer in one region (it split): group them again."""


def routing_key(key, space):
    """What region bounds are compared with: raw-API keys as they are, transactional keys as
    EncodeBytes(key) (TinySQL's pd_codec asks GetRegion with the encoded key)."""
    return key if space == "raw" else codec.encode_bytes_cmp(key)


class Router:
    """A small routing client: region by key from the scheduler, cached; refreshes on region errors.
    Keys are in the raw key space unless `space="txn"` (then routed by their EncodeBytes form)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.lock = threading.Lock()
        self.cache = {}   # region id -> (region, leader)

    def locate(self, key):
        """The region holding the routing key `key`, and its leader."""
        with self.lock:
            for region, leader in self.cache.values():
                if region.start_key <= key and (not region.end_key or key < region.end_key):
                    return region, leader
        r = self.cluster.pd_stub.GetRegion(pd.GetRegionRequest(header=self.cluster.header(), region_key=key))
        if r.region.id:
            with self.lock:
                self.cache[r.region.id] = (r.region, r.leader)
        return r.region, r.leader

    def invalidate(self, region_id):
        with self.lock:
            self.cache.pop(region_id, None)

    def call(self, method, key, make_request, timeout=30.0, space="raw", regroup=False):
        """Sends make_request(ctx) to the leader of the region of `key` (in `space`), retrying region
        errors. With `regroup`, a split region raises Regroup instead (the caller regroups its keys)."""
        deadline = time.time() + timeout
        last = None
        routing = routing_key(key, space)
        while time.time() < deadline:
            region, leader = self.locate(routing)
            if not region.id:
                time.sleep(0.05)
                continue
            addresses = []
            if leader.store_id:
                try:
                    addresses.append((self.cluster.store_address(leader.store_id), leader))
                except grpc.RpcError:
                    pass
            addresses += [(a, None) for a in self.cluster.addresses()]
            for address, peer in addresses:
                ctx = kv.Context(region_id=region.id, region_epoch=region.region_epoch)
                if peer is not None:
                    ctx.peer.CopyFrom(peer)
                try:
                    response = getattr(self.cluster.stub(address), method)(make_request(ctx), timeout=2)
                except grpc.RpcError as error:
                    last = error
                    continue
                if response.HasField("region_error"):
                    last = response.region_error
                    error = response.region_error
                    if error.HasField("not_leader") and error.not_leader.leader.store_id:
                        with self.lock:
                            self.cache[region.id] = (region, error.not_leader.leader)
                        break
                    if error.HasField("epoch_not_match") or error.HasField("key_not_in_region") \
                            or error.HasField("region_not_found"):
                        self.invalidate(region.id)
                        if regroup and not error.HasField("region_not_found"):
                            raise Regroup()
                        break
                    continue
                failure = getattr(response, "error", "")
                if isinstance(failure, str) and failure:   # the raw API's error string
                    raise AssertionError(f"{method} failed: {failure}")
                return response
            self.invalidate(region.id)
            time.sleep(0.05)
        raise TimeoutError(f"{method} did not succeed within {timeout}s; last error: {last}")

    def call_grouped(self, method, keys, make_request, space="txn", timeout=30.0):
        """Sends one make_request(ctx, keys_of_region) per region holding some of `keys`; regroups
        the keys of a region that split meanwhile. Returns the responses."""
        pending, responses = list(keys), []
        deadline = time.time() + timeout
        while pending:
            assert time.time() < deadline, f"{method} did not succeed within {timeout}s"
            groups = {}
            for key in pending:
                region, _ = self.locate(routing_key(key, space))
                groups.setdefault(region.id, []).append(key)
            pending = []
            for group in groups.values():
                try:
                    responses.append(self.call(method, group[0], lambda ctx, g=group: make_request(ctx, g),
                                               timeout=max(1.0, deadline - time.time()), space=space, regroup=True))
                except Regroup:
                    pending += group
        return responses

    def put(self, key, value, timeout=30.0):
        self.call("RawPut", key, lambda ctx: kv.RawPutRequest(context=ctx, key=key, value=value, cf="default"), timeout)

    def get(self, key, timeout=30.0):
        r = self.call("RawGet", key, lambda ctx: kv.RawGetRequest(context=ctx, key=key, cf="default"), timeout)
        return None if r.not_found else r.value


def scan_regions(cluster):
    r = cluster.pd_stub.ScanRegions(pd.ScanRegionsRequest(header=cluster.header(), start_key=b"", end_key=b"", limit=10000))
    return list(r.regions)


def tiles(regions):
    regions = sorted(regions, key=lambda r: r.start_key)
    return bool(regions) and regions[0].start_key == b"" and regions[-1].end_key == b"" and all(
        a.end_key == b.start_key for a, b in zip(regions, regions[1:]))


def assert_tiles(regions):
    regions = sorted(regions, key=lambda r: r.start_key)
    assert regions[0].start_key == b"" and regions[-1].end_key == b"", [(r.start_key, r.end_key) for r in regions]
    for a, b in zip(regions, regions[1:]):
        assert a.end_key == b.start_key, (a, b)


def ctl_json(cluster, *args):
    cmd = [str(BIN / "tinykv-ctl"), *args, "--scheduler", f"127.0.0.1:{cluster.pd_port}",
           "--store", cluster.addresses()[0], "--format", "json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return json.loads(r.stdout)


def write_parallel(router, keys, value, acked, threads=8):
    errors = []

    def worker(part):
        try:
            for key in part:
                router.put(key, value)
                acked[key] = value
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    workers = [threading.Thread(target=worker, args=(keys[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    return workers, errors


def test_many_splits_tile_the_key_space_and_survive_a_kill(workdir):
    cluster = Cluster(workdir)
    (workdir / "store.toml").write_text(SPLIT_CONFIG)
    try:
        for index in range(3):
            cluster.start_store(index)
        cluster.wait_replicas(3)
        router = Router(cluster)
        value = b"v" * 2000
        acked = {}

        # 1. ~1 MiB: several splits.
        first = [f"key{i:06}".encode() for i in range(0, 1000, 2)]
        workers, errors = write_parallel(router, first, value, acked)
        for w in workers:
            w.join()
        assert not errors, errors

        # 2. Another ~1 MiB while a follower store is killed with SIGKILL and restarted.
        second = [f"key{i:06}".encode() for i in range(1, 1000, 2)]
        workers, errors = write_parallel(router, second, value, acked)
        time.sleep(1.0)
        region, leader = cluster.region()
        victim = next(i for i, p in cluster.ports.items()
                      if f"127.0.0.1:{p}" != cluster.store_address(leader.store_id))
        cluster.kill_store(victim)
        time.sleep(1.5)
        cluster.start_store(victim)
        for w in workers:
            w.join()
        assert not errors, errors

        # The scheduler's regions tile the key space; there are many of them. The scheduler learns
        # new regions from heartbeats, so its view may have a gap for a moment after a split.
        deadline = time.time() + 30
        while True:
            regions = scan_regions(cluster)
            if len(regions) >= 16 and all(len(r.peers) == 3 for r in regions) and tiles(regions):
                break
            assert time.time() < deadline, f"{len(regions)} regions, tiling: {tiles(regions)}"
            time.sleep(0.2)
        assert_tiles(regions)
        listed = ctl_json(cluster, "region", "list")
        assert len(listed) >= 16
        assert all(r["version"] > 1 for r in listed)
        print(f"{len(regions)} regions after writing {len(acked) * len(value) >> 10} KiB")

        # Every acknowledged write is readable, through the Python router and through ctl.
        for key, v in acked.items():
            assert router.get(key) == v, key
        pairs = ctl_json(cluster, "raw", "scan", "--limit", "100000")
        scanned = [p["key"] for p in pairs]
        assert scanned == sorted(k.decode() for k in acked), "ctl scan differs from the acknowledged writes"
    finally:
        cluster.stop_all()
