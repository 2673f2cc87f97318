"""A routing TinyKV client: finds the region of each key through the scheduler (GetRegion),
caches regions and leaders, and follows region errors like TiKV's client does. Raw-API keys
are looked up as they are, transactional keys by their memcomparable encoding (EncodeBytes),
which is how the store and TinySQL compare them with region bounds.

Retrying is only safe when the request certainly did not take effect. Writes are retried on
`not_leader`, `epoch_not_match`, `key_not_in_region`, `region_not_found`, `store_not_match`
(all answered before proposing) and on a connection that could not be established; any other
failure of a write (deadline, reset connection, `stale_command`, unknown error) is ambiguous
and raised as `Ambiguous`. Reads are retried on any of them.
"""
import bisect
import threading
import time

import grpc

import kvrpcpb_pb2 as kv
import schedulerpb_pb2 as pd
import tinykvpb_pb2_grpc as tinykv_grpc


class Ambiguous(Exception):
    """The request may or may not have taken effect."""


class Failed(Exception):
    """The request certainly did not take effect (gave up before any attempt could apply)."""


def encode_bytes(key):
    """TiDB's codec.EncodeBytes: how transactional keys are compared with region bounds."""
    out = bytearray()
    for i in range(0, len(key) + 1, 8):
        group = key[i:i + 8]
        pad = 8 - len(group)
        out += group + b"\x00" * pad + bytes([0xFF - pad])
        if pad:
            break
    return bytes(out)


def routing_key(key, space):
    """The key compared with region bounds: raw-API keys as they are, transactional ones encoded."""
    if space == "raw":
        return key
    if space == "txn":
        return encode_bytes(key)
    raise ValueError(f"unknown key space {space!r}")


RETRYABLE_REGION_ERRORS = ("not_leader", "epoch_not_match", "key_not_in_region", "region_not_found", "store_not_match")


def _connect_failed(error):
    if error.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    details = (error.details() or "").lower()
    return "failed to connect" in details or "connection refused" in details or "connect failed" in details


