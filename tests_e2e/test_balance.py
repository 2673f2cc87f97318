"""Multi-raft balancing with real processes (issue 7): 1 scheduler + 3 or 4 raft stores, small regions.

- Writing 4 MiB with `region-split-size = 64KiB` yields at least 16 regions that tile the key
  space (checked through the scheduler's ScanRegions); every key stays readable.
- A 4th store gets replicas and at least one leader within a minute, regions keep 3 replicas,
  and the data stays readable. The time until the 4th store holds a balanced share, and the
  write throughput of a client during the balance vs before it, are printed (BALANCE lines).
- A store killed with SIGKILL for longer than the scheduler's `max-store-down-time`: every
  region regains 3 replicas on live stores; when the store comes back its stale peers are
  destroyed (tombstoned) and the data stays readable.
- The store leading most regions is killed while writers split regions; after it restarts
  every acknowledged write is readable.
"""
import os
import signal
import threading
import time

import grpc

import schedulerpb_pb2 as pd
import schedulerpb_pb2_grpc as pd_grpc

from conftest import BIN, Process, free_port, metrics_text, sample, wait_port
from test_raft_cluster import Cluster
from test_split import SPLIT_CONFIG as STORE_CONFIG, Router, assert_tiles, scan_regions, tiles, write_parallel

# A small down time so a killed store's replicas are replaced within the test.
SCHEDULER_CONFIG = """
max-store-down-time = "3s"
"""

VALUE = b"v" * 2048


class BalanceCluster(Cluster):
    """The raft cluster of test_raft_cluster with a scheduler config file and status ports on the stores."""

    def __init__(self, workdir, scheduler_config=SCHEDULER_CONFIG):
        self.workdir = workdir
        self.pd_port = free_port()
        (workdir / "pd.toml").write_text(scheduler_config)
        self.pd = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{self.pd_port}",
                           "--data-dir", str(workdir / "pd"), "--name", "pd-balance", "--config", str(workdir / "pd.toml"),
                           "--log-level", os.environ.get("BALANCE_PD_LOG", "info")],
                          str(workdir / "pd.log"))
        wait_port(self.pd_port, self.pd.proc)
        self.pd_stub = pd_grpc.SchedulerStub(grpc.insecure_channel(f"127.0.0.1:{self.pd_port}"))
        self.cluster_id = self.pd_stub.GetMembers(pd.GetMembersRequest()).header.cluster_id
        (workdir / "store.toml").write_text(STORE_CONFIG)
        self.ports, self.status_ports, self.procs, self.stubs = {}, {}, {}, {}

    def start_store(self, index):
        port = self.ports.setdefault(index, free_port())
        status = self.status_ports.setdefault(index, free_port())
        proc = Process([str(BIN / "tinykv-server"), "-scheduler", f"127.0.0.1:{self.pd_port}",
                        "-addr", f"127.0.0.1:{port}", "-path", str(self.workdir / f"store{index}"),
                        "-status-addr", f"127.0.0.1:{status}",
                        "-config", str(self.workdir / "store.toml")], str(self.workdir / f"store{index}.log"))
        wait_port(port, proc.proc)
        self.procs[index] = proc

    def store_id(self, index):
        """The scheduler's id of the store at `index` (by address)."""
        address = f"127.0.0.1:{self.ports[index]}"
        stores = self.pd_stub.GetAllStores(pd.GetAllStoresRequest(header=self.header())).stores
        return next(s.id for s in stores if s.address == address)

    def local_region_count(self, index):
        """How many peers the store at `index` runs (its tinykv_region_count metric); None while unreachable."""
        try:
            text = metrics_text(self.status_ports[index])
        except OSError:
            return None
        return int(sample(text, "tinykv_region_count"))

    def layout(self):
        """(regions, replicas per store id, leaders per store id) in the scheduler's view."""
        r = self.pd_stub.ScanRegions(pd.ScanRegionsRequest(header=self.header(), limit=100000))
        replicas, leaders = {}, {}
        for region, leader in zip(r.regions, r.leaders):
            for peer in region.peers:
                replicas[peer.store_id] = replicas.get(peer.store_id, 0) + 1
            if leader.store_id:
                leaders[leader.store_id] = leaders.get(leader.store_id, 0) + 1
        return list(r.regions), replicas, leaders


def wait_for(condition, timeout, message):
    deadline = time.time() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.time() < deadline, message() if callable(message) else message
        time.sleep(0.2)


def write_keys(router, keys, acked):
    workers, errors = write_parallel(router, keys, VALUE, acked)
    for w in workers:
        w.join()
    assert not errors, errors


def split_to_tiling(cluster, minimum):
    """Waits until the scheduler's regions tile the key space with ≥ `minimum` regions of 3 replicas each."""
    def ready():
        regions = scan_regions(cluster)
        ok = len(regions) >= minimum and all(len(r.peers) == 3 for r in regions) and tiles(regions)
        return regions if ok else None
    return wait_for(ready, 60, lambda: f"{len(scan_regions(cluster))} regions, tiling: {tiles(scan_regions(cluster))}")


