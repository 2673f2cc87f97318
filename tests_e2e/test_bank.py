"""Bank transfers with Percolator over gRPC against real processes: the total never changes.

One scheduler (timestamps) and one store. Clients transfer money between accounts; some
crash mid-transaction (after prewrite, or after committing only the primary), leaving locks
that readers resolve. Auditors read every account at one timestamp and must always see the
same total, also across a kill -9 and restart of the store.
"""
import random
import signal
import struct
import threading
import time

import grpc
import pytest

import schedulerpb_pb2_grpc as pd_grpc
import tinykvpb_pb2_grpc as tinykv

from conftest import BIN, Process, free_port, wait_port
from percolator import Percolator, Retry, unavailable

ACCOUNTS = 12
INITIAL = 1000


def account(i):
    return b"acct-%03d" % i


def encode(n):
    return struct.pack(">q", n)


def decode(b):
    return struct.unpack(">q", b)[0]


@pytest.fixture
def cluster(workdir):
    pd_port, kv_port = free_port(), free_port()
    procs = {}

    def start_pd():
        procs["pd"] = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{pd_port}",
                               "--data-dir", str(workdir / "pd"), "--name", "pd"], str(workdir / "pd.log"))
        wait_port(pd_port, procs["pd"].proc)

    def start_store():
        procs["kv"] = Process([str(BIN / "tinykv-server"), "-addr", f"127.0.0.1:{kv_port}", "-path", str(workdir / "kv")],
                              str(workdir / "kv.log"))
        wait_port(kv_port, procs["kv"].proc)

    start_pd()
    start_store()
    pd_stub = pd_grpc.SchedulerStub(grpc.insecure_channel(f"127.0.0.1:{pd_port}"))
    kv_stub = tinykv.TinyKvStub(grpc.insecure_channel(f"127.0.0.1:{kv_port}"))
    yield {"pd": pd_stub, "kv": kv_stub, "procs": procs, "start_store": start_store}
    for p in procs.values():
        p.stop()


def audit(client):
    start = client.ts()
    return sum(decode(client.get(account(i), start)) for i in range(ACCOUNTS))


def test_bank_total_is_invariant_with_crashing_clients_and_a_store_restart(cluster):
    client = Percolator(cluster["pd"], cluster["kv"], lock_ttl_ms=300)
    setup_ts = client.ts()
    assert client.commit_writes(setup_ts, {account(i): encode(INITIAL) for i in range(ACCOUNTS)})
    total = ACCOUNTS * INITIAL
    assert audit(client) == total

    stop = threading.Event()
    committed = [0]
    crashed = [0]
    failures = []
    audits = []
    lock = threading.Lock()

    def transfer_loop(seed):
        rng = random.Random(seed)
        c = Percolator(cluster["pd"], cluster["kv"], lock_ttl_ms=300)
        while not stop.is_set():
            a, b = rng.sample(range(ACCOUNTS), 2)
            amount = rng.randint(1, 50)
            try:
                start = c.ts()
                va, vb = decode(c.get(account(a), start)), decode(c.get(account(b), start))
                crash = rng.random()
                result = c.commit_writes(start, {account(a): encode(va - amount), account(b): encode(vb + amount)},
                                         crash_after_prewrite=crash < 0.05, crash_after_primary=0.05 <= crash < 0.1)
                with lock:
                    if crash < 0.1:
                        crashed[0] += 1
                    elif result:
                        committed[0] += 1
            except Retry:
                continue
            except grpc.RpcError as e:
                if not unavailable(e):
                    failures.append(repr(e))
                time.sleep(0.05)

    def audit_loop():
        c = Percolator(cluster["pd"], cluster["kv"])
        while not stop.is_set():
            try:
                audits.append(audit(c))
            except Retry:
                pass
            except grpc.RpcError as e:
                if not unavailable(e):
                    failures.append(repr(e))
                time.sleep(0.05)

    threads = [threading.Thread(target=transfer_loop, args=(i,)) for i in range(8)] + [threading.Thread(target=audit_loop) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(3)
    cluster["procs"]["kv"].stop(sig=signal.SIGKILL)
    time.sleep(0.3)
    cluster["start_store"]()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(30)

    print(f"\nbank: {committed[0]} transfers committed, {crashed[0]} clients crashed mid-transaction, {len(audits)} audits")
    assert not failures, failures[:3]
    assert committed[0] > 20, f"only {committed[0]} transfers committed"
    assert audits and all(a == total for a in audits), sorted(set(audits))
    # Locks left by crashed clients are resolved by the final audit.
    time.sleep(0.4)
    assert audit(client) == total
