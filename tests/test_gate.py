"""The regression gate: its decision rule on synthetic samples, bad inputs, machine refusal."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conversion.app.main import main as cli_main
from conversion.errors import ResultsError
from conversion.results.benchmark_runs import SCHEMA_VERSION, Record, flatten, group_by_machine, load_benchmark_runs
from conversion.results.gate.figures import MIN_EFFECT
from conversion.results.gate.judge import gate_files
from conversion.results.gate.rules import ParityBroken, RatioRegression, benchmark_class

MACHINE = {"cpu_model": "Test CPU", "cpu_count": 2, "arch": "x86_64", "system": "Linux"}


def _record(ratios: Any, *, runtime: str = "onnx", batch: int = 4096, threads: int | None = 1,
            parity: str = "passed", reference_cpu_s: float | None = None,
            provider: str = "CPUExecutionProvider") -> Record:
    nan = float("nan")
    return Record(
        framework="xgboost", model="xgboost-synthetic-small", size="small", dataset="synthetic", batch_size=batch,
        runtime=runtime, provider=None if runtime == "native" else provider,
        threads=None if runtime == "native" else threads, p50=nan, p90=nan, p99=nan, mean=nan, min=nan,
        stddev=nan, rounds=len(ratios), rows_per_s=nan, parity=parity, parity_detail="", conversion_s=None,
        onnx_bytes=None, session_s=None, first_call_s=None, peak_rss_mb=None,
        ratio_kind="native/reference" if runtime == "native" else "onnx/native",
        ratio_rounds=tuple(float(r) for r in ratios), name="synthetic", group="",
        ref_ratio_rounds=() if runtime == "native" else tuple(float(r) for r in ratios),
        reference_cpu_s=reference_cpu_s,
    )


def _rounds(rng: np.random.Generator, *, level: float = 2.0, n: int = 30, spread: float = 0.08) -> np.ndarray:
    """Per-round ratios as measured: lognormal scatter plus a few preempted (slow) rounds."""
    r = level * rng.lognormal(0.0, spread, size=n)
    hit = rng.random(n) < 0.1
    return np.where(hit, r * rng.uniform(1.2, 2.0, size=n), r)


# --- the decision rule --------------------------------------------------------------------

def test_unchanged_runs_rarely_fail() -> None:
    rng = np.random.default_rng(0)
    rule = RatioRegression()
    # run-to-run drift of the level, as measured between unchanged runs (a few %)
    alarms = sum(
        bool(rule.fails(_record(_rounds(rng, level=2.0 * rng.lognormal(0, 0.03))), _record(_rounds(rng))))
        for _ in range(400)
    )
    assert alarms / 400 <= 0.02


def test_a_25_percent_slowdown_is_caught() -> None:
    rng = np.random.default_rng(1)
    rule = RatioRegression()
    caught = sum(
        bool(rule.fails(_record(_rounds(rng, level=2.5 * rng.lognormal(0, 0.03))), _record(_rounds(rng))))
        for _ in range(400)
    )
    assert caught / 400 >= 0.95


def test_significant_but_small_shift_is_not_a_regression() -> None:
    # 600 rounds make a 4% shift highly significant; the minimum effect keeps it from failing CI.
    rng = np.random.default_rng(2)
    rule = RatioRegression()
    base, cur = _record(_rounds(rng, n=600, spread=0.02)), _record(_rounds(rng, level=2.08, n=600, spread=0.02))
    judged = rule.test(cur.ratio_rounds, base.ratio_rounds, benchmark_class(cur))
    assert judged.p_greater < 1e-6
    assert rule.fails(cur, base) is None


def test_large_shift_without_significance_is_not_a_regression() -> None:
    rule = RatioRegression()
    base = _record([1.0, 3.0] * 5)
    cur = _record([1.3, 3.9] * 5)  # +30% median, but the rounds overlap completely
    assert rule.fails(cur, base) is None


def test_too_few_rounds_are_not_judged() -> None:
    assert RatioRegression().fails(_record([3.0] * 4), _record([1.0] * 4)) is None


def test_reason_names_benchmark_effect_and_minimum() -> None:
    rng = np.random.default_rng(3)
    reason = RatioRegression().fails(_record(_rounds(rng, level=3.0)), _record(_rounds(rng)))
    assert reason is not None
    minimum = MIN_EFFECT["reference"]["onnx-cpu-1thread/large"]
    assert "synthetic" in reason and "onnx/reference" in reason and f"{minimum:.0%}" in reason


@pytest.mark.parametrize(
    ("runtime", "batch", "threads", "expected"),
    [("native", 1, None, "native/tiny"), ("onnx", 256, 1, "onnx-cpu-1thread/medium"),
     ("onnx", 65536, 2, "onnx-cpu-threads/large")],
)
def test_benchmark_classes(runtime: str, batch: int, threads: int | None, expected: str) -> None:
    assert benchmark_class(_record([1.0], runtime=runtime, batch=batch, threads=threads)) == expected
    assert (expected in MIN_EFFECT["reference"]) == (threads in (None, 1))  # multi-threaded: not gated


def test_the_provider_is_part_of_the_noise_class() -> None:
    # Another provider's rows drift differently; with no minimum effect measured they are not gated.
    rng = np.random.default_rng(14)
    base = _record(_rounds(rng), provider="CUDAExecutionProvider")
    cur = _record(_rounds(rng, level=4.0), provider="CUDAExecutionProvider")
    assert benchmark_class(cur) == "onnx-cuda-1thread/large"
    rule = RatioRegression()
    assert rule.fails(cur, base) is None
    assert "not gated" in (rule.comparable(cur, base) or "")
    assert rule.fails(_record(_rounds(rng, level=4.0)), _record(_rounds(rng))) is not None  # the CPU row is


@pytest.mark.parametrize(
    ("baseline", "current", "fails"),
    [("passed", "passed", False), ("passed", "failed", True), ("failed", "failed", True),
     ("passed", "refused", True), ("refused", "refused", False), ("error", "error", False)],
)
def test_parity_rule(baseline: str, current: str, fails: bool) -> None:
    reason = ParityBroken().fails(_record([1.0], parity=current), _record([1.0], parity=baseline))
    assert (reason is not None) == fails


# --- results files and the CLI --------------------------------------------------------------

def _bench(rec: Record) -> dict[str, Any]:
    info = {k: getattr(rec, k) for k in ("framework", "model", "size", "dataset", "runtime", "provider", "threads",
                                          "parity", "parity_detail", "ratio_kind")}
    info |= {"onnxgate_kind": "latency", "batch_size": rec.batch_size, "ratio_rounds": list(rec.ratio_rounds),
             "ref_ratio_rounds": list(rec.ref_ratio_rounds), "reference_cpu_s": rec.reference_cpu_s,
             "counts": rec.counts, "op_us": rec.op_us}
    info |= {k: list(getattr(rec, k)) for k in ("wall_ratio_rounds", "wall_ref_ratio_rounds", "tail_ratio_rounds")}
    data = [1e-3 * r for r in rec.ratio_rounds]
    return {
        "group": "g", "name": f"test_latency[{rec.runtime}-{rec.threads}]", "extra_info": info,
        "stats": {"min": min(data), "max": max(data), "mean": sum(data) / len(data), "stddev": 0.0,
                  "rounds": len(data), "median": sorted(data)[len(data) // 2], "data": data},
    }


def _results(path: Path, records: list[Record], *, machine: dict[str, Any] = MACHINE, when: str = "2026-01-01T00:00:00",
             software: dict[str, str] | None = None) -> Path:
    doc = {
        "onnxgate_schema": SCHEMA_VERSION, "onnxgate_profile": "quick", "datetime": when, "version": "5.3.1",
        "commit_info": {"id": "abc123", "dirty": False},
        "machine_info": {"onnxgate": {"machine_id": json.dumps(machine, sort_keys=True), "machine": machine,
                                      "software": software or {"onnxruntime": "1.32.0"}}},
        "benchmarks": [_bench(r) for r in records],
    }
    path.write_text(json.dumps(doc))
    return path


def _suite(rng: np.random.Generator, *, onnx_level: float = 2.0, parity: str = "passed") -> list[Record]:
    return [
        _record(_rounds(rng, level=20.0), runtime="native", parity=parity),
        _record(_rounds(rng, level=onnx_level), parity=parity),
    ]


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    return _results(tmp_path / "baseline.json", _suite(np.random.default_rng(10)))


def test_unchanged_exits_0(tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = _results(tmp_path / "current.json", _suite(np.random.default_rng(11)))
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gate: PASS: 2 unchanged\n") and len(out.splitlines()) <= 6
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "-v"]) == 0
    out = capsys.readouterr().out
    assert "parity verdict: pass" in out and "performance verdict: pass" in out


def test_regression_exits_1_with_a_table(tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = _results(tmp_path / "current.json", _suite(np.random.default_rng(11), onnx_level=3.0),
                       software={"onnxruntime": "1.32.0", "xgboost": "3.3.0"})
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current)]) == 1
    captured = capsys.readouterr()
    # The verdict and counts first, then what changed; the table only with -v (issue 27: 72 lines).
    assert captured.out.startswith("gate: FAIL: 1 regressed, 1 unchanged\nwhat changed:\n")
    assert "libraries: xgboost absent → 3.3.0" in captured.out and "REGRESSION" not in captured.out
    assert sum(line.startswith("REGRESSED ") for line in captured.err.splitlines()) == 1
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "-v"]) == 1
    out = capsys.readouterr().out
    assert "performance verdict: FAIL" in out and "parity verdict: pass" in out and "REGRESSION" in out


def test_parity_break_is_its_own_verdict(tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = _results(tmp_path / "current.json", _suite(np.random.default_rng(11), parity="failed"))
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "--json"]) == 1
    verdicts = json.loads(capsys.readouterr().out)
    assert not verdicts["parity"]["passed"] and verdicts["performance"]["passed"]
    assert len(verdicts["parity"]["failures"]) == 1  # one line per model, not per benchmark row


def _other_schema(p: Path) -> None:
    doc = json.loads(p.read_text())
    doc["onnxgate_schema"] = SCHEMA_VERSION + 1
    p.write_text(json.dumps(doc))


def _plain_pytest_benchmark(p: Path) -> None:
    doc = json.loads(p.read_text())
    del doc["onnxgate_schema"]
    p.write_text(json.dumps(doc))


def _no_benchmarks(p: Path) -> None:
    doc = json.loads(p.read_text())
    doc["benchmarks"] = []
    p.write_text(json.dumps(doc))


BAD_BASELINES = {
    "missing": (lambda p: p.unlink(), "does not exist"),
    "empty": (lambda p: p.write_text(""), "is empty"),
    "malformed": (lambda p: p.write_text(p.read_text()[:200]), "not valid JSON"),
    "not-an-object": (lambda p: p.write_text("[1, 2]"), "JSON list"),
    "other-schema": (_other_schema, "reads schema"),
    "plain-pytest-benchmark": (_plain_pytest_benchmark, "no 'onnxgate_schema'"),
    "no-benchmarks": (_no_benchmarks, "holds no benchmarks"),
}


@pytest.mark.parametrize("kind", sorted(BAD_BASELINES))
def test_bad_baseline_exits_2(kind: str, tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    damage, message = BAD_BASELINES[kind]
    current = _results(tmp_path / "current.json", _suite(np.random.default_rng(11)))
    damage(baseline)
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(baseline) in err


def test_bad_current_exits_2(tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = tmp_path / "current.json"
    current.write_text("")
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current)]) == 2
    assert "is empty" in capsys.readouterr().err


def test_other_machine_is_refused_unless_forced(tmp_path: Path, baseline: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    other = {**MACHINE, "cpu_model": "Other CPU", "cpu_count": 8}
    current = _results(tmp_path / "current.json", _suite(np.random.default_rng(11)), machine=other)
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current)]) == 2
    err = capsys.readouterr().err
    assert "different machines" in err and "Other CPU" in err and "cpu_count" in err and "--force" in err
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "--force"]) == 0
    assert "compared across machines" in capsys.readouterr().out


def test_gate_files_raises_results_error_for_refusal(tmp_path: Path, baseline: Path) -> None:
    current = _results(tmp_path / "c.json", _suite(np.random.default_rng(11)), machine={**MACHINE, "arch": "arm64"})
    with pytest.raises(ResultsError, match="arch"):
        gate_files(baseline, current)


def test_results_merge_and_group_by_machine(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    a = _results(tmp_path / "a.json", _suite(rng), when="2026-01-02T00:00:00")
    b = _results(tmp_path / "b.json", _suite(rng), when="2026-01-01T00:00:00")
    c = _results(tmp_path / "c.json", _suite(rng), machine={**MACHINE, "cpu_count": 16})
    runs = load_benchmark_runs([a, b, c])
    groups = group_by_machine(runs)
    assert sorted(len(v) for v in groups.values()) == [1, 2]
    two = next(v for v in groups.values() if len(v) == 2)
    assert [r.path for r in two] == [b, a]  # oldest first
    records = flatten(runs)
    assert len(records) == 6 and {r.runtime for r in records} == {"native", "onnx"}
    assert all(r.commit == "abc123" and r.machine_id for r in records)


def test_load_benchmark_runs_needs_files() -> None:
    with pytest.raises(ResultsError, match="no results files"):
        load_benchmark_runs([])


def test_records_carry_report_fields(tmp_path: Path) -> None:
    rec = flatten(load_benchmark_runs([_results(tmp_path / "a.json", _suite(np.random.default_rng(6)))]))[1]
    assert rec.p50 <= rec.p90 <= rec.p99
    assert rec.rows_per_s == pytest.approx(rec.batch_size / rec.p50)
    assert str(copy.copy(rec).key) == "xgboost-synthetic-small|onnx-CPUExecutionProvider-t1|b4096"


def test_onnxruntime_upgrade_is_judged_against_native_only(tmp_path: Path, baseline: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # A new onnxruntime moves the reference model too; only ONNX/native can speak for it.
    rng = np.random.default_rng(11)
    slower = [_record(_rounds(rng, level=20.0), runtime="native"),
              _record(_rounds(rng, level=4.0))]  # +100%, like ORT #27187
    current = _results(tmp_path / "current.json", slower, software={"onnxruntime": "1.33.0"})
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "--json"]) == 1
    verdicts = json.loads(capsys.readouterr().out)
    assert any("onnxruntime changed" in n for n in verdicts["notes"])
    assert {c["metric"] for c in verdicts["changes"]} == {"onnx/native"}
    assert all("onnx/native" in f for f in verdicts["performance"]["failures"])


def test_another_machine_state_judges_only_onnx_against_reference(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # The reference model itself ran 2x slower: the machine was loaded. Native frameworks then
    # move unlike ONNX Runtime, so only ONNX/reference may fail the gate.
    rng = np.random.default_rng(12)
    base = _results(tmp_path / "b.json", [
        _record(_rounds(rng, level=20.0), runtime="native", reference_cpu_s=1e-3),
        _record(_rounds(rng, level=2.0), reference_cpu_s=1e-3)])
    loaded = [_record(_rounds(rng, level=60.0), runtime="native", reference_cpu_s=2e-3),
              _record(_rounds(rng, level=2.0), reference_cpu_s=2e-3)]
    loaded[1] = dataclasses.replace(loaded[1], ratio_rounds=tuple(3 * r for r in loaded[1].ratio_rounds))
    cur = _results(tmp_path / "c.json", loaded)
    assert cli_main(["gate", "--baseline", str(base), "--current", str(cur), "--json"]) == 0
    verdicts = json.loads(capsys.readouterr().out)
    [note] = [n for n in verdicts["notes"] if "another state" in n]
    assert "refresh the baseline" in note
    assert {c["metric"] for c in verdicts["changes"]} == {"onnx/reference"}
    # Side by side (gate --against) there is no baseline to refresh: both sides ran in this job.
    from conversion.results.benchmark_runs import load_run
    from conversion.results.gate.judge import gate_runs
    from conversion.results.gate.side_by_side import side_by_side_rules

    [note] = [n for n in gate_runs(load_run(base), load_run(cur), rules=side_by_side_rules()).notes
              if "another state" in n]
    assert "compared with the base:" in note and "rerun the gate" in note and "baseline" not in note


def test_multithreaded_rows_are_reported_not_gated() -> None:
    rng = np.random.default_rng(13)
    base, cur = _record(_rounds(rng), threads=2), _record(_rounds(rng, level=4.0), threads=2)
    rule = RatioRegression()
    assert rule.fails(cur, base) is None
    assert "not gated" in (rule.comparable(cur, base) or "")


# --- one baseline per machine type --------------------------------------------------------

def test_baseline_folder_picks_this_machine_types_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "baselines"
    folder.mkdir()
    _results(folder / "other.json", _suite(np.random.default_rng(20)), machine={**MACHINE, "cpu_model": "Other CPU"})
    _results(folder / "mine.json", _suite(np.random.default_rng(21)))
    slowed = _results(tmp_path / "slow.json", _suite(np.random.default_rng(22), onnx_level=3.0))
    assert cli_main(["gate", "--baseline", str(folder), "--current", str(slowed)]) == 1
    assert "mine.json" in capsys.readouterr().err


def test_no_baseline_for_this_machine_type_is_recorded_not_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "baselines"
    folder.mkdir()
    _results(folder / "intel.json", _suite(np.random.default_rng(23)), machine={**MACHINE, "cpu_model": "Other CPU"})
    current = _results(tmp_path / "c.json", _suite(np.random.default_rng(24)))

    # Without --record-missing: skipped, not failed, in one line naming what the folder holds and the way out.
    assert cli_main(["gate", "--baseline", str(folder), "--current", str(current)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("gate skipped: ")
    assert "no baseline for this machine type, Test CPU (2 cpus, x86_64)" in out and "intel.json: Other CPU" in out
    assert f"onnxgate gate --baseline {folder} --record-missing --current {current}" in out
    assert "`onnxgate gate --against origin/main`" in out  # the gate that needs no baseline (docs/ci.md)
    assert [p.name for p in folder.iterdir()] == ["intel.json"]  # nothing recorded without being asked

    assert cli_main(["gate", "--baseline", str(folder), "--current", str(current), "--record-missing"]) == 0
    assert "recorded this run" in capsys.readouterr().err
    recorded = folder / "test-cpu-2cpu-x86_64.json"
    assert recorded.is_file()
    # From then on this machine type is gated against the recorded file.
    slowed = _results(tmp_path / "slow.json", _suite(np.random.default_rng(25), onnx_level=3.0))
    assert cli_main(["gate", "--baseline", str(folder), "--current", str(slowed), "--record-missing"]) == 1



def test_a_projects_first_gate_creates_its_baselines_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The README's CI step on a project that has no baselines yet: record, do not fail.
    folder = tmp_path / "benchmarks" / "baselines"
    current = _results(tmp_path / "c.json", _suite(np.random.default_rng(26)))
    assert cli_main(["gate", "--baseline", str(folder), "--current", str(current), "--record-missing"]) == 0
    assert "recorded this run" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["test-cpu-2cpu-x86_64.json"]
    # Without --record-missing a missing folder holds no baseline: skipped, and no folder made up.
    assert cli_main(["gate", "--baseline", str(tmp_path / "nowhere"), "--current", str(current)]) == 0
    assert "it holds nothing (it does not exist)" in capsys.readouterr().out
    assert not (tmp_path / "nowhere").exists()
    # A missing baseline *file* is still an input error.
    assert cli_main(["gate", "--baseline", str(tmp_path / "nowhere.json"), "--current", str(current)]) == 2


def test_one_cpu_flag_apart_is_another_machine_type_and_the_line_names_the_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "baselines"
    folder.mkdir()
    flags = ["avx", "avx2", "avx_vnni", "fma"]
    _results(folder / "epyc.json", _suite(np.random.default_rng(27)), machine={**MACHINE, "cpu_flags": flags})
    current = _results(tmp_path / "c.json", _suite(np.random.default_rng(28)),
                       machine={**MACHINE, "cpu_flags": [f for f in flags if f != "avx_vnni"]})
    for fmt, code in (("text", 0), ("json", 0), ("markdown", 0)):
        assert cli_main(["gate", "--baseline", str(folder), "--current", str(current), "--format", fmt]) == code
        out = capsys.readouterr().out
        assert "epyc.json differs only in CPU flags (this machine lacks avx_vnni)" in out, out
    assert json.loads(_gate_json(folder, current, capsys))["gate_skipped"].startswith("gate skipped: ")


def _gate_json(baseline: Path, current: Path, capsys: pytest.CaptureFixture[str]) -> str:
    cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "--json"])
    return capsys.readouterr().out


def test_a_baseline_older_than_cpu_flags_still_gates_this_machine_type(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The committed Intel baseline predates cpu_flags: choosing it and comparing with it follow one rule.
    folder = tmp_path / "baselines"
    folder.mkdir()
    _results(folder / "intel.json", _suite(np.random.default_rng(29)))
    current = _results(tmp_path / "c.json", _suite(np.random.default_rng(30)),
                       machine={**MACHINE, "cpu_flags": ["avx", "avx2"]})
    data = json.loads(_gate_json(folder, current, capsys))
    assert data["exit_code"] == 0 and data["machine_differences"] == {}
    assert any("does not record cpu_flags" in n for n in data["notes"])
    # A baseline with a different flag set is not this machine type's, however near.
    _results(folder / "intel.json", _suite(np.random.default_rng(29)), machine={**MACHINE, "cpu_flags": ["avx"]})
    assert "differs only in CPU flags (this machine adds avx2)" in json.loads(
        _gate_json(folder, current, capsys))["gate_skipped"]

# --- what was compared, and output for CI summaries ------------------------------------------

def _renamed(records: list[Record], model: str) -> list[Record]:
    return [dataclasses.replace(r, model=model) for r in records]


def test_nothing_compared_exits_2_saying_why(tmp_path: Path, baseline: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # A baseline of other models than the run measured: no verdict, not a pass.
    current = _results(tmp_path / "c.json", _renamed(_suite(np.random.default_rng(30)), "fraud"))
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "-v"]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("gate: NO VERDICT: 2 new, 2 missing")
    assert "performance verdict: nothing compared" in captured.out
    assert "performance verdict: pass" not in captured.out
    assert ("nothing was compared: 2 baseline benchmarks are not in the current run, "
            "2 current benchmarks are not in the baseline") in captured.err
    assert "--save-as" in captured.err  # what to do about it
    assert "0 compared with the baseline" in captured.out
    assert "new: in the current run, not in the baseline:\n  fraud: " in captured.out
    assert "missing: in the baseline, not in the current run:\n  xgboost-synthetic-small: " in captured.out
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "--json"]) == 2
    verdicts = json.loads(capsys.readouterr().out)
    assert verdicts["exit_code"] == 2 and verdicts["nothing_compared"].startswith("nothing was compared")
    assert verdicts["benchmarks"]["compared"] == [] and len(verdicts["benchmarks"]["new"]) == 2


def test_compared_new_and_missing_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(31)
    base = _results(tmp_path / "b.json", _suite(rng) + _renamed(_suite(rng), "churn"))
    cur = _results(tmp_path / "c.json", _suite(rng) + _renamed(_suite(rng), "fraud"))
    assert cli_main(["gate", "--baseline", str(base), "--current", str(cur), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "2 compared with the baseline:\n  xgboost-synthetic-small: 2 rows" in out
    assert ("2 new: in the current run, not in the baseline:\n"
            "  fraud: native b4096, onnx-CPUExecutionProvider-t1 b4096") in out
    assert "2 missing: in the baseline, not in the current run:\n  churn: " in out


def test_markdown_table_for_the_step_summary(tmp_path: Path, baseline: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(11)
    current = _results(tmp_path / "c.json", _suite(rng, onnx_level=3.0) + _renamed(_suite(rng), "fraud"))
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "--format", "markdown"]) == 1
    md = capsys.readouterr().out
    assert md.startswith("### onnxgate gate: ❌ FAIL\n")
    assert "| parity | ✅ pass |" in md and "| performance | ❌ FAIL |" in md
    table = [line for line in md.splitlines() if line.startswith("| REGRESSION")]
    assert table and "xgboost-synthetic-small\\|onnx-CPUExecutionProvider-t1\\|b4096" in table[0]
    header = next(line for line in md.splitlines() if line.startswith("| verdict | benchmark"))
    # Pipes inside keys are escaped, so every row has as many cells as the header.
    assert all(row.replace("\\|", "").count("|") == header.count("|") for row in table)
    assert "<details><summary>2 new: in the current run, not in the baseline</summary>" in md and "- `fraud`:" in md


def test_format_json_is_the_json_flag(tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = _results(tmp_path / "c.json", _suite(np.random.default_rng(11)))
    cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "--json"])
    old = json.loads(capsys.readouterr().out)
    assert cli_main(["gate", "--baseline", str(baseline), "--current", str(current), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == old


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_a_recorded_baseline_is_said_on_stdout_for_the_step_summary(
        fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "baselines"
    folder.mkdir()
    current = _results(tmp_path / "c.json", _suite(np.random.default_rng(32)))
    assert cli_main(["gate", "--baseline", str(folder), "--current", str(current), "--record-missing",
                     "--format", fmt]) == 0
    out = capsys.readouterr().out
    recorded = folder / "test-cpu-2cpu-x86_64.json"
    if fmt == "markdown":
        assert out.startswith("### onnxgate gate: baseline recorded") and f"`{recorded}`" in out
        assert "nothing was gated" in out and "Test CPU" in out
    else:
        assert json.loads(out) == {"exit_code": 0, "recorded_baseline": str(recorded),
                                   "machine": "Test CPU (2 cpus, x86_64)", "gated": False}
