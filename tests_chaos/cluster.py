"""The cluster under test: one scheduler in the hub namespace, each store in its own namespace."""
import os
import pathlib
import signal
import socket
import subprocess
import time

import grpc

import schedulerpb_pb2 as pd
import schedulerpb_pb2_grpc as pd_grpc

from netns import HUB_IP, store_ip

SCHEDULER_PORT = 2379
STORE_PORT = 20160

STORE_CONFIG = """
raft-base-tick-interval = "50ms"
raft-heartbeat-ticks = 2
raft-election-timeout-ticks = 10
raft-log-gc-tick-interval = "500ms"
raft-log-gc-count-limit = 100
scheduler-heartbeat-tick-interval = "500ms"
scheduler-store-heartbeat-tick-interval = "1s"
# Small regions, so that regions split (and the scheduler balances them) during the faults.
split-region-check-tick-interval = "2s"
region-max-size = "96KiB"
region-split-size = "64KiB"
"""


def wait_tcp(host, port, proc, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not open")


class Server:
    def __init__(self, name, args, log_path):
        self.name = name
        self.args = args
        self.log_path = log_path
        self.proc = None
        self.paused = False
        self.killed = False

    def start(self):
        log = open(self.log_path, "ab")
        log.write(f"\n===== {time.strftime('%H:%M:%S')} start {' '.join(self.args)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.paused = False
        self.killed = False

    def crashed(self):
        """Exited without us killing it."""
        return self.proc is not None and not self.killed and self.proc.poll() is not None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill9(self):
        self.killed = True
        if self.alive():
            if self.paused:
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.paused = False

    def pause(self):
        if self.alive() and not self.paused:
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.alive() and self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def terminate(self):
        self.killed = True
        if self.alive():
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Cluster:
    def __init__(self, bin_dir, workdir, network, stores):
        self.bin = pathlib.Path(bin_dir)
        self.workdir = pathlib.Path(workdir)
        self.net = network
        self.count = stores
        (self.workdir / "store.toml").write_text(STORE_CONFIG)
        self.scheduler = Server("scheduler", [str(self.bin / "tinyscheduler-server"), "--client-urls",
                                              f"http://{HUB_IP}:{SCHEDULER_PORT}", "--data-dir", str(self.workdir / "pd"),
                                              "--name", "pd-chaos"], str(self.workdir / "pd.log"))
        self.stores = [Server(f"store{i}", ["ip", "netns", "exec", network.names[i], str(self.bin / "tinykv-server"),
                                            "-scheduler", f"{HUB_IP}:{SCHEDULER_PORT}",
                                            "-addr", f"{store_ip(i)}:{STORE_PORT}", "-path", str(self.workdir / f"store{i}"),
                                            "-config", str(self.workdir / "store.toml")], str(self.workdir / f"store{i}.log"))
                       for i in range(stores)]
        self.pd_channel = None
        self.pd = None
        self.cluster_id = 0

    # -- lifecycle
    def start_scheduler(self):
        self.scheduler.start()
        wait_tcp(HUB_IP, SCHEDULER_PORT, self.scheduler.proc)
        if self.pd is None:
            self.pd_channel = grpc.insecure_channel(f"{HUB_IP}:{SCHEDULER_PORT}")
            self.pd = pd_grpc.SchedulerStub(self.pd_channel)
        for _ in range(100):
            try:
                self.cluster_id = self.pd.GetMembers(pd.GetMembersRequest(), timeout=2).header.cluster_id
                return
            except grpc.RpcError:
                time.sleep(0.1)
        raise RuntimeError("scheduler does not answer")

    def start_store(self, i):
        self.stores[i].start()
        wait_tcp(store_ip(i), STORE_PORT, self.stores[i].proc)

    def start(self):
        self.start_scheduler()
        for i in range(self.count):
            self.start_store(i)

    def stop(self):
        for s in self.stores:
            s.kill9()
        self.scheduler.terminate()

    def header(self):
        return pd.RequestHeader(cluster_id=self.cluster_id)

    def address_index(self, address):
        for i in range(self.count):
            if address == f"{store_ip(i)}:{STORE_PORT}":
                return i
        return None

    def leader_index(self, key=b""):
        """The index of the store leading the region of `key`, per the scheduler (None if unknown)."""
        try:
            r = self.pd.GetRegion(pd.GetRegionRequest(header=self.header(), region_key=key), timeout=2)
            if not r.leader.store_id:
                return None
            s = self.pd.GetStore(pd.GetStoreRequest(header=self.header(), store_id=r.leader.store_id), timeout=2)
            return self.address_index(s.store.address)
        except grpc.RpcError:
            return None

    def wait_replicas(self, count, timeout=60.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                r = self.pd.GetRegion(pd.GetRegionRequest(header=self.header(), region_key=b""), timeout=2)
                last = r
                if len(r.region.peers) >= count and r.leader.store_id:
                    return r.region
            except grpc.RpcError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"region did not reach {count} replicas: {last}")
