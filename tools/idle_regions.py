"""Idle-region cost of a raft store (issue 11: a store with 10,000 mostly idle regions should use
< 10% of a core and < 1 GiB RSS).

1. Starts a scheduler and 3 raft stores (release build) with tiny regions (`region-max-size`
   2 KiB, `region-split-size` 1 KiB) and split checks every tick (1 s), and writes keys in random order until the
   scheduler reports the target region count: every region is made by the real split path
   (split check -> AskSplit -> Split admin command through Raft).
2. Restarts the stores with the default tick settings (`raft-base-tick-interval` 1s, heartbeats
   every 2 ticks, elections after 10) and normal region sizes, waits until every region has a
   leader again and leaders are balanced, then lets the cluster idle; once with
   `hibernate-regions = false` and once with the default `true` (`--mode` picks one).
3. Measures each store's CPU (utime + stime from /proc/PID/stat) over the measurement window
   and its RSS (VmRSS), and prints one line per store plus a markdown row for docs/benchmarks.md.

Usage: tools/idle-regions.sh [--regions 10000] [--measure 60] [--mode both|on|off] [--bin .build/release] [--port-base 27000]
"""
import argparse
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests_e2e"))
os.environ.setdefault("TINYKV_BIN", str(ROOT / ".build/release"))

CREATE_CONFIG = """
raft-base-tick-interval = "1s"
raft-heartbeat-ticks = 2
raft-election-timeout-ticks = 10
split-region-check-tick-interval = "1s"
region-max-size = "2KiB"
region-split-size = "1KiB"
"""

# The defaults, spelled out: 1 s ticks, heartbeats every 2 ticks, normal region sizes.
IDLE_CONFIG = """
raft-base-tick-interval = "1s"
raft-heartbeat-ticks = 2
raft-election-timeout-ticks = 10
"""