class Router:
    def __init__(self, cluster, rpc_timeout=2.0):
        self.cluster = cluster
        self.rpc_timeout = rpc_timeout
        self.lock = threading.Lock()
        self.regions = {}      # region id -> (region, leader peer or None)
        self.starts = []       # sorted (start_key, region id)
        self.addresses = {}    # store id -> address
        self.channels = {}     # address -> stub
        self.stats = {"region_errors": 0, "rpc_errors": 0, "refreshes": 0}

    # -- cache
    def _pd(self, method, request):
        return getattr(self.cluster.pd, method)(request, timeout=self.rpc_timeout)

    def locate(self, key):
        """The region holding the routing key `key` (see routing_key) and its leader."""
        with self.lock:
            i = bisect.bisect_right(self.starts, (key, float("inf"))) - 1
            if i >= 0:
                region, leader = self.regions[self.starts[i][1]]
                if region.start_key <= key and (not region.end_key or key < region.end_key):
                    return region, leader
        self.stats["refreshes"] += 1
        r = self._pd("GetRegion", pd.GetRegionRequest(header=self.cluster.header(), region_key=key))
        if not r.region.id:
            raise grpc.RpcError("no region")
        leader = r.leader if r.leader.store_id else None
        with self.lock:
            self._drop_overlapping(r.region)
            self.regions[r.region.id] = (r.region, leader)
            bisect.insort(self.starts, (r.region.start_key, r.region.id))
        return r.region, leader

    def _drop_overlapping(self, region):
        keep = []
        for start, rid in self.starts:
            old = self.regions[rid][0]
            overlaps = (not region.end_key or old.start_key < region.end_key) and (not old.end_key or region.start_key < old.end_key)
            if rid == region.id or overlaps:
                del self.regions[rid]
            else:
                keep.append((start, rid))
        self.starts = keep

    def invalidate(self, region_id):
        with self.lock:
            if region_id in self.regions:
                del self.regions[region_id]
                self.starts = [(s, r) for s, r in self.starts if r != region_id]

    def set_leader(self, region_id, peer):
        with self.lock:
            if region_id in self.regions:
                region, _ = self.regions[region_id]
                self.regions[region_id] = (region, peer)

    def address(self, store_id, refresh=False):
        if refresh or store_id not in self.addresses:
            s = self._pd("GetStore", pd.GetStoreRequest(header=self.cluster.header(), store_id=store_id))
            self.addresses[store_id] = s.store.address
        return self.addresses[store_id]

    def stub(self, address):
        with self.lock:
            if address not in self.channels:
                self.channels[address] = tinykv_grpc.TinyKvStub(grpc.insecure_channel(address))
            return self.channels[address]

    # -- calls
    def call(self, method, key, make_request, write, timeout=10.0, space="raw"):
        """Sends `make_request(ctx)` to the leader of `key`'s region (`space`: "raw" routes by the
        key, "txn" by its EncodeBytes form, as the store compares them). Returns the response
        (without a region error). Raises Ambiguous (writes) or Failed (nothing can have been applied)."""
        deadline = time.time() + timeout
        rotate = 0
        last = None
        routing = routing_key(key, space)
        while time.time() < deadline:
            try:
                region, leader = self.locate(routing)
            except grpc.RpcError as e:   # the scheduler is down or restarting
                last = e
                time.sleep(0.1)
                continue
            peer = leader
            if peer is None:
                peer = region.peers[rotate % len(region.peers)]
                rotate += 1
            try:
                address = self.address(peer.store_id)
            except grpc.RpcError as e:
                last = e
                time.sleep(0.1)
                continue
            ctx = kv.Context(region_id=region.id, region_epoch=region.region_epoch, peer=peer)
            try:
                response = getattr(self.stub(address), method)(make_request(ctx), timeout=min(self.rpc_timeout, max(0.05, deadline - time.time())))
            except grpc.RpcError as e:
                self.stats["rpc_errors"] += 1
                last = e
                if write and not _connect_failed(e):
                    raise Ambiguous(f"{method}: {e.code()} {e.details()}")
                # Try another peer: drop the leader we believed in.
                self.set_leader(region.id, None)
                rotate += 1
                time.sleep(0.05)
                continue
            if response.HasField("region_error"):
                self.stats["region_errors"] += 1
                err = response.region_error
                last = err
                if err.HasField("not_leader"):
                    hint = err.not_leader.leader
                    if hint.store_id and hint.store_id != peer.store_id:
                        self.set_leader(region.id, hint)
                    else:
                        self.set_leader(region.id, None)
                        rotate += 1
                        time.sleep(0.05)
                    continue
                if err.HasField("epoch_not_match") or err.HasField("key_not_in_region") or err.HasField("region_not_found"):
                    self.invalidate(region.id)
                    if err.HasField("region_not_found"):
                        rotate += 1
                        time.sleep(0.05)
                    continue
                if err.HasField("store_not_match"):
                    self.address(peer.store_id, refresh=True)
                    self.invalidate(region.id)
                    continue
                # stale_command or an unknown error: the proposal may have been applied.
                if write:
                    raise Ambiguous(f"{method}: region error {err}")
                self.invalidate(region.id)
                time.sleep(0.05)
                continue
            return response
        raise Failed(f"{method}: no success within {timeout}s; last: {str(last)[:200]}")

    # -- raw KV
    def raw_put(self, key, value, timeout=10.0):
        r = self.call("RawPut", key, lambda ctx: kv.RawPutRequest(context=ctx, key=key, value=value, cf="default"), True, timeout)
        if r.error:
            raise Ambiguous(f"RawPut error: {r.error}")

    def raw_get(self, key, timeout=10.0):
        r = self.call("RawGet", key, lambda ctx: kv.RawGetRequest(context=ctx, key=key, cf="default"), False, timeout)
        if r.error:
            raise Failed(f"RawGet error: {r.error}")
        return None if r.not_found else r.value
