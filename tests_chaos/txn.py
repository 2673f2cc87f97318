"""Percolator over the routing client, one key per request (correct whatever the regions are),
routed by the keys' EncodeBytes form (the transactional key space).

The primary is committed first; secondaries are committed only once the primary's commit was
acknowledged. A failed or ambiguous prewrite aborts (best-effort rollback); an ambiguous
primary commit leaves the outcome to lock resolution (readers check the primary).
"""
import time

import grpc

import kvrpcpb_pb2 as kv
import schedulerpb_pb2 as pd

from client import Ambiguous, Failed


class Retry(Exception):
    """The transaction did not commit (or its outcome is unknown): try another."""


class Percolator:
    def __init__(self, router, lock_ttl_ms=1000):
        self.router = router
        self.lock_ttl = lock_ttl_ms

    def ts(self):
        try:
            r = next(self.router.cluster.pd.Tso(iter([pd.TsoRequest(header=self.router.cluster.header(), count=1)]), timeout=2))
        except grpc.RpcError as e:
            raise Retry(f"tso: {e.code()}")
        if r.header.HasField("error") and r.header.error.type:
            raise Retry(f"tso error {r.header.error}")
        return (r.timestamp.physical << 18) + r.timestamp.logical

    def _call(self, method, key, make, write=False, timeout=8.0):
        try:
            return self.router.call(method, key, make, write, timeout, space="txn")
        except (Ambiguous, Failed) as e:
            raise Retry(str(e))

    # -- reads
    def get(self, key, start_ts):
        for _ in range(100):
            r = self._call("KvGet", key, lambda ctx: kv.GetRequest(context=ctx, key=key, version=start_ts))
            if r.HasField("error") and r.error.HasField("locked"):
                self.resolve(r.error.locked, key)
                continue
            if r.HasField("error"):
                raise Retry(str(r.error))
            return None if r.not_found else r.value
        raise Retry("lock not resolved")

    def resolve(self, lock, key):
        """Finishes or rolls back the transaction that left `lock` on `key`, or waits while it is alive."""
        primary = lock.primary_lock
        status = self._call("KvCheckTxnStatus", primary, lambda ctx: kv.CheckTxnStatusRequest(
            context=ctx, primary_key=primary, lock_ts=lock.lock_version, current_ts=self.ts()))
        if status.action == kv.NoAction and status.lock_ttl > 0:
            time.sleep(0.05)  # the owner may be alive: wait for it
            return
        r = self._call("KvResolveLock", key, lambda ctx: kv.ResolveLockRequest(
            context=ctx, start_version=lock.lock_version, commit_version=status.commit_version))
        if r.HasField("error"):
            raise Retry(f"resolve failed: {r.error}")

    # -- writes
    def rollback(self, start_ts, keys):
        for k in keys:
            try:
                self.router.call("KvBatchRollback", k, lambda ctx, k=k: kv.BatchRollbackRequest(
                    context=ctx, start_version=start_ts, keys=[k]), True, 3.0, space="txn")
            except (Ambiguous, Failed):
                pass   # readers resolve what is left

    def commit_writes(self, start_ts, writes, abandon_after_prewrite=False, abandon_after_primary=False):
        """Commits {key: value} atomically. Returns the commit ts, or raises Retry (not committed
        or outcome unknown)."""
        keys = sorted(writes)
        primary = keys[0]
        for k in keys:
            m = kv.Mutation(op=kv.Put, key=k, value=writes[k])
            try:
                r = self.router.call("KvPrewrite", k, lambda ctx, m=m: kv.PrewriteRequest(
                    context=ctx, mutations=[m], primary_lock=primary, start_version=start_ts, lock_ttl=self.lock_ttl), True, 5.0, space="txn")
            except (Ambiguous, Failed) as e:
                self.rollback(start_ts, keys)
                raise Retry(f"prewrite: {e}")
            if r.errors:
                for e in r.errors:
                    if e.HasField("locked"):
                        try:
                            self.resolve(e.locked, k)
                        except Retry:
                            pass
                self.rollback(start_ts, keys)
                raise Retry("prewrite conflict")
        if abandon_after_prewrite:
            return None
        commit_ts = self.ts()
        try:
            c = self.router.call("KvCommit", primary, lambda ctx: kv.CommitRequest(
                context=ctx, start_version=start_ts, keys=[primary], commit_version=commit_ts), True, 5.0, space="txn")
        except Failed as e:
            self.rollback(start_ts, keys)
            raise Retry(f"commit primary failed: {e}")
        except Ambiguous as e:
            raise Retry(f"commit primary ambiguous: {e}")   # lock resolution decides
        if c.HasField("error"):
            # A reader rolled us back after the TTL: the transaction did not happen.
            self.rollback(start_ts, keys)
            raise Retry(f"commit of primary refused: {c.error}")
        if abandon_after_primary:
            return commit_ts
        for k in keys[1:]:
            try:
                self.router.call("KvCommit", k, lambda ctx, k=k: kv.CommitRequest(
                    context=ctx, start_version=start_ts, keys=[k], commit_version=commit_ts), True, 5.0, space="txn")
            except (Ambiguous, Failed):
                pass   # committed anyway (the primary is): readers roll the secondary forward
        return commit_ts
