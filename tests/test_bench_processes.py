"""`onnxgate bench` never leaves its pytest child running, nor an empty results file, when it
is interrupted, terminated or killed. Real processes, found with psutil."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parents[1]
PATIENCE_S = 60.0  # how long to wait for a process to appear or go: liveness, not speed


def _gone(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE  # dead, only not yet reaped by its new parent
    except psutil.NoSuchProcess:
        return True


def _pytest_child(parent: subprocess.Popen[bytes]) -> psutil.Process:
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        assert parent.poll() is None, "onnxgate bench ended before its benchmark child started"
        for child in psutil.Process(parent.pid).children(recursive=True):
            try:
                if "pytest" in child.cmdline():
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.1)
    raise AssertionError("onnxgate bench started no pytest child")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux only")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_stopping_bench_stops_its_pytest_child(sig: signal.Signals, tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-m", "conversion.cli", "bench", "--quick", "--output", str(out),
                               "--models", "xgboost-synthetic-small"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = None
    try:
        child = _pytest_child(parent)
        time.sleep(1.0)  # into the run: the results file is open from here on
        parent.send_signal(sig)
        parent.wait(timeout=PATIENCE_S)
        deadline = time.monotonic() + PATIENCE_S
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(child), f"the pytest child {child.pid} still runs after {sig.name} of onnxgate bench"
    finally:  # on failure, take down what this test started
        if child is not None and not _gone(child):
            child.kill()
        parent.kill()
        parent.wait()
    assert not list(out.glob("bench-*.json")), "a stopped run left a results file"
    if sig != signal.SIGKILL:  # a killed parent cannot clean up; the next write removes its temp later
        assert not list(out.iterdir())
