"""`onnxgate bench` never leaves its pytest child running, nor anything that child started
(valgrind), nor their temp folders, nor an empty results file, when it is interrupted,
terminated or killed. Real processes, found with psutil."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parents[1]
PATIENCE_S = 60.0  # how long to wait for a process to appear or go: liveness, not speed


def _ctrl_c_as_at_a_terminal() -> None:
    """SIGINT's default disposition in the started process, as a terminal's Ctrl-C finds it: a shell
    script's background job (`pytest ... &`) starts with SIGINT ignored, and its children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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
    parent = subprocess.Popen([sys.executable, "-m", "conversion.app.main", "bench", "--quick", "--output", str(out),
                               "--models", "xgboost-synthetic-small"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_ctrl_c_as_at_a_terminal)
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


# The child: starts a grandchild (as pytest starts valgrind) and a temp folder, says where, then waits.
_TREE = """
import os, subprocess, sys, tempfile, time
folder = tempfile.mkdtemp(prefix="leaf-")
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print(grandchild.pid, folder, flush=True)
time.sleep(300)
"""
_RUNNER = """
import sys
from conversion.bench.child_process import run_child
run_child([sys.executable, "-c", sys.argv[1]])
"""
DEADLINE_S = 5.0  # issue 28: no process of the benchmark's tree is left 5 s after its parent died


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc as on Linux")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_stopped_parent_takes_the_childs_whole_tree_and_temp_folder(sig: signal.Signals) -> None:
    parent = subprocess.Popen([sys.executable, "-c", _RUNNER, _TREE], cwd=REPO, stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=_ctrl_c_as_at_a_terminal)
    grandchild = None
    try:
        assert parent.stdout is not None
        pid, folder = parent.stdout.readline().split()
        grandchild, folder = psutil.Process(int(pid)), Path(folder.decode())
        assert folder.is_dir() and folder.parent.name.startswith("onnxgate-bench-"), "the child has its own TMPDIR"
        parent.send_signal(sig)
        deadline = time.monotonic() + DEADLINE_S
        while not (_gone(grandchild) and not folder.parent.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(grandchild), f"the grandchild {grandchild.pid} outlived {sig.name} of its grandparent by 5 s"
        assert not folder.parent.exists(), "the child's temp folder outlived it"
    finally:
        if grandchild is not None and not _gone(grandchild):
            grandchild.kill()
        parent.kill()
        parent.wait()


def _valgrinds(root: psutil.Process) -> list[psutil.Process]:
    found = []
    for p in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "valgrind" in " ".join(p.cmdline()[:1]) or p.name().startswith(("valgrind", "callgrind")):
                found.append(p)
    return found


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="bench --counts needs valgrind")
def test_a_killed_bench_counts_leaves_no_valgrind(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-m", "conversion.app.main", "bench", "--quick", "--counts",
                               "--output", str(tmp_path / "out"), "--models", "xgboost-synthetic-small"],
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    valgrinds: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 4 * PATIENCE_S
        while not valgrinds and time.monotonic() < deadline:
            assert parent.poll() is None, "onnxgate bench --counts ended before it started valgrind"
            valgrinds = _valgrinds(psutil.Process(parent.pid))
            time.sleep(0.2)
        assert valgrinds, "onnxgate bench --counts started no valgrind"
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + DEADLINE_S
        while not all(_gone(v) for v in valgrinds) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_gone(v) for v in valgrinds), "valgrind outlived a SIGKILL of onnxgate bench by 5 s"
    finally:
        for v in valgrinds:
            with contextlib.suppress(psutil.Error):
                v.kill()
        parent.kill()
        parent.wait()
