"""Files onnxgate writes get the user's umask, like any file the user's programs write."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    # A fresh process, since the umask is read once at import.
    target = tmp_path / "sub" / "model.onnx"
    code = f"from conversion.atomic import write_bytes_atomic; write_bytes_atomic({str(target)!r}, b'x')"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   preexec_fn=lambda: os.umask(umask))
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]  # no temporary left behind
