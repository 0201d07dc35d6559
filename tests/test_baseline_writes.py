"""Baselines under concurrent and killed writes: no accept is lost, and a write killed before its
rename never changes which baseline the next gate uses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from conversion.app.main import main as cli_main
from conversion.results.baseline_choice import accept_baseline, baseline_name, choose_baseline
from conversion.results.benchmark_runs import load_run

REPO = Path(__file__).resolve().parents[1]
# A real baseline: large enough (60+ rows) that reading it takes as long as in CI.
REAL = REPO / "benchmarks" / "baselines" / "amd-epyc-2cpu-x86_64.json"


def _variant(src: Path, path: Path, commit: str) -> Path:
    doc = json.loads(src.read_text(encoding="utf-8"))
    doc["commit_info"] = {"id": commit, "dirty": False}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_ten_concurrent_accept_pairs_keep_both_accepts(tmp_path: Path) -> None:
    (tmp_path / "baselines").mkdir()
    target = _variant(REAL, tmp_path / "baselines" / "machine.json", "start")
    runs = {side: load_run(_variant(REAL, tmp_path / f"{side}.json", side)) for side in "ab"}
    for trial in range(10):
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def accept(side: str, trial: int = trial, barrier: threading.Barrier = barrier,
                   errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait()
                accept_baseline(target, runs[side], why=f"{side}{trial}")
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=accept, args=(side,)) for side in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        history = load_run(target).history
        # The later accept replaced the earlier one's file, whose own entry names what it replaced.
        assert {h["why"] for h in history[:2]} == {f"a{trial}", f"b{trial}"}, f"trial {trial}: an accept was lost"
    assert len(load_run(target).history) == 10  # HISTORY_LIMIT: the newest ten of twenty accepts


def _killed_before_rename(argv: list[str]) -> None:
    """Runs `onnxgate` in a process that dies by SIGKILL after writing its temp file, before the rename."""
    body = textwrap.dedent(f"""
        import os, signal
        import conversion.atomic as atomic
        atomic.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
        from conversion.app.main import main
        main({argv!r})
    """)
    proc = subprocess.run([sys.executable, "-c", body], cwd=REPO, capture_output=True, check=False,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]


def test_a_killed_accept_leaves_the_baseline_the_next_gate_uses(tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    folder.mkdir()
    kept = shutil.copy(REAL, folder / "amd-epyc-2cpu-x86_64.json")
    current = _variant(REAL, tmp_path / "current.json", "new")
    _killed_before_rename(["gate", "--baseline", str(folder), "--current", str(current), "--accept"])
    (temp,) = [p for p in folder.iterdir() if p.name != Path(kept).name]
    assert temp.name.startswith(".onnxgate-tmp-") and not temp.name.endswith(".json")
    assert choose_baseline(folder, load_run(current)).path == Path(kept)
    assert load_run(kept).commit == load_run(REAL).commit  # the old baseline, whole


def test_a_killed_record_missing_is_never_a_baseline_nor_written_into(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "baselines"
    current = _variant(REAL, tmp_path / "current.json", "new")
    run = load_run(current)
    _killed_before_rename(["gate", "--baseline", str(folder), "--current", str(current), "--record-missing"])
    assert [p.name.startswith(".onnxgate-tmp-") for p in folder.iterdir()] == [True]
    assert choose_baseline(folder, run).path is None, "the killed write's temp file became the baseline"

    assert cli_main(["gate", "--baseline", str(folder), "--current", str(current), "--accept", "--why", "x"]) == 0
    assert "accepted" in capsys.readouterr().out  # the gate says what it accepted on stdout
    # The accept went to the machine type's own name, and the dead writer's temp file is gone.
    assert [p.name for p in folder.iterdir()] == [baseline_name(run)]
    assert choose_baseline(folder, run).path == folder / baseline_name(run)


def test_a_fifo_in_the_baselines_folder_is_no_candidate_and_never_blocks(tmp_path: Path) -> None:
    import os

    folder = tmp_path / "baselines"
    folder.mkdir()
    kept = shutil.copy(REAL, folder / "amd-epyc-2cpu-x86_64.json")
    os.mkfifo(folder / "a-pipe.json")
    assert choose_baseline(folder, load_run(REAL)).path == Path(kept)


@pytest.mark.parametrize("field, value", [("arch", "/../../x"), ("cpu_model", "../../../etc/x")])
def test_a_crafted_machine_never_names_a_file_outside_the_folder(field: str, value: str, tmp_path: Path) -> None:
    doc = json.loads(REAL.read_text(encoding="utf-8"))
    doc["machine_info"]["onnxgate"]["machine"][field] = value
    current = tmp_path / "in" / "current.json"
    current.parent.mkdir()
    current.write_text(json.dumps(doc), encoding="utf-8")
    folder = tmp_path / "in" / "baselines"
    assert cli_main(["gate", "--baseline", str(folder), "--current", str(current), "--record-missing"]) == 0
    (written,) = folder.iterdir()
    assert written.parent == folder and "/" not in written.name and ".." not in written.name
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(["current.json", written.name])


def test_a_machine_field_of_the_wrong_type_is_refused(tmp_path: Path, capsys) -> None:
    doc = json.loads(REAL.read_text(encoding="utf-8"))
    doc["machine_info"]["onnxgate"]["machine"]["cpu_flags"] = 5
    current = tmp_path / "current.json"
    current.write_text(json.dumps(doc), encoding="utf-8")
    assert cli_main(["gate", "--baseline", str(tmp_path / "b"), "--current", str(current), "--record-missing"]) == 2
    assert "machine_info.onnxgate.machine.cpu_flags is an integer, expected a list" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())
