"""A private network for one chaos run: network namespaces the run creates and deletes.

Topology (nothing is added to the root namespace; every address lives inside our namespaces):

    hub netns  (scheduler, the Python clients)   bridge br0 10.77.0.1/24
      |-- veth vs1 <-> eth0 in store netns s1    10.77.0.11
      |-- veth vs2 <-> eth0 in store netns s2    10.77.0.12
      ...

Faults between stores are iptables rules in the store's own namespace (chain CHAOS, hooked
into INPUT and OUTPUT): DROP for partitions, `-m statistic --mode random` DROP for packet
loss. (This kernel has no sch_netem, so there is no delay qdisc; loss and partitions only.)
"""
import os
import subprocess

SUBNET = "10.77.0"
HUB_IP = f"{SUBNET}.1"


def store_ip(index):
    return f"{SUBNET}.{11 + index}"


def run(*args, check=True):
    r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


def available():
    """Whether this machine lets us create namespaces and iptables rules (root, ip, iptables)."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "iptables"):
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
            return f"{tool} not installed"
    return None


class Network:
    def __init__(self, stores, tag=None):
        self.tag = tag or f"tkvc{os.getpid()}"
        self.hub = f"{self.tag}-hub"
        self.stores = stores
        self.names = [f"{self.tag}-s{i}" for i in range(stores)]
        self.created = []

    def ns_exec(self, ns, *args, check=True):
        return run("ip", "netns", "exec", ns, *args, check=check)

    def create(self):
        run("ip", "netns", "add", self.hub)
        self.created.append(self.hub)
        self.ns_exec(self.hub, "ip", "link", "set", "lo", "up")
        self.ns_exec(self.hub, "ip", "link", "add", "br0", "type", "bridge")
        self.ns_exec(self.hub, "ip", "addr", "add", f"{HUB_IP}/24", "dev", "br0")
        self.ns_exec(self.hub, "ip", "link", "set", "br0", "up")
        # Bridged frames must not go through the hub's netfilter hooks (no rules there anyway).
        self.ns_exec(self.hub, "sh", "-c", "for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -w $f ] && echo 0 > $f; done; true", check=False)
        for i, ns in enumerate(self.names):
            run("ip", "netns", "add", ns)
            self.created.append(ns)
            self.ns_exec(ns, "ip", "link", "set", "lo", "up")
            # Both ends are created inside our namespaces: the hub end, and the peer moved into `ns`.
            run("ip", "-n", self.hub, "link", "add", f"vs{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            self.ns_exec(self.hub, "ip", "link", "set", f"vs{i}", "master", "br0")
            self.ns_exec(self.hub, "ip", "link", "set", f"vs{i}", "up")
            self.ns_exec(ns, "ip", "addr", "add", f"{store_ip(i)}/24", "dev", "eth0")
            self.ns_exec(ns, "ip", "link", "set", "eth0", "up")
            self.ns_exec(ns, "iptables", "-N", "CHAOS")
            self.ns_exec(ns, "iptables", "-A", "INPUT", "-j", "CHAOS")
            self.ns_exec(ns, "iptables", "-A", "OUTPUT", "-j", "CHAOS")

    def destroy(self):
        for ns in reversed(self.created):
            run("ip", "netns", "del", ns, check=False)
        self.created = []

    def pids(self):
        """Processes still running in our namespaces (ones we started)."""
        out = []
        for ns in self.created:
            r = run("ip", "netns", "pids", ns, check=False)
            out += [int(p) for p in r.stdout.split()]
        return out

    # -- faults
    def _rule(self, index, *rule):
        self.ns_exec(self.names[index], "iptables", "-A", "CHAOS", *rule)

    def cut(self, a, b):
        """Drops all traffic between stores a and b (both directions, rules on both sides)."""
        for x, y in ((a, b), (b, a)):
            self._rule(x, "-s", store_ip(y), "-j", "DROP")
            self._rule(x, "-d", store_ip(y), "-j", "DROP")

    def isolate(self, index):
        """Drops everything to and from the store, clients and scheduler included."""
        self._rule(index, "-s", f"{SUBNET}.0/24", "-j", "DROP")
        self._rule(index, "-d", f"{SUBNET}.0/24", "-j", "DROP")

    def lossy(self, index, probability):
        """Drops a random share of the packets to and from store `index` on its link to other stores."""
        for i in range(self.stores):
            if i == index:
                continue
            for direction in ("-s", "-d"):
                self._rule(index, direction, store_ip(i), "-m", "statistic", "--mode", "random",
                           "--probability", f"{probability:.2f}", "-j", "DROP")

    def heal(self):
        for ns in self.names:
            self.ns_exec(ns, "iptables", "-F", "CHAOS", check=False)
