#!/usr/bin/env python3
"""The chaos suite: real processes (1 scheduler + 3-5 stores) in network namespaces, seeded faults
during load, linearizability of per-key registers, the bank invariant, and durability after a final
kill -9 of every store.

    python tests_chaos/chaos.py --minutes 30 --seed 1          (make chaos)
    python tests_chaos/chaos.py --minutes 1 --run-minutes 1    (the CI subset)

The total time is split into runs of --run-minutes, each with its own fresh cluster and seed
(seed, seed+1, ...); stores alternate between 3 and 5 (or --stores). Exit status 0 only if every
run is clean. Everything of a run (logs, history, nemesis log) is kept under --workdir.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parent


def outer(args):
    import netns
    reason = netns.available()
    if reason:
        print(f"chaos: cannot create network namespaces: {reason}")
        if args.skip_unavailable:
            print("chaos: SKIPPED")
            return 0
        return 3
    import stubs
    stubs.load()
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="tinykv-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bin_dir = pathlib.Path(args.bin)
    if not bin_dir.is_absolute():
        bin_dir = ROOT / bin_dir
    total_seconds = args.minutes * 60
    run_seconds = min(args.run_minutes * 60, total_seconds)
    started = time.time()
    results = []
    run = 0
    while True:
        remaining = total_seconds - (time.time() - started)
        if run > 0 and remaining < 30:
            break
        seed = args.seed + run
        stores = args.stores or (3 if run % 2 == 0 else 5)
        duration = max(20, min(run_seconds, remaining))
        rundir = workdir / f"run{run}-seed{seed}"
        rundir.mkdir(parents=True, exist_ok=True)
        print(f"chaos: run {run}: seed {seed}, {stores} stores, {duration:.0f}s of faults; logs in {rundir}", flush=True)
        net = netns.Network(stores, tag=f"tkc{os.getpid() % 100000}r{run}")
        try:
            net.create()
            cmd = ["ip", "netns", "exec", net.hub, sys.executable, str(HERE / "chaos.py"), "--inner",
                   "--seed", str(seed), "--stores", str(stores), "--seconds", str(duration), "--bin", str(bin_dir),
                   "--workdir", str(rundir), "--tag", net.tag]
            rc = subprocess.call(cmd)
        finally:
            for pid in net.pids():       # only processes started in our namespaces
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
            net.destroy()
        result_file = rundir / "result.json"
        if result_file.exists():
            result = json.loads(result_file.read_text())
        else:
            result = {"seed": seed, "violations": [f"the run crashed (exit {rc}); see {rundir}"], "faults": {}, "operations_checked": 0}
        results.append(result)
        if not result["violations"] and not args.keep_data:
            import shutil   # a clean run keeps its logs and history, not its ~0.5 GB of data
            for d in rundir.iterdir():
                if d.is_dir():
                    shutil.rmtree(d, ignore_errors=True)
        run += 1
        if result["violations"]:
            break
        if time.time() - started >= total_seconds:
            break

    faults = {}
    for r in results:
        for k, v in r["faults"].items():
            faults[k] = faults.get(k, 0) + v
    summary = {
        "runs": len(results),
        "seeds": [r["seed"] for r in results],
        "minutes": round((time.time() - started) / 60, 1),
        "faults": faults,
        "faults_total": sum(faults.values()),
        "operations_checked": sum(r["operations_checked"] for r in results),
        "bank": {k: sum(r.get("bank", {}).get(k, 0) for r in results) for k in ("committed", "abandoned", "retried", "audits")},
        "regions_at_end": [r.get("regions") for r in results],
        "store_events": {k: sum(r.get("store_events", {}).get(k, 0) for r in results)
                         for k in ("became leader", "applied snapshot", "applied conf change", "split")},
        "violations": sum(len(r["violations"]) for r in results),
        "workdir": str(workdir),
    }
    print("chaos summary: " + json.dumps(summary, indent=1))
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1))
    for r in results:
        for v in r["violations"]:
            print(f"VIOLATION (seed {r['seed']}): {v}")
    return 1 if summary["violations"] else 0


def check(bin_dir, entries, path):
    with open(path, "w") as f:
        for e in entries:
            f.write(json.dumps(e) + "\n")
    r = subprocess.run([str(pathlib.Path(bin_dir) / "tinykv-ctl"), "check-history", str(path)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    return r.returncode, r.stdout


def minimal_history(bin_dir, history, checker_output, rundir):
    """The shortest prefix in time of the offending key's operations that is still not
    linearizable. The prefix at time T keeps the operations called before T; those still running
    at T become `unknown` (puts) or are left out (reads). Every operation called after T is
    linearized after T, so a violation of the prefix is a violation of the whole history."""
    import re
    m = re.search(r"key (\S+),", checker_output)
    if not m:
        return checker_output
    key = m.group(1)
    ops = sorted((e for e in history if e["key"] == key), key=lambda e: e["call"])
    cuts = sorted(e["return"] for e in ops if "return" in e)

    def prefix(t):
        out = []
        for e in ops:
            if e["call"] >= t:
                break
            if e.get("return", 1 << 62) > t:
                if e["op"] == "get":
                    continue
                e = dict(e)
                e.pop("return", None)
                if e["outcome"] == "ok":
                    e["outcome"] = "unknown"
            out.append(e)
        return out

    lo, hi = 0, len(cuts) - 1   # the history up to the last return violates
    while lo < hi:
        mid = (lo + hi) // 2
        code, _ = check(bin_dir, prefix(cuts[mid]), rundir / "minimize.jsonl")
        if code == 1:
            hi = mid
        else:
            lo = mid + 1
    minimal = prefix(cuts[hi])
    path = rundir / "minimal-history.jsonl"
    code, text = check(bin_dir, minimal, path)
    if code != 1:   # should not happen; fall back to the whole key
        return checker_output
    return (f"key {key}: the shortest violating prefix has {len(minimal)} of {len(ops)} operations (in {path}); "
            f"its last 40 operations:\n" + "\n".join(json.dumps(e) for e in minimal[-40:]) + "\nchecker: " + text[:3000])


def inner(args):
    import stubs
    stubs.load()
    import netns
    from cluster import Cluster
    from nemesis import Nemesis
    from workloads import Bank, Registers

    rundir = pathlib.Path(args.workdir)
    net = netns.Network(args.stores, tag=args.tag)
    net.created = [net.hub] + net.names
    cluster = Cluster(args.bin, rundir, net, args.stores)
    violations = []
    result = {"seed": args.seed, "stores": args.stores, "violations": violations, "faults": {}, "operations_checked": 0}
    log = open(rundir / "nemesis.log", "a")
    t_start = time.time()

    def note(text):
        line = f"[{time.time() - t_start:8.2f}s] {text}"
        print(f"  {line}", flush=True)
        log.write(line + "\n")
        log.flush()

    try:
        cluster.start()
        cluster.wait_replicas(min(3, args.stores), timeout=90)
        note(f"cluster up: {args.stores} stores")
        registers = Registers(cluster, args.seed)
        bank = Bank(cluster, args.seed)
        bank.setup()
        registers.start()
        bank.start()
        nemesis = Nemesis(cluster, net, args.seed, log)
        nemesis.start()
        time.sleep(args.seconds)
        nemesis.finish()
        note(f"faults stopped: {nemesis.counts}")
        # Liveness: with every fault healed, writes go through again.
        before = registers.counts["put_ok"]
        time.sleep(8)
        if registers.counts["put_ok"] == before:
            violations.append("no register write succeeded in the 8s after healing every fault")
        registers.finish()
        bank.finish()
        note(f"workloads stopped: registers {registers.counts}, bank {bank.counts}")
        values = bank.final_audit()
        note(f"bank audit before the final crash: {values} (sum {sum(v for v in values if v is not None)})")

        # Power loss: kill -9 every store, restart them; each must start and serve.
        for s in cluster.stores:
            s.kill9()
        time.sleep(0.5)
        for i in range(cluster.count):
            try:
                cluster.start_store(i)
            except Exception as e:
                violations.append(f"store {i} refuses to start after the final kill -9: {e} (see {cluster.stores[i].log_path})")
        time.sleep(3)
        for s in cluster.stores:
            if not s.alive():
                violations.append(f"{s.name} exited after the final restart (see {s.log_path})")
        unread = registers.final_reads()
        if unread:
            violations.append(f"{len(unread)} registers unreadable after the final restart: {unread[:5]}")
        values = bank.final_audit()
        note(f"bank audit after the final crash: {values}")
        import schedulerpb_pb2 as pd
        try:
            regions = len(cluster.pd.ScanRegions(pd.ScanRegionsRequest(header=cluster.header(), limit=10000), timeout=5).regions)
        except Exception:
            regions = None
        result["regions"] = regions
        final_values = {}
        for e in registers.history:
            if e["client"] == 999999:
                final_values[e["key"]] = e["value"]
        violations.extend(registers.durability_violations(final_values))
        for bad in bank.bad_audits:
            violations.append(f"bank invariant broken: {bad}")
        violations.extend(nemesis.errors)

        history = rundir / "history.jsonl"
        with open(history, "w") as f:
            for e in sorted(registers.history, key=lambda e: e["call"]):
                f.write(json.dumps(e) + "\n")
        checked = sum(1 for e in registers.history if e["outcome"] != "fail")
        t = time.time()
        r = subprocess.run([str(pathlib.Path(args.bin) / "tinykv-ctl"), "check-history", str(history)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
        note(f"check-history ({time.time() - t:.1f}s): exit {r.returncode}: {r.stdout.strip()[:300]}")
        if r.returncode == 1:
            violations.append(f"registers are not linearizable (history {history}):\n"
                              + minimal_history(args.bin, registers.history, r.stdout, rundir))
        elif r.returncode != 0:
            violations.append(f"check-history could not decide (exit {r.returncode}): {r.stdout[-500:]}")
        result.update({"faults": nemesis.counts, "operations_checked": checked, "registers": registers.counts,
                       "bank": bank.counts, "keys": len(registers.used_keys)})
    except Exception as e:
        import traceback
        violations.append(f"run aborted: {e!r}\n{traceback.format_exc()}")
    finally:
        cluster.stop()
        events = {"became leader": 0, "applied snapshot": 0, "applied conf change": 0, "split": 0}
        for i in range(args.stores):
            try:
                text = (rundir / f"store{i}.log").read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                for k in events:
                    if k in line:
                        events[k] += 1
        result["store_events"] = events
        (rundir / "result.json").write_text(json.dumps(result, indent=1))
        note(f"run result: faults {result['faults']}, {result['operations_checked']} operations checked, "
             f"{result.get('regions')} regions, {len(violations)} violations")
    return 0 if not violations else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=float(os.environ.get("CHAOS_MINUTES", 30)))
    p.add_argument("--run-minutes", type=float, default=float(os.environ.get("CHAOS_RUN_MINUTES", 10)))
    p.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", int(time.time()) % 100000)))
    p.add_argument("--stores", type=int, default=int(os.environ.get("CHAOS_STORES", 0)))
    p.add_argument("--bin", default=os.environ.get("TINYKV_BIN", ".build/debug"))
    p.add_argument("--workdir", default=os.environ.get("CHAOS_WORKDIR"))
    p.add_argument("--keep-data", action="store_true", help="keep the data directories of clean runs too")
    p.add_argument("--skip-unavailable", action="store_true", help="exit 0 (skipped) without root, ip or iptables")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    p.add_argument("--tag", help=argparse.SUPPRESS)
    args = p.parse_args()
    sys.exit(inner(args) if args.inner else outer(args))


if __name__ == "__main__":
    main()
