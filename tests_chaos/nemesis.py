"""The fault schedule: episodes drawn from a seeded RNG, one at a time, each healed before the next
(so at most a minority of stores is affected, except the rare whole-cluster power loss)."""
import random
import threading
import time

KINDS = [  # (kind, weight)
    ("kill", 5),         # kill -9 a store (often the leader), restart it later
    ("pause", 3),        # SIGSTOP a store (often the leader), SIGCONT later
    ("partition", 4),    # cut a store (or, with 5 stores, a minority) off from the other stores
    ("isolate", 2),      # cut a store off from everything: stores, scheduler and clients
    ("loss", 3),         # random packet loss on a store's links to the other stores
    ("scheduler", 2),    # kill -9 the scheduler and restart it
    ("kill_all", 1),     # kill -9 every store at once (power loss), restart all
]


class Nemesis:
    def __init__(self, cluster, network, seed, log):
        self.cluster = cluster
        self.net = network
        self.rng = random.Random(f"{seed}-nemesis")
        self.log = log
        self.counts = {k: 0 for k, _ in KINDS}
        self.errors = []
        self.stop = threading.Event()
        self.thread = None
        self.t0 = time.monotonic()

    def say(self, text):
        line = f"[{time.monotonic() - self.t0:8.2f}s] {text}"
        self.log.write(line + "\n")
        self.log.flush()

    def targets(self, how_many):
        """`how_many` stores; with probability 1/2 the first is the region leader."""
        n = self.cluster.count
        chosen = []
        if self.rng.random() < 0.5:
            leader = self.cluster.leader_index()
            if leader is not None:
                chosen.append(leader)
        rest = [i for i in range(n) if i not in chosen]
        self.rng.shuffle(rest)
        return (chosen + rest)[:how_many]

    def minority(self):
        return 1 if self.cluster.count <= 3 else self.rng.choice([1, 2])

    def check_crashes(self):
        for i, s in enumerate(self.cluster.stores + [self.cluster.scheduler]):
            if s.crashed():
                self.errors.append(f"{s.name} exited on its own with {s.proc.returncode} (see {s.log_path})")
                self.say(self.errors[-1])
                s.killed = True   # reported once; restarted below
                if s is self.cluster.scheduler:
                    self.cluster.start_scheduler()
                else:
                    self.restart_store(i)

    def episode(self):
        self.check_crashes()
        kind = self.rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
        hold = self.rng.uniform(1.0, 8.0)
        c, net = self.cluster, self.net
        if kind == "kill":
            victims = self.targets(self.minority())
            self.say(f"kill -9 stores {victims} for {hold:.1f}s")
            for v in victims:
                c.stores[v].kill9()
            self.stop.wait(hold)
            for v in victims:
                self.restart_store(v)
        elif kind == "pause":
            victims = self.targets(self.minority())
            self.say(f"SIGSTOP stores {victims} for {hold:.1f}s")
            for v in victims:
                c.stores[v].pause()
            self.stop.wait(hold)
            for v in victims:
                c.stores[v].resume()
        elif kind == "partition":
            side = self.targets(self.minority())
            other = [i for i in range(c.count) if i not in side]
            self.say(f"partition stores {side} | {other} for {hold:.1f}s")
            for a in side:
                for b in other:
                    net.cut(a, b)
            self.stop.wait(hold)
            net.heal()
        elif kind == "isolate":
            victim = self.targets(1)[0]
            self.say(f"isolate store {victim} from everything for {hold:.1f}s")
            net.isolate(victim)
            self.stop.wait(hold)
            net.heal()
        elif kind == "loss":
            victim = self.targets(1)[0]
            p = self.rng.uniform(0.1, 0.5)
            self.say(f"packet loss {p:.0%} on store {victim} for {hold:.1f}s")
            net.lossy(victim, p)
            self.stop.wait(hold)
            net.heal()
        elif kind == "scheduler":
            hold = self.rng.uniform(0.5, 4.0)
            self.say(f"kill -9 scheduler for {hold:.1f}s")
            c.scheduler.kill9()
            self.stop.wait(hold)
            try:
                c.start_scheduler()
            except Exception as e:
                self.errors.append(f"scheduler did not restart: {e}")
        elif kind == "kill_all":
            hold = self.rng.uniform(0.2, 2.0)
            self.say(f"kill -9 all stores for {hold:.1f}s")
            for s in c.stores:
                s.kill9()
            self.stop.wait(hold)
            for i in range(c.count):
                self.restart_store(i)
        self.counts[kind] += 1
        self.say(f"healed {kind}")

    def restart_store(self, i):
        try:
            self.cluster.start_store(i)
        except Exception as e:
            self.errors.append(f"store {i} did not restart: {e}")
            self.say(f"store {i} did not restart: {e}")

    def run(self):
        while not self.stop.is_set():
            self.stop.wait(self.rng.uniform(1.0, 4.0))
            if self.stop.is_set():
                break
            try:
                self.episode()
            except Exception as e:   # a fault that could not be injected is a test failure
                self.errors.append(f"nemesis: {e!r}")
                self.say(f"nemesis error {e!r}")

    def start(self):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def finish(self):
        """Stops injecting; heals everything: network, paused and dead processes."""
        self.stop.set()
        if self.thread:
            self.thread.join(60)
        self.net.heal()
        for s in self.cluster.stores:
            s.resume()
        if not self.cluster.scheduler.alive():
            self.cluster.start_scheduler()
        for i, s in enumerate(self.cluster.stores):
            if not s.alive():
                self.restart_store(i)
