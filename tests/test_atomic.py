"""Atomic writes: the temp file's name, its removal after a killed writer, the file's mode."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conversion.atomic import write_bytes_atomic

from .runtime_models import fitted

REPO = Path(__file__).resolve().parents[1]


def _writer(target: Path, *, then: str) -> subprocess.Popen[bytes]:
    """A real process that writes the temp file, then, instead of renaming it, ``then``:
    "die" (SIGKILL) or "wait" (until stdin closes, holding the temp like a live writer)."""
    stop = {"die": "os.kill(os.getpid(), signal.SIGKILL)",
            "wait": "print('written', flush=True); sys.stdin.read(); os.kill(os.getpid(), signal.SIGKILL)"}[then]
    body = textwrap.dedent(f"""
        import os, signal, sys
        import conversion.atomic as atomic
        def stop(*a):
            {stop}
        atomic.os.replace = stop
        atomic.write_bytes_atomic({str(target)!r}, b"x" * 4_000_000)
    """)
    return subprocess.Popen([sys.executable, "-c", body], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_a_killed_writers_temp_matches_no_glob_and_the_next_write_removes_it(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    assert _writer(target, then="die").wait() == -9
    (debris,) = tmp_path.iterdir()
    assert debris.name.startswith(".onnxgate-tmp-model.onnx-") and debris.stat().st_size == 4_000_000
    assert not target.exists()
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob("**/*.onnx")), "a user's glob finds the temp"

    _, converted = fitted("xgboost", "regression")
    converted.save(tmp_path / "next.onnx")  # its writer is dead, so the lock it held is free: provably orphaned
    assert not debris.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["next.onnx"]


def test_a_live_writers_temp_is_never_removed_however_old(tmp_path: Path) -> None:
    writer = _writer(tmp_path / "model.onnx", then="wait")
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"written\n"
        (temp,) = tmp_path.iterdir()
        days_ago = time.time() - 3 * 86400
        os.utime(temp, (days_ago, days_ago))
        write_bytes_atomic(tmp_path / "other.bin", b"1")
        assert temp.exists(), "a write removed the temp file of a writer that is still alive"
    finally:
        writer.kill()
        writer.communicate()
    write_bytes_atomic(tmp_path / "other.bin", b"2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.bin"]


def test_an_older_onnxgates_temp_names_are_left_alone(tmp_path: Path) -> None:
    """Before locks, a complete baseline could end up under a temp name; no rule proves it is debris."""
    old = tmp_path / ".onnxgate-tmp-a.json-k2j3h4.json"
    old.write_text("{}")
    hours_ago = time.time() - 5 * 3600
    os.utime(old, (hours_ago, hours_ago))
    write_bytes_atomic(tmp_path / "a.json", b"{}")
    assert old.exists()


@pytest.fixture
def umask():
    old = os.umask(0o022)
    try:
        yield lambda mask: os.umask(mask)
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)],
                         ids=["umask-022", "umask-002", "umask-077"])
def test_written_files_get_the_mode_the_umask_gives(mask: int, mode: int, umask, tmp_path: Path) -> None:
    umask(mask)
    model, converted = fitted("xgboost", "regression")
    from conversion.converter.frameworks import adapter_named

    paths = [write_bytes_atomic(tmp_path / "a.bin", b"1"), converted.save(tmp_path / "m.onnx"),
             tmp_path / "native.ubj"]
    adapter_named("xgboost").save_native(model, paths[-1])
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == mode, p.name
