"""Every input is a regular file: a FIFO, a device, a folder or a link to one is exit 2 naming what
it is, at once, never a hang, a read until memory runs out, or "does not exist"."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from conversion.app.main import main

REPO = Path(__file__).resolve().parents[1]
VALID = REPO / "benchmarks" / "baselines" / "amd-epyc-2cpu-x86_64.json"
PATIENCE_S = 30.0  # liveness, not speed: a hang is what fails

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")


def _special(kind: str, folder: Path, name: str) -> tuple[Path, str]:
    """(path, how the error must name it) of a special file called ``name``."""
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)
        return path, "is a FIFO (named pipe)"
    if kind == "dir":
        path.mkdir()
        return path, "is a directory"
    if kind == "dev-zero-link":
        path.symlink_to("/dev/zero")
        return path, "is a character device"
    raise AssertionError(kind)


def _release(path: Path) -> None:
    """Unblocks a reader stuck opening the FIFO ``path``: a writer comes and goes."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)


def _run(argv: list[str], special: Path) -> int:
    """``main(argv)``, failing (not hanging) when it does not return within PATIENCE_S."""
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
    worker.start()
    worker.join(PATIENCE_S)
    if worker.is_alive():
        _release(special)
        worker.join(PATIENCE_S)
        pytest.fail(f"onnxgate {' '.join(argv)} blocked on {special}")
    return result[0]


CASES = {  # argv with {x} for the special file, its name
    "gate --current": (["gate", "--baseline", str(VALID), "--current", "{x}"], "current.json"),
    "gate --baseline": (["gate", "--baseline", "{x}", "--current", str(VALID)], "baseline.json"),
    "report": (["report", "{x}", "--output", "{tmp}/report"], "run.json"),
    "convert model": (["convert", "{x}", "--output", "{tmp}/m.onnx"], "model.ubj"),
    "check --data": (["check", "{model}", "--data", "{x}"], "rows.csv"),
    "check --data npy": (["check", "{model}", "--data", "{x}"], "rows.npy"),
    "check --onnx": (["check", "{model}", "--onnx", "{x}"], "model.onnx"),
    "bench --model": (["bench", "--model", "{x}", "--output", "{tmp}/out"], "model.txt"),
}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .runtime_models import fitted

    native, _ = fitted("xgboost", "regression")
    path = tmp_path_factory.mktemp("model") / "model.ubj"
    from conversion.converter.frameworks import adapter_named

    adapter_named("xgboost").save_native(native, path)
    return path


@pytest.mark.parametrize("kind", ["fifo", "dir", "dev-zero-link"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_special_file_is_exit_2_naming_what_it_is(case: str, kind: str, tmp_path: Path, model: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    if (case, kind) == ("gate --baseline", "dir"):
        pytest.skip("a folder is what --baseline takes for a folder of baselines, one per machine type")
    if (case, kind) == ("gate --current", "dir"):
        pytest.skip("a folder is what --current takes for its newest results file (tests/test_results_path.py)")
    argv, name = CASES[case]
    special, named = _special(kind, tmp_path, name)
    code = _run([a.format(x=special, tmp=tmp_path, model=model) for a in argv], special)
    err = capsys.readouterr().err
    assert code == 2, err
    assert named in err and "does not exist" not in err, err


def test_a_size_cap_with_its_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ONNXGATE_MAX_FILE_MB", "0.1")  # VALID is 0.4 MB
    assert main(["gate", "--baseline", str(VALID), "--current", str(VALID)]) == 2
    err = capsys.readouterr().err
    assert "over onnxgate's 0.1 MB limit" in err and "ONNXGATE_MAX_FILE_MB" in err, err
    monkeypatch.setenv("ONNXGATE_MAX_FILE_MB", "1")
    assert main(["gate", "--baseline", str(VALID), "--current", str(VALID)]) == 0
