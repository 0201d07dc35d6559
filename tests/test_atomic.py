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


def _killed_writer(target: Path) -> None:
    """A real process that dies by SIGKILL between writing the temp file and renaming it."""
    body = textwrap.dedent(f"""
        import os, signal
        import conversion.atomic as atomic
        atomic.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
        atomic.write_bytes_atomic({str(target)!r}, b"x" * 4_000_000)
    """)
    proc = subprocess.run([sys.executable, "-c", body], cwd=REPO, check=False)
    assert proc.returncode == -9


def test_a_killed_save_leaves_a_named_temp_that_a_later_save_removes(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    _killed_writer(target)
    (debris,) = tmp_path.iterdir()
    assert debris.name.startswith(".onnxgate-tmp-model.onnx-") and debris.stat().st_size == 4_000_000
    assert not target.exists()

    write_bytes_atomic(tmp_path / "other.bin", b"1")  # within the hour: a writer may still be alive
    assert debris.exists()
    hours_ago = time.time() - 2 * 3600
    os.utime(debris, (hours_ago, hours_ago))
    _, converted = fitted("xgboost", "regression")
    converted.save(tmp_path / "next.onnx")
    assert not debris.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["next.onnx", "other.bin"]


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
