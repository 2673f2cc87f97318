"""A small client-side Percolator over the TinyKV gRPC API, for the end-to-end tests.

Timestamps come from the scheduler's Tso stream; writes are prewritten (primary first key)
and committed primary-first; reads resolve locks they meet via CheckTxnStatus/ResolveLock.

It talks to one store without a region context (region id 0): a standalone store holds every key,
and a raft store routes such a request to its local region holding EncodeBytes(key) (one request
may not span regions). Multi-region clients route by encoded key themselves: see
test_split.Router(space="txn") and test_txn_split.py.
"""
import time

import grpc

import kvrpcpb_pb2 as kv
import schedulerpb_pb2 as pd


class Retry(Exception):
    """The transaction hit a conflict or a lock it could not resolve yet: try again."""


class Percolator:
    def __init__(self, scheduler_stub, store_stub, lock_ttl_ms=300):
        self.pd = scheduler_stub
        self.kv = store_stub
        self.lock_ttl = lock_ttl_ms

    def ts(self):
        r = next(self.pd.Tso(iter([pd.TsoRequest(header=pd.RequestHeader(), count=1)])))
        return (r.timestamp.physical << 18) + r.timestamp.logical

    # -- reads
    def get(self, key, start_ts):
        for _ in range(200):
            r = self.kv.KvGet(kv.GetRequest(key=key, version=start_ts))
            if r.HasField("region_error"):
                raise Retry(f"region error {r.region_error.message}")
            if r.HasField("error") and r.error.HasField("locked"):
                self.resolve(r.error.locked)
                continue
            if r.HasField("error"):
                raise Retry(str(r.error))
            return None if r.not_found else r.value
        raise Retry("lock not resolved")

    def resolve(self, lock):
        """Finish or roll back the transaction that left `lock`, or wait while it is alive."""
        status = self.kv.KvCheckTxnStatus(kv.CheckTxnStatusRequest(
            primary_key=lock.primary_lock, lock_ts=lock.lock_version, current_ts=self.ts()))
        if status.HasField("region_error"):
            raise Retry("region error while resolving")
        if status.action == kv.NoAction and status.lock_ttl > 0:
            time.sleep(0.02)  # the owner is alive: wait for it
            return
        r = self.kv.KvResolveLock(kv.ResolveLockRequest(start_version=lock.lock_version, commit_version=status.commit_version))
        if r.HasField("error") or r.HasField("region_error"):
            raise Retry(f"resolve failed: {r}")

    # -- writes
    def commit_writes(self, start_ts, writes, crash_after_prewrite=False, crash_after_primary=False):
        """Commits {key: value} atomically. Returns the commit ts, or raises Retry."""
        keys = sorted(writes)
        primary = keys[0]
        mutations = [kv.Mutation(op=kv.Put, key=k, value=writes[k]) for k in keys]
        r = self.kv.KvPrewrite(kv.PrewriteRequest(mutations=mutations, primary_lock=primary, start_version=start_ts, lock_ttl=self.lock_ttl))
        if r.HasField("region_error"):
            raise Retry("region error on prewrite")
        if r.errors:
            for e in r.errors:
                if e.HasField("locked"):
                    self.resolve(e.locked)
            self.kv.KvBatchRollback(kv.BatchRollbackRequest(start_version=start_ts, keys=keys))
            raise Retry("prewrite failed")
        if crash_after_prewrite:
            return None
        commit_ts = self.ts()
        c = self.kv.KvCommit(kv.CommitRequest(start_version=start_ts, keys=[primary], commit_version=commit_ts))
        if c.HasField("region_error") or c.HasField("error"):
            # A reader may have rolled us back after the TTL: the transaction did not happen.
            self.kv.KvBatchRollback(kv.BatchRollbackRequest(start_version=start_ts, keys=keys))
            raise Retry(f"commit of primary failed: {c}")
        if crash_after_primary:
            return commit_ts
        if len(keys) > 1:
            self.kv.KvCommit(kv.CommitRequest(start_version=start_ts, keys=keys[1:], commit_version=commit_ts))
        return commit_ts


def unavailable(error):
    return isinstance(error, grpc.RpcError) and error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)