def settle_splits(cluster, minimum, quiet=3.0):
    """Waits for a tiling with ≥ `minimum` regions that stays the same for `quiet` seconds (splits done)."""
    regions = split_to_tiling(cluster, minimum)
    stable_since, count = time.time(), len(regions)
    deadline = time.time() + 60
    while time.time() - stable_since < quiet:
        assert time.time() < deadline, "regions keep splitting"
        time.sleep(0.2)
        regions = split_to_tiling(cluster, minimum)
        if len(regions) != count:
            stable_since, count = time.time(), len(regions)
    return regions


class Writer:
    """A client overwriting existing keys in a loop (same value size, so no further splits); counts acks per second."""

    def __init__(self, router, keys, acked, threads=4):
        self.router, self.keys, self.acked = router, keys, acked
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.acks = []   # ack timestamps
        self.errors = []
        self.threads = [threading.Thread(target=self._run, args=(i, threads)) for i in range(threads)]

    def _run(self, offset, stride):
        i = offset
        try:
            while not self.stop_flag.is_set():
                key = self.keys[i % len(self.keys)]
                value = VALUE[:-8] + b"%08d" % i
                self.router.put(key, value)
                with self.lock:
                    self.acked[key] = value
                    self.acks.append(time.time())
                i += stride
        except Exception as error:  # noqa: BLE001
            self.errors.append(error)

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()
        assert not self.errors, self.errors

    def rate(self, start, end):
        with self.lock:
            return sum(1 for t in self.acks if start <= t < end) / max(end - start, 1e-6)


def test_4mib_splits_and_a_fourth_store_takes_its_share(workdir):
    cluster = BalanceCluster(workdir)
    try:
        for index in range(3):
            cluster.start_store(index)
        cluster.wait_replicas(3)
        router = Router(cluster)
        acked = {}
        keys = [f"key{i:06}".encode() for i in range(2048)]   # 2048 x 2 KiB = 4 MiB
        write_keys(router, keys, acked)
        regions = settle_splits(cluster, 16)
        assert_tiles(regions)
        print(f"BALANCE regions after 4 MiB: {len(regions)}")
        for key in keys:
            assert router.get(key) == VALUE, key

        # A client writes continuously; measure before the 4th store and while it fills.
        writer = Writer(router, keys, acked)
        writer.start()
        time.sleep(5)
        started = time.time()
        before = writer.rate(started - 5, started)
        cluster.start_store(3)
        new_store = wait_for(lambda: _try_store_id(cluster, 3), 20, "4th store did not register")

        def has_replicas_and_leader():
            _, replicas, leaders = cluster.layout()
            return replicas.get(new_store, 0) > 0 and leaders.get(new_store, 0) > 0
        wait_for(has_replicas_and_leader, 60, lambda: f"4th store after 60 s: {cluster.layout()[1:]}")
        first_share = time.time() - started

        def balanced():
            # A balanced share: within 1 of the mean, plus the balance-region scheduler's own
            # tolerance for replicas (5% of the mean: it stops moving inside that band).
            regions, replicas, leaders = cluster.layout()
            total_replicas = sum(replicas.values())
            total_leaders = sum(leaders.values())
            return (all(len(r.peers) == 3 for r in regions) and total_leaders == len(regions)
                    and abs(replicas.get(new_store, 0) - total_replicas / 4) <= 1 + 0.05 * total_replicas / 4
                    and abs(leaders.get(new_store, 0) - total_leaders / 4) <= 1)
        wait_for(balanced, 180, lambda: f"not balanced after 180 s: {cluster.layout()[1:]}")
        balanced_after = time.time() - started
        during = writer.rate(started, started + balanced_after)
        writer.stop()

        def at_rest():
            # The scheduler may be finishing one more move: its region has 4 peers until the
            # new peer has caught up and the old one is removed.
            layout = cluster.layout()
            return layout if all(len(r.peers) == 3 for r in layout[0]) else None
        regions, replicas, leaders = wait_for(at_rest, 60, lambda: f"a move still under way after 60 s: {cluster.layout()[1:]}")
        print(f"BALANCE 4th store: first replica+leader after {first_share:.1f}s, balanced share after {balanced_after:.1f}s; "
              f"replicas {replicas}, leaders {leaders}")
        print(f"BALANCE write throughput (4 client threads): {before:.0f} ops/s before, {during:.0f} ops/s during the balance")
        assert all(len(r.peers) == 3 for r in regions)
        assert_tiles(regions)
        for key, value in acked.items():
            assert router.get(key) == value, key
    finally:
        cluster.stop_all()


def _try_store_id(cluster, index):
    try:
        return cluster.store_id(index)
    except StopIteration:
        return None


