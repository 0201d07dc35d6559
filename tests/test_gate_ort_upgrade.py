"""A red gate after an onnxruntime upgrade says why (issues 17 and 18): results files as a real
1.22.0 -> 1.23.0 upgrade recorded them (quick XGBoost profile, --counts, docs/gate.md), gated."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from conversion.app.main import main as cli_main
from conversion.results.benchmark_runs import Record
from tests.test_gate import _record, _results, _rounds

# The two builds' info strings, as onnxruntime.get_build_info() returned them (the fingerprint keeps it).
BUILD_122 = ("ORT Build Info: git-branch=HEAD, git-commit-id=f217402897, build type=Release, cmake cxx flags: "
             "-DNDEBUG -Wp,-D_FORTIFY_SOURCE=2 -O3 -pipe -fstack-clash-protection -DCPUINFO_SUPPORTED")
BUILD_123 = "ORT Build Info: git-branch=HEAD, git-commit-id=be835efc56, build type=Release"


def _counts(instructions: float, onnxruntime: float, python: float, syscalls: float) -> dict[str, float]:
    return {"instructions": instructions, "cycles": instructions * 1.04, "syscalls": syscalls, "faults": 0.0,
            "origin:onnxruntime": onnxruntime, "origin:python": python, "origin:numpy": 649.0,
            "origin:framework": 0.0, "origin:other": instructions - onnxruntime - python - 649.0}


def _row(rng: np.random.Generator, *, batch: int, counts: dict[str, float], op_us: tuple[float, ...]) -> Record:
    """A one-thread ONNX row with the measured counts and op profile (us per call)."""
    rec = _record(_rounds(rng, level=0.5, n=60, spread=0.03), batch=batch)
    ops = ("ArgMax", "Concat", "Gather", "Identity", "Sigmoid", "Sub", "TreeEnsembleRegressor")
    return dataclasses.replace(rec, counts={"engine": counts, "onnxruntime": counts},
                               op_us=dict(zip(ops, op_us, strict=True)))


@pytest.fixture
def upgrade(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(17)
    # 256 rows: engine 2,297,391 -> 3,009,939 instructions per call, 2 -> 4 syscalls. The baseline
    # ran on a busier machine, so its profiler read every op slower, the tree op 1050 us to 1.23.0's 897.
    base = _row(rng, batch=256, counts=_counts(2_297_391, 2_262_305, 19_113, 2.0),
                op_us=(14.0, 12.0, 16.0, 7.0, 12.5, 19.5, 1050.5))
    cur = _row(rng, batch=256, counts=_counts(3_009_939, 2_974_962, 19_119, 4.0),
               op_us=(4.0, 4.0, 6.0, 2.0, 3.0, 8.0, 897.0))
    return (_results(tmp_path / "ort122.json", [base], when="2026-12-03T12:05:58",
                     software={"onnxruntime": "1.22.0", "onnxruntime_build": BUILD_122}),
            _results(tmp_path / "ort123.json", [cur], when="2026-12-03T12:11:27",
                     software={"onnxruntime": "1.23.0", "onnxruntime_build": BUILD_123}))


def test_an_onnxruntime_upgrade_fails_naming_the_version_onnxruntime_and_its_tree_op(
        upgrade: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = upgrade
    assert cli_main(["gate", "--baseline", str(base), "--current", str(cur), "-v"]) == 1
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    # The verdict, then what changed, in one readable line: the release, not onnxruntime's 300-character
    # build string.
    assert out[0] == "gate: FAIL: 1 regressed"
    assert out[1:4] == ["what changed:", "  libraries: onnxruntime 1.22.0 → 1.23.0",
                       "  regressed xgboost-synthetic-small (1 benchmark)"]
    assert "ORT Build Info" not in captured.out + captured.err
    # The reference ratios are not judged (the reference runs in onnxruntime); the counts still fail.
    assert any(line.startswith("note: onnxruntime changed") for line in out)
    where = captured.out.split("where the work went, ")[1].splitlines()
    assert where[1] == "  - onnxruntime +712,657 instructions/call (+32%), engine call"
    assert where[2] == "  - op TreeEnsembleRegressor 97% of the op time (baseline 93%), onnxruntime profiler"
    assert "python" not in captured.out.split("where the work went, ")[1]  # +6 instructions is a re-count
    # One REGRESSED line for the benchmark (not one per measure and path), saying all three things.
    regressed = [line for line in captured.err.splitlines() if line.startswith("REGRESSED ")]
    assert len(regressed) == 1, captured.err
    line = regressed[0]
    assert line.startswith("REGRESSED xgboost-synthetic-small|onnx-CPUExecutionProvider-t1|b256: "
                           "instructions/engine +31% (counts), instructions/onnxruntime +31% (counts) and 4 more")
    assert "; cause: libraries: onnxruntime 1.22.0 → 1.23.0; where: onnxruntime +712,657 instructions/call" in line
    assert line.endswith("op TreeEnsembleRegressor 97% of the op time (baseline 93%), onnxruntime profiler")


def test_the_upgrade_read_backwards_is_an_improvement_with_a_warning(
        upgrade: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = upgrade
    assert cli_main(["gate", "--baseline", str(cur), "--current", str(base)]) == 0
    out = capsys.readouterr().out
    assert "swapped" in out.splitlines()[2] and "libraries: onnxruntime 1.23.0 → 1.22.0" in out
    assert out.startswith("gate: PASS: 1 improved")


def test_a_rebuilt_onnxruntime_of_the_same_release_is_named_by_its_build_commit(
        tmp_path: Path, upgrade: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = upgrade
    rebuilt = tmp_path / "rebuilt.json"
    rebuilt.write_text(cur.read_text().replace('"onnxruntime": "1.23.0"', '"onnxruntime": "1.22.0"'))
    assert cli_main(["gate", "--baseline", str(base), "--current", str(rebuilt)]) == 1
    assert capsys.readouterr().out.splitlines()[2] == "  libraries: onnxruntime build f217402897 → be835efc56"