SCHEDULER_CONFIG = """
leader-schedule-limit = 64
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regions", type=int, default=10000)
    parser.add_argument("--measure", type=float, default=60.0, help="seconds of idle measurement")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to idle before measuring")
    parser.add_argument("--bin", default=os.environ["TINYKV_BIN"])
    parser.add_argument("--port-base", type=int, default=27000)
    parser.add_argument("--workdir", default=None, help="keep data here (default: a temp dir, removed)")
    parser.add_argument("--mode", choices=["both", "on", "off"], default="both",
                        help="measure with hibernate-regions off, on, or both (off first)")
    args = parser.parse_args()
    os.environ["TINYKV_BIN"] = str(pathlib.Path(args.bin).resolve())

    import conftest  # noqa: E402  (generates the Python stubs; reads TINYKV_BIN)
    import schedulerpb_pb2 as pd
    import schedulerpb_pb2_grpc as pd_grpc
    import grpc
    from test_split import Router

    bin_dir = pathlib.Path(args.bin).resolve()
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="tinykv-idle-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pd_port = args.port_base + 379
    ports = [args.port_base + 160 + i for i in range(3)]
    (workdir / "pd.toml").write_text(SCHEDULER_CONFIG)
    (workdir / "create.toml").write_text(CREATE_CONFIG)
    (workdir / "idle.toml").write_text(IDLE_CONFIG)
    procs = {}

    def start_store(i, config):
        procs[i] = conftest.Process([str(bin_dir / "tinykv-server"), "-scheduler", f"127.0.0.1:{pd_port}",
                                     "-addr", f"127.0.0.1:{ports[i]}", "-path", str(workdir / f"store{i}"),
                                     "-config", str(workdir / config), "-loglevel", "warn"],
                                    str(workdir / f"store{i}.log"))
        conftest.wait_port(ports[i], procs[i].proc, timeout=120)

    pd_proc = conftest.Process([str(bin_dir / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{pd_port}",
                                "--data-dir", str(workdir / "pd"), "--config", str(workdir / "pd.toml"),
                                "--log-level", "warn"], str(workdir / "pd.log"))
    try:
        conftest.wait_port(pd_port, pd_proc.proc)
        pd_client = pd_grpc.SchedulerStub(grpc.insecure_channel(f"127.0.0.1:{pd_port}"))
        cluster_id = pd_client.GetMembers(pd.GetMembersRequest()).header.cluster_id
        header = pd.RequestHeader(cluster_id=cluster_id)

        def layout():
            r = pd_client.ScanRegions(pd.ScanRegionsRequest(header=header, limit=1 << 30), timeout=60)
            leaders = {}
            for leader in r.leaders:
                if leader.store_id:
                    leaders[leader.store_id] = leaders.get(leader.store_id, 0) + 1
            return len(r.regions), leaders, sum(1 for reg in r.regions if len(reg.peers) == 3)

        class Shim:   # what test_split.Router needs of a cluster
            pd_stub = pd_client

            @staticmethod
            def header():
                return header

            @staticmethod
            def store_address(store_id):
                return pd_client.GetStore(pd.GetStoreRequest(header=header, store_id=store_id)).store.address

            @staticmethod
            def addresses():
                return [f"127.0.0.1:{p}" for p in ports]

            stubs = {}

            @classmethod
            def stub(cls, address):
                import tinykvpb_pb2_grpc as tinykv_grpc
                if address not in cls.stubs:
                    cls.stubs[address] = tinykv_grpc.TinyKvStub(grpc.insecure_channel(address))
                return cls.stubs[address]

        for i in range(3):
            start_store(i, "create.toml")
        class FastRouter(Router):
            """Asks the scheduler for every key (the base class scans its cache linearly: slow with 10k regions);
            keeps leader hints learned from not_leader errors."""

            def locate(self, key):
                r = pd_client.GetRegion(pd.GetRegionRequest(header=header, region_key=key))
                with self.lock:
                    cached = self.cache.get(r.region.id)
                if cached and cached[0].region_epoch == r.region.region_epoch:
                    return r.region, cached[1]
                with self.lock:
                    self.cache[r.region.id] = (r.region, r.leader)
                return r.region, r.leader

        router = FastRouter(Shim)
        started = time.time()
        value = b"x" * 700
        rng = random.Random(7)
        # Regions end up with 1-2 keys of ~0.7 KiB (a region over 2 KiB splits after its first
        # 1 KiB), so 1.5 keys per region; written in random order so all regions split in parallel.
        keys = [b"idle%010d" % rng.randrange(10 ** 10) for _ in range(int(args.regions * 1.5))]
        errors = []
        progress = {"written": 0}

        def worker(part):
            try:
                for key in part:
                    router.put(key, value, timeout=120)
                    progress["written"] += 1
            except Exception as error:  # noqa: BLE001
                errors.append(error)
        threads = [threading.Thread(target=worker, args=(keys[i::16],), daemon=True) for i in range(16)]
        for t in threads:
            t.start()
        last_count, stable_since = -1, time.time()
        while True:
            time.sleep(10)
            if errors:
                raise errors[0]
            count, leaders, full = layout()
            print(f"[{time.time() - started:6.0f}s] {count} regions ({full} with 3 replicas), "
                  f"{progress['written']} keys written, leaders {leaders}", flush=True)
            if count != last_count:
                last_count, stable_since = count, time.time()
            writing = any(t.is_alive() for t in threads)
            if not writing and (count >= args.regions or time.time() - stable_since > 60):
                break
        created = time.time() - started

        hz = os.sysconf("SC_CLK_TCK")

        def cpu(pid):
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / hz   # utime, stime

        def rss(pid):
            for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
            return 0

        def measure(hibernate):
            """Restarts the stores with the default ticks (and hibernation on or off), waits for leaders, measures."""
            for i in list(procs):
                procs.pop(i).stop()
            (workdir / "idle.toml").write_text(IDLE_CONFIG + f"hibernate-regions = {'true' if hibernate else 'false'}\n")
            for i in range(3):
                start_store(i, "idle.toml")
            restarted = time.time()
            previous = None
            while True:
                # The scheduler's view lags (leaders report every 10 s): give elections two
                # election timeouts, then wait for balanced leader counts that stay put.
                time.sleep(10)
                count, leaders, _ = layout()
                total = sum(leaders.values())
                print(f"[restart +{time.time() - restarted:4.0f}s] {count} regions, leaders {leaders}", flush=True)
                balanced = total == count and len(leaders) == 3 and \
                    max(leaders.values()) - min(leaders.values()) <= max(2, count // 50)
                if time.time() - restarted >= 30 and balanced and leaders == previous:
                    break
                previous = leaders
                if time.time() - restarted > 1800:
                    raise TimeoutError("leaders did not settle in 30 minutes")
            print(f"settled {time.time() - restarted:.0f}s after the restart; idling {args.settle:.0f}s", flush=True)
            time.sleep(args.settle)
            pids = {i: procs[i].proc.pid for i in procs}
            pids["scheduler"] = pd_proc.proc.pid
            before = {i: cpu(pid) for i, pid in pids.items()}
            t0 = time.time()
            time.sleep(args.measure)
            elapsed = time.time() - t0
            after = {i: cpu(pid) for i, pid in pids.items()}
            count, leaders, _ = layout()
            mode = "hibernate-regions = " + ("true" if hibernate else "false")
            print(f"\n{count} regions (created in {created:.0f}s), {mode}, leaders per store {leaders}; measured over {elapsed:.0f}s:")
            rows = []
            for i, pid in pids.items():
                share = (after[i] - before[i]) / elapsed * 100
                mem = rss(pid) / (1 << 20)
                name = f"store {i}" if i != "scheduler" else "scheduler"
                print(f"  {name:10} pid {pid}: CPU {share:5.1f}% of a core, RSS {mem:7.1f} MiB")
                rows.append((name, share, mem))
            stores = [r for r in rows if r[0] != "scheduler"]
            return (f"| {time.strftime('%Y-%m-%d')} | {count} | {'on' if hibernate else 'off'} | {args.measure:.0f} s | "
                    + " / ".join(f"{s:.1f}%" for _, s, _ in stores) + " | "
                    + " / ".join(f"{m:.0f} MiB" for _, _, m in stores) + f" | {rows[-1][1]:.1f}% / {rows[-1][2]:.0f} MiB |")

        markdown = []
        if args.mode in ("both", "off"):
            markdown.append(measure(False))
        if args.mode in ("both", "on"):
            markdown.append(measure(True))
        print("\nmarkdown rows (docs/benchmarks.md):")
        for row in markdown:
            print(row)
    finally:
        for i in list(procs):
            procs.pop(i).stop()
        pd_proc.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
