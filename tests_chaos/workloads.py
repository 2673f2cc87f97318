"""Workloads: per-key registers (history for the linearizability checker) and bank transfers."""
import random
import struct
import threading
import time

from client import Ambiguous, Failed, Router
from txn import Percolator, Retry


class Registers:
    """Clients put unique values and get keys of a small, rotating key set. Every operation is
    recorded with monotonic call/return times: puts `ok`, `fail` (certainly not applied) or
    `unknown` (ambiguous); failed gets are dropped."""

    def __init__(self, cluster, seed, clients=6, keys=4, generation_seconds=10.0):
        self.cluster = cluster
        self.seed = seed
        self.clients = clients
        self.keys = keys
        self.generation_seconds = generation_seconds
        self.history = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = []
        self.t0 = time.monotonic()
        self.used_keys = set()
        self.counts = {"put_ok": 0, "put_unknown": 0, "put_fail": 0, "get_ok": 0, "get_dropped": 0}

    def key(self, rng):
        generation = int((time.monotonic() - self.t0) / self.generation_seconds)
        return f"reg-{generation:05d}-{rng.randrange(self.keys)}"

    def record(self, entry, count):
        with self.lock:
            self.history.append(entry)
            self.counts[count] += 1

    def _client(self, index):
        rng = random.Random(f"{self.seed}-reg-{index}")
        router = Router(self.cluster)
        client_id = index
        n = 0
        while not self.stop.is_set():
            key = self.key(rng)
            with self.lock:
                self.used_keys.add(key)
            if rng.random() < 0.55:
                n += 1
                value = f"c{index}-{n}"
                call = time.monotonic_ns()
                try:
                    router.raw_put(key.encode(), value.encode(), timeout=5.0)
                    outcome = "ok"
                except Ambiguous:
                    outcome = "unknown"
                except Failed:
                    outcome = "fail"
                ret = time.monotonic_ns()
                entry = {"client": client_id, "op": "put", "key": key, "value": value, "call": call, "outcome": outcome}
                if outcome != "unknown":
                    entry["return"] = ret
                self.record(entry, f"put_{outcome}")
                if outcome == "unknown":
                    client_id += 1000   # a new logical client: the old one's operation never returned
            else:
                call = time.monotonic_ns()
                try:
                    got = router.raw_get(key.encode(), timeout=5.0)
                except (Ambiguous, Failed):
                    with self.lock:
                        self.counts["get_dropped"] += 1
                    continue
                ret = time.monotonic_ns()
                self.record({"client": client_id, "op": "get", "key": key, "value": None if got is None else got.decode(),
                             "call": call, "return": ret, "outcome": "ok"}, "get_ok")

    def _filler(self):
        """Writes each of many keys once with a larger value: the data makes regions split, and
        every acknowledged one must be there at the end (final reads, same history)."""
        router = Router(self.cluster)
        client_id = 500
        n = 0
        while not self.stop.is_set():
            n += 1
            key = f"fill-{n:06d}"
            value = f"f{n}-" + "x" * 500
            with self.lock:
                self.used_keys.add(key)
            call = time.monotonic_ns()
            try:
                router.raw_put(key.encode(), value.encode(), timeout=5.0)
                outcome = "ok"
            except Ambiguous:
                outcome = "unknown"
            except Failed:
                outcome = "fail"
            entry = {"client": client_id, "op": "put", "key": key, "value": value, "call": call, "outcome": outcome}
            if outcome != "unknown":
                entry["return"] = time.monotonic_ns()
            self.record(entry, f"put_{outcome}")
            if outcome == "unknown":
                client_id += 1000
            self.stop.wait(0.2)

    def start(self):
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.clients)]
        self.threads.append(threading.Thread(target=self._filler, daemon=True))
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def final_reads(self, timeout=60.0):
        """Reads every key once more (after the final crash and restart); returns the keys it could not read."""
        router = Router(self.cluster)
        unread = []
        for key in sorted(self.used_keys):
            deadline = time.time() + timeout
            while True:
                call = time.monotonic_ns()
                try:
                    got = router.raw_get(key.encode(), timeout=10.0)
                except (Ambiguous, Failed):
                    if time.time() > deadline:
                        unread.append(key)
                        break
                    continue
                self.record({"client": 999999, "op": "get", "key": key, "value": None if got is None else got.decode(),
                             "call": call, "return": time.monotonic_ns(), "outcome": "ok"}, "get_ok")
                break
        return unread

    def durability_violations(self, final_values):
        """Each key's final value must be its last acknowledged put's value, or that of a put that
        may have taken effect after it (an ok or unknown put not finished before the last ack began)."""
        problems = []
        by_key = {}
        for e in self.history:
            if e["op"] == "put" and e["outcome"] != "fail":
                by_key.setdefault(e["key"], []).append(e)
        for key, puts in by_key.items():
            acked = [p for p in puts if p["outcome"] == "ok"]
            if not acked:
                continue
            last = max(acked, key=lambda p: p["return"])
            allowed = {last["value"]} | {p["value"] for p in puts if p.get("return", 1 << 62) > last["call"]}
            if final_values.get(key, "<unread>") not in allowed:
                problems.append(f"{key}: last acknowledged {last['value']!r}, read {final_values.get(key)!r} after restart")
        return problems