def test_a_store_down_longer_than_the_down_time_is_replaced_and_its_stale_peers_are_gced(workdir):
    cluster = BalanceCluster(workdir)
    try:
        for index in range(4):
            cluster.start_store(index)
        cluster.wait_replicas(3)
        router = Router(cluster)
        acked = {}
        keys = [f"key{i:06}".encode() for i in range(1024)]   # 2 MiB: a few dozen regions over 4 stores
        write_keys(router, keys, acked)
        split_to_tiling(cluster, 8)
        victim = 1
        victim_id = cluster.store_id(victim)
        wait_for(lambda: cluster.layout()[1].get(victim_id, 0) > 0, 60, "no replicas on the victim store")
        had = cluster.local_region_count(victim)

        cluster.kill_store(victim)
        killed = time.time()

        def repaired():
            regions, replicas, _ = cluster.layout()
            return replicas.get(victim_id, 0) == 0 and all(len(r.peers) == 3 for r in regions) and tiles(regions)
        wait_for(repaired, 90, lambda: f"not repaired: {cluster.layout()[1:]}; "
                                       f"{[(r.id, [(p.id, p.store_id) for p in r.peers]) for r in cluster.layout()[0] if len(r.peers) != 3 or any(p.store_id == victim_id for p in r.peers)]}")
        print(f"BALANCE down store ({had} peers) replaced after {time.time() - killed:.1f}s")
        for key, value in acked.items():
            assert router.get(key) == value, key

        # The store returns: its old peers were removed from their regions meanwhile, so they must
        # be destroyed, and whatever the scheduler places there again must work.
        cluster.start_store(victim)
        more = [f"more{i:06}".encode() for i in range(64)]
        write_keys(router, more, acked)

        def settled():
            regions, replicas, _ = cluster.layout()
            return (all(len(r.peers) == 3 for r in regions) and tiles(regions)
                    and cluster.local_region_count(victim) == replicas.get(victim_id, 0))
        wait_for(settled, 90, lambda: f"victim runs {cluster.local_region_count(victim)} peers, "
                                      f"scheduler places {cluster.layout()[1].get(victim_id, 0)}")
        log = cluster.procs[victim].output()
        assert "destroying peer" in log, "no stale peer was destroyed on the returning store"
        for key, value in acked.items():
            assert router.get(key) == value, key
    finally:
        cluster.stop_all()


def test_killing_the_busiest_leader_store_during_splits_loses_no_acknowledged_write(workdir):
    cluster = BalanceCluster(workdir)
    try:
        for index in range(3):
            cluster.start_store(index)
        cluster.wait_replicas(3)
        router = Router(cluster)
        acked = {}
        first = [f"key{i:06}".encode() for i in range(0, 1200, 2)]
        write_keys(router, first, acked)

        second = [f"key{i:06}".encode() for i in range(1, 1200, 2)]
        workers, errors = write_parallel(router, second, VALUE, acked)
        time.sleep(1.0)
        _, _, leaders = cluster.layout()
        busiest = max(leaders, key=leaders.get)
        victim = next(i for i in cluster.ports if cluster.store_id(i) == busiest)
        cluster.kill_store(victim)
        time.sleep(2.0)
        cluster.start_store(victim)
        for w in workers:
            w.join()
        assert not errors, errors
        split_to_tiling(cluster, 8)
        for key, value in acked.items():
            assert router.get(key) == value, key
    finally:
        cluster.stop_all()


def metric_value(cluster, index, name):
    try:
        return sample(metrics_text(cluster.status_ports[index]), name)
    except OSError:
        return None


def test_sleeping_regions_elect_new_leaders_when_the_leader_store_is_killed(workdir):
    """Idle regions hibernate (no ticks, no heartbeats); killing the store that leads most of them
    still gets every region a new leader: followers wake when that store's pings stop."""
    cluster = BalanceCluster(workdir)
    try:
        for index in range(3):
            cluster.start_store(index)
        cluster.wait_replicas(3)
        router = Router(cluster)
        acked = {}
        write_keys(router, [f"key{i:06}".encode() for i in range(512)], acked)
        regions = settle_splits(cluster, 8)
        # Idle: every store has sleeping peers (a leader sleeps after an election timeout of idle ticks).
        wait_for(lambda: all((metric_value(cluster, i, "tinykv_raftstore_hibernated_peers") or 0) >= len(regions) // 2
                             for i in range(3)), 30,
                 lambda: f"hibernated peers: {[metric_value(cluster, i, 'tinykv_raftstore_hibernated_peers') for i in range(3)]}")
        _, _, leaders = cluster.layout()
        busiest = max(leaders, key=leaders.get)
        victim = next(i for i in cluster.ports if cluster.store_id(i) == busiest)
        cluster.kill_store(victim)
        killed = time.time()
        for key, value in acked.items():
            assert router.get(key, timeout=60) == value, key
        for key in list(acked)[::16]:
            router.put(key, b"after", timeout=60)
        print(f"BALANCE sleeping regions of the killed store ({leaders[busiest]} leaders) all served again "
              f"{time.time() - killed:.1f}s after the kill")
    finally:
        cluster.stop_all()
