"""The chaos checks catch what they must: a stale read, a lost acknowledged write, an ambiguous put.

    .venv/bin/python -m pytest -q tests_chaos/test_harness.py      (TINYKV_BIN for the binaries)
"""
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import stubs  # noqa: E402

stubs.load()
import chaos  # noqa: E402
from workloads import Registers  # noqa: E402

BIN = HERE.parent / os.environ.get("TINYKV_BIN", ".build/debug")


def op(client, kind, key, value, call, ret, outcome="ok"):
    e = {"client": client, "op": kind, "key": key, "value": value, "call": call, "outcome": outcome}
    if ret is not None:
        e["return"] = ret
    return e


def history_with_stale_read():
    h = []
    t = 0
    # A long clean prefix on key a, then a read of an overwritten value, then more operations.
    for i in range(50):
        h.append(op(1, "put", "a", f"v{i}", t, t + 5))
        h.append(op(2, "get", "a", f"v{i}", t + 6, t + 9))
        t += 10
    h.append(op(2, "get", "a", "v3", t, t + 3))          # stale: v49 was acknowledged long before
    t += 10
    for i in range(50, 60):
        h.append(op(1, "put", "a", f"v{i}", t, t + 5))
        t += 10
    h.append(op(3, "put", "b", "x", 0, None, "unknown"))  # another key, fine
    h.append(op(3, "get", "b", "x", 700, 710))
    return h


def test_stale_read_is_a_violation_and_minimized(tmp_path):
    h = history_with_stale_read()
    code, out = chaos.check(BIN, h, tmp_path / "h.jsonl")
    assert code == 1, out
    text = chaos.minimal_history(BIN, h, out, tmp_path)
    assert "key a" in text
    minimal = (tmp_path / "minimal-history.jsonl").read_text().splitlines()
    # The prefix ends with the stale read: nothing after it is needed.
    assert len(minimal) == 101, len(minimal)
    assert '"v3"' in minimal[-1]


def test_linearizable_history_with_unknown_put_passes(tmp_path):
    h = [op(1, "put", "a", "1", 0, 10), op(2, "put", "a", "2", 5, None, "unknown"),
         op(3, "get", "a", "1", 20, 30), op(3, "get", "a", "2", 40, 50)]
    code, out = chaos.check(BIN, h, tmp_path / "h.jsonl")
    assert code == 0, out


def test_durability_flags_a_lost_acknowledged_write():
    r = Registers(cluster=None, seed=0)
    r.history = [op(1, "put", "k", "1", 0, 10), op(1, "put", "k", "2", 20, 30),
                 op(2, "put", "k", "3", 25, None, "unknown"), op(1, "put", "j", "9", 0, 5)]
    assert r.durability_violations({"k": "2", "j": "9"}) == []
    assert r.durability_violations({"k": "3", "j": "9"}) == []      # the unknown put may have come last
    assert len(r.durability_violations({"k": "1", "j": "9"})) == 1  # the acknowledged 2 is lost
    assert len(r.durability_violations({"k": "2", "j": None})) == 1