ACCOUNTS = 8
INITIAL = 1000


def account(i):
    return b"bank-%03d" % i


def encode(n):
    return struct.pack(">q", n)


def decode(b):
    return struct.unpack(">q", b)[0]


class Bank:
    """Transfers between accounts with Percolator; auditors read all accounts at one timestamp."""

    def __init__(self, cluster, seed, transferers=3, auditors=1):
        self.cluster = cluster
        self.seed = seed
        self.transferers = transferers
        self.auditors = auditors
        self.stop = threading.Event()
        self.threads = []
        self.lock = threading.Lock()
        self.total = ACCOUNTS * INITIAL
        self.counts = {"committed": 0, "retried": 0, "abandoned": 0, "audits": 0, "audits_failed": 0}
        self.bad_audits = []

    def setup(self, timeout=60.0):
        client = Percolator(Router(self.cluster))
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                client.commit_writes(client.ts(), {account(i): encode(INITIAL) for i in range(ACCOUNTS)})
                return
            except Retry:
                time.sleep(0.2)
        raise RuntimeError("bank setup did not commit")

    def audit(self, client):
        start = client.ts()
        values = []
        for i in range(ACCOUNTS):
            v = client.get(account(i), start)
            values.append(None if v is None else decode(v))
        return start, values

    def check(self, start, values):
        with self.lock:
            self.counts["audits"] += 1
            if None in values or sum(values) != self.total:
                self.bad_audits.append({"ts": start, "values": values, "sum": None if None in values else sum(values)})

    def _transfer(self, index):
        rng = random.Random(f"{self.seed}-bank-{index}")
        client = Percolator(Router(self.cluster))
        while not self.stop.is_set():
            a, b = rng.sample(range(ACCOUNTS), 2)
            amount = rng.randint(1, 50)
            try:
                start = client.ts()
                va, vb = client.get(account(a), start), client.get(account(b), start)
                if va is None or vb is None:
                    with self.lock:
                        self.bad_audits.append({"ts": start, "missing": [a, b]})
                    continue
                dice = rng.random()
                client.commit_writes(start, {account(a): encode(decode(va) - amount), account(b): encode(decode(vb) + amount)},
                                     abandon_after_prewrite=dice < 0.03, abandon_after_primary=0.03 <= dice < 0.06)
                with self.lock:
                    self.counts["abandoned" if dice < 0.06 else "committed"] += 1
            except Retry:
                with self.lock:
                    self.counts["retried"] += 1
                time.sleep(0.02)

    def _audit(self, index):
        client = Percolator(Router(self.cluster))
        while not self.stop.is_set():
            try:
                self.check(*self.audit(client))
            except Retry:
                with self.lock:
                    self.counts["audits_failed"] += 1
            time.sleep(0.2)

    def start(self):
        self.threads = [threading.Thread(target=self._transfer, args=(i,), daemon=True) for i in range(self.transferers)]
        self.threads += [threading.Thread(target=self._audit, args=(i,), daemon=True) for i in range(self.auditors)]
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def final_audit(self, timeout=60.0):
        client = Percolator(Router(self.cluster))
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                start, values = self.audit(client)
                self.check(start, values)
                return values
            except Retry as e:
                last = e
                time.sleep(0.2)
        raise RuntimeError(f"final audit did not complete: {last}")
