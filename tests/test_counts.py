"""Instruction counts (--counts): deterministic per call, judged by the gate, tied to the CPU's flags."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conversion.app.main import main as cli_main
from conversion.bench.callgrind_requests import available
from conversion.bench.counts import CountsUnavailableError, count_model
from conversion.bench.counts_worker import REFERENCE
from conversion.bench.fingerprint import DISPATCH_FLAGS, machine_identity
from conversion.errors import ResultsError
from conversion.results.gate.figures import COUNT_SPREAD, COUNT_THRESHOLD, CYCLES_THRESHOLD
from conversion.results.gate.judge import gate_files
from conversion.results.gate.rules import CountRegression
from conversion.results.gate.table import render_outcome
from tests.test_gate import MACHINE, _record, _results, _rounds

needs_valgrind = pytest.mark.skipif(not (shutil.which("valgrind") and available()),
                                    reason="needs valgrind on x86-64 Linux")

COUNTS = {"engine": {"instructions": 80_000.0, "cycles": 130_000.0},
          "onnxruntime": {"instructions": 74_000.0, "cycles": 119_000.0}}


def _counted(counts: dict[str, dict[str, float]], *, seed: int) -> list:
    """A suite whose time ratios are unchanged noise and whose ONNX row carries ``counts``."""
    rng = np.random.default_rng(seed)
    return [_record(_rounds(rng, level=20.0), runtime="native"),
            dataclasses.replace(_record(_rounds(rng, level=2.0), batch=1), counts=counts)]


def _scaled(factor: float, path: str = "onnxruntime") -> dict[str, dict[str, float]]:
    return {p: {m: v * (factor if p == path else 1.0) for m, v in c.items()} for p, c in COUNTS.items()}


@pytest.mark.slow
@needs_valgrind
def test_counts_of_the_same_call_repeat_across_processes() -> None:
    first, second = (count_model(REFERENCE, [1, 256], paths=["onnxruntime"]) for _ in range(2))
    for batch in ("1", "256"):
        a, b = first["per_call"][batch]["onnxruntime"], second["per_call"][batch]["onnxruntime"]
        assert a["instructions"] > 1000 and a["cycles"] >= a["instructions"]
        assert abs(b["instructions"] / a["instructions"] - 1) <= COUNT_SPREAD
        assert abs(b["cycles"] / a["cycles"] - 1) <= COUNT_SPREAD
    one_row, rows_256 = (first["per_call"][b]["onnxruntime"]["instructions"] for b in ("1", "256"))
    assert rows_256 > one_row


def test_gate_fails_a_5_percent_rise_in_counts_even_at_one_row(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    baseline = _results(tmp_path / "b.json", _counted(COUNTS, seed=1))
    current = _results(tmp_path / "c.json", _counted(_scaled(1.05), seed=2),
                       software={"onnxruntime": "1.33.0"})  # an upgrade: counts are still judged
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "--json"]) == 1
    verdicts = json.loads(capsys.readouterr().out)
    assert not verdicts["performance"]["passed"]
    flagged = [r for r in verdicts["regressions"] if r["measure"] == "counts"]
    # Instructions fail at +5%; estimated cycles have a wider threshold (the cache model's spread).
    assert {r["metric"] for r in flagged} == {"instructions/onnxruntime"}
    assert all(r["effect"] == pytest.approx(0.05) for r in flagged)
    assert any("instructions per call (onnxruntime) +5.0%" in f for f in verdicts["performance"]["failures"])


def test_gate_passes_equal_counts_and_sub_threshold_wobble(tmp_path: Path) -> None:
    baseline = _results(tmp_path / "b.json", _counted(COUNTS, seed=1))
    for factor in (1.0, 1.0 + COUNT_SPREAD, 1.0 - COUNT_SPREAD):
        current = _results(tmp_path / "c.json", _counted(_scaled(factor), seed=2))
        outcome = gate_files(baseline, current)
        assert outcome.exit_code == 0, render_outcome(outcome)
        assert {c.verdict for c in outcome.changes if c.measure == "counts"} == {"unchanged"}


def test_count_rule_names_the_path_and_the_size_of_the_rise() -> None:
    base, cur = _counted(COUNTS, seed=1)[1], _counted(_scaled(1.25, "engine"), seed=1)[1]
    reason = CountRegression().fails(cur, base)
    assert reason is not None and "(engine) +25.0%" in reason and "80,000 -> 100,000" in reason
    assert f"threshold {COUNT_THRESHOLD:.0%}" in reason
    assert CountRegression().fails(base, base) is None
    assert CountRegression().fails(base, dataclasses.replace(base, counts={})) is None  # baseline without counts


def _cycles(instructions: float, cycles: float) -> dict[str, dict[str, float]]:
    return {"native": {"instructions": instructions, "cycles": cycles}}


def test_estimated_cycles_that_move_with_the_heap_layout_do_not_fail_the_gate(tmp_path: Path) -> None:
    # Measured: XGBoost native at 256 rows, the same code in two processes (a fresh clone):
    # 5,388,425 -> 5,386,974 instructions, 5,904,751 -> 6,451,284 estimated cycles (+9.3%).
    baseline = _results(tmp_path / "b.json", _counted(_cycles(5_388_425, 5_904_751), seed=1))
    moved = _results(tmp_path / "c.json", _counted(_cycles(5_386_974, 6_451_284), seed=2))
    outcome = gate_files(baseline, moved)
    assert outcome.exit_code == 0, render_outcome(outcome)
    # Cycles that rise beyond the cache model's spread still fail, and say which threshold.
    slower = _results(tmp_path / "s.json", _counted(_cycles(5_388_425, 5_904_751 * 1.2), seed=2))
    outcome = gate_files(baseline, slower)
    assert outcome.exit_code == 1
    assert any("cycles per call (native) +20.0%" in f and f"threshold {CYCLES_THRESHOLD:.0%}" in f
               for f in outcome.performance_failures)


def test_machine_fingerprint_carries_the_cpu_dispatch_flags() -> None:
    flags = machine_identity()["cpu_flags"]
    assert set(flags) <= set(DISPATCH_FLAGS)
    line = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith(("flags", "Features"))),
                "") if Path("/proc/cpuinfo").exists() else ""
    assert set(flags) == set(line.partition(":")[2].split()) & set(DISPATCH_FLAGS)


def test_gate_refuses_counts_from_a_cpu_with_other_flags(tmp_path: Path) -> None:
    baseline = _results(tmp_path / "b.json", _counted(COUNTS, seed=1), machine={**MACHINE, "cpu_flags": ["avx2"]})
    current = _results(tmp_path / "c.json", _counted(COUNTS, seed=2),
                       machine={**MACHINE, "cpu_flags": ["avx2", "avx512f"]})
    with pytest.raises(ResultsError, match="cpu_flags"):
        gate_files(baseline, current)


def test_a_baseline_from_before_cpu_flags_is_still_compared(tmp_path: Path) -> None:
    baseline = _results(tmp_path / "b.json", _counted(COUNTS, seed=1))  # MACHINE has no cpu_flags
    current = _results(tmp_path / "c.json", _counted(COUNTS, seed=2), machine={**MACHINE, "cpu_flags": ["avx2"]})
    assert gate_files(baseline, current).exit_code == 0


def test_bench_counts_without_valgrind_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ONNXGATE_VALGRIND", str(tmp_path / "no-valgrind"))
    assert cli_main(["bench", "--quick", "--counts", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--counts" in err and "valgrind" in err and "apt-get install valgrind" in err
    assert not list(tmp_path.glob("bench-*.json"))  # nothing ran


def _counted_at(level: float, counts: dict[str, dict[str, float]], *, seed: int) -> list:
    """Like _counted, with the ONNX row at 4096 rows (a 10% minimum effect) and time ratio ``level``."""
    rng = np.random.default_rng(seed)
    return [_record(_rounds(rng, level=20.0), runtime="native"),
            dataclasses.replace(_record(_rounds(rng, level=level, spread=0.02)), counts=counts)]


def _one_row(native_level: float, reference_level: float, *, seed: int, counts: dict | None = None) -> list:
    rng = np.random.default_rng(seed)
    onnx = _record(_rounds(rng, level=native_level, spread=0.02), batch=1)
    return [_record(_rounds(rng, level=20.0), runtime="native"),
            dataclasses.replace(onnx, counts=counts or COUNTS,
                                ref_ratio_rounds=tuple(_rounds(rng, level=reference_level, spread=0.02)))]


def test_a_time_rise_with_unchanged_counts_is_reported_as_noise_not_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # As measured between two CI runs of unchanged code: a one-row onnx/native ratio +102% (the
    # envelope of its class), the same instructions; its onnx/reference ratio within its envelope too.
    baseline = _results(tmp_path / "b.json", _one_row(2.0, 2.0, seed=1))
    noisy = _results(tmp_path / "noisy.json", _one_row(4.0, 2.5, seed=2))
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(noisy), "--json"]) == 0
    verdicts = json.loads(capsys.readouterr().out)
    assert any("runner noise" in n for n in verdicts["notes"])
    assert any(c["verdict"] == "noise" for c in verdicts["changes"])
    # The same time rise with more work per call is a regression, by both measures.
    slower = _results(tmp_path / "slower.json", _one_row(4.0, 2.5, seed=3, counts=_scaled(1.25)))
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(slower), "--json"]) == 1
    measures = {r["measure"] for r in json.loads(capsys.readouterr().out)["regressions"]}
    assert measures == {"time", "counts"}


def test_a_time_rise_on_a_row_without_counts_still_fails(tmp_path: Path) -> None:
    baseline = _results(tmp_path / "b.json", _counted_at(2.0, {}, seed=1))
    current = _results(tmp_path / "c.json", _counted_at(3.0, {}, seed=2))
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current)]) == 1


def test_a_time_rise_without_counts_against_a_counted_baseline_is_unconfirmed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `onnxgate run --baseline` and a plain `bench` take no counts; CI's baseline has them. Measured
    # here: the RandomForest 256-row ONNX/reference ratio read +11% (p < 1e-14) in 2 of 4 `run`s
    # of unchanged code. On a counted baseline counts decide, so time alone is not a failure.
    baseline = _results(tmp_path / "b.json", _counted_at(2.0, COUNTS, seed=1))
    uncounted = _results(tmp_path / "c.json", _counted_at(2.3, {}, seed=2))  # +15%: within the envelope
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(uncounted), "--json"]) == 0
    verdicts = json.loads(capsys.readouterr().out)
    assert [c["verdict"] for c in verdicts["changes"] if c["verdict"] not in ("unchanged", "unjudged")] == [
        "unconfirmed"]
    assert any("unconfirmed" in n and "bench --counts" in n for n in verdicts["notes"])
    # The text verdict lists the row, so the rise is seen, not hidden.
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(uncounted)]) == 0
    assert "unconfirmed" in capsys.readouterr().out


HOOK = '''
def calls(batches, paths):
    return [(b, "work", lambda b=b: sum(range(b))) for b in batches]
'''


@pytest.mark.slow
@needs_valgrind
def test_the_counting_worker_imports_a_hook_from_where_the_caller_found_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker runs in conversion's folder; a hook module beside the caller (benchmarks/proof's
    # prove_counts, a user's folder) is counted only if the worker is told where it was found.
    (tmp_path / "elsewhere_hooks.py").write_text(HOOK)
    monkeypatch.syspath_prepend(str(tmp_path))
    counted = count_model("hooked", [10, 1000], paths=["work"], hooks={"maker": {"call": "elsewhere_hooks:calls"}})
    small, large = (counted["per_call"][b]["work"]["instructions"] for b in ("10", "1000"))
    assert 0 < small < large


@needs_valgrind
def test_a_hook_that_cannot_be_imported_is_named_before_valgrind_starts() -> None:
    with pytest.raises(CountsUnavailableError, match=r"no_such_hooks_module.*PYTHONPATH"):
        count_model("hooked", [1], paths=["work"], hooks={"maker": {"call": "no_such_hooks_module:calls"}})
