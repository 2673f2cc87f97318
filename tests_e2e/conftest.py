"""Shared fixtures for the end-to-end tests: Python stubs generated from our proto/, and the built binaries."""
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The binaries under test: $TINYKV_BIN (absolute, or relative to the repository root), default .build/debug.
BIN = ROOT / os.environ.get("TINYKV_BIN", ".build/debug")


def _generate_stubs():
    out = pathlib.Path(tempfile.mkdtemp(prefix="tinykv-pystubs-"))
    from grpc_tools import protoc
    import grpc_tools
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
    args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}"] + protos
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed on proto/")
    sys.path.insert(0, str(out))
    return out


STUBS = _generate_stubs()


def metrics_text(port):
    """The Prometheus text a status port serves at /metrics."""
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def sample(text, name):
    """The value of the unlabelled sample `name` in Prometheus text, or None when it is absent."""
    m = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open")


class Process:
    """A server process started for a test, with its log kept in a file."""

    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=None if env is None else {**os.environ, **env})

    def stop(self, sig=None):
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def output(self):
        return pathlib.Path(self.log_path).read_text(errors="replace")


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


# What a failed test's processes logged, in the test report: CI keeps no work directories.
# Per log file: the raft store's and scheduler's notable events (peers destroyed or created,
# splits, snapshots, leadership, warnings, errors), then its last lines.
NOTABLE = ("destroy", "tombstone", "split", "snapshot", "created peer", "became leader", "warning", "error", "critical")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or "workdir" not in item.fixturenames:
        return
    directory = item.funcargs.get("workdir")
    if directory is None:
        return
    for log in sorted(pathlib.Path(directory).rglob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        notable = [line for line in lines if any(word in line.lower() for word in NOTABLE)][-80:]
        tail = lines[-20:]
        report.sections.append((f"{log.relative_to(directory)}: notable events, then the last lines",
                                "\n".join(notable + ["..."] + tail)))
