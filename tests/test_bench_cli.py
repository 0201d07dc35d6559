"""`onnxgate bench` input errors and the benchmark plugin's options (no timing here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conversion.app.main import main as cli_main
from conversion.bench.cases import PROFILES, cases_for, parse_specs
from conversion.bench.runner import SUITES_DIR, run_benchmarks
from conversion.bench.zoo import ZooSpec
from conversion.errors import OnnxGateError, ResultsError

REPO = Path(__file__).resolve().parents[1]


def test_unknown_model_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "--quick", "--models", "xgboost-nodata-small"]) == 2
    assert "FRAMEWORK-DATASET-SIZE" in capsys.readouterr().err


def test_unwritable_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli_main(["bench", "--quick", "--output", str(blocker / "sub")]) == 2
    assert "output folder" in capsys.readouterr().err


def test_unknown_profile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OnnxGateError, match="quick"):
        run_benchmarks("medium", tmp_path)


def test_quick_profile_is_a_subset_of_full() -> None:
    quick = cases_for(PROFILES["quick"], providers=["CPUExecutionProvider"])
    full = cases_for(PROFILES["full"], providers=["CPUExecutionProvider"])
    assert {c.id for c in quick} < {c.id for c in full}
    assert {c.runtime for c in quick} == {"native", "onnx"}
    assert len({c.id for c in full}) == len(full)  # ids are unique, so compare can match them


def test_case_ids_are_readable() -> None:
    (spec,) = parse_specs(["xgboost-synthetic-small"])
    assert spec == ZooSpec("xgboost", "synthetic", "small")
    ids = {c.id for c in cases_for(PROFILES["quick"], providers=["CPUExecutionProvider"], specs=[spec])}
    assert "xgboost-synthetic-small-b256-onnx-cpu-t1" in ids and "xgboost-synthetic-small-b1-native" in ids


def _pytest_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", str(SUITES_DIR / "test_latency.py"),
                           "-c", str(SUITES_DIR / "pytest.ini"), "--collect-only", "-q", *args],
                          cwd=REPO, capture_output=True, text=True, check=False)


def test_plugin_options_select_cases() -> None:
    proc = _pytest_bench("--onnxgate-models", "xgboost-synthetic-small")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    collected = [line for line in proc.stdout.splitlines() if "test_latency[" in line]
    # 3 batch sizes x (the wrapper's call, the fastest native call, ONNX on 1 and 2 threads)
    assert len(collected) == 12 and all("xgboost-synthetic-small" in c for c in collected)


def test_plugin_baseline_needs_benchmark_json(tmp_path: Path) -> None:
    proc = _pytest_bench("--onnxgate-baseline", str(tmp_path / "b.json"))
    assert proc.returncode != 0
    assert "--benchmark-json" in proc.stdout + proc.stderr


def test_empty_results_are_an_error(tmp_path: Path) -> None:
    from conversion.results.benchmark_runs import load_run

    (tmp_path / "r.json").write_text("  \n")
    with pytest.raises(ResultsError, match="empty"):
        load_run(tmp_path / "r.json")


def test_bench_runs_from_another_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's directory with its own benchmarks/ and reports/ packages and a conftest.py needing
    packages onnxgate does not: the installed suite runs anyway, and a relative --output is theirs."""
    (tmp_path / "conftest.py").write_text("import a_package_only_this_project_has\n")
    for package in ("benchmarks", "reports"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("raise ImportError('the user project, not onnxgate')\n")
    monkeypatch.chdir(tmp_path)
    specs = parse_specs(["xgboost-synthetic-small"])
    path = run_benchmarks("quick", "out", specs=specs, extra_args=["-k", "b1-native"])
    assert path.parent == tmp_path / "out" and path.is_file()


@pytest.mark.slow
def test_a_run_whose_every_benchmark_is_skipped_says_so(tmp_path: Path) -> None:
    # CatBoost's categorical zoo model has no ONNX model (CTRs): its ONNX rows alone are all skipped.
    with pytest.raises(ResultsError, match="every selected benchmark was skipped: the SKIPPED lines say why"):
        run_benchmarks("quick", tmp_path, specs=parse_specs(["catboost-categorical-small"]),
                       extra_args=["-k", "onnx"])
    assert not list(tmp_path.glob("*.json"))


def _catboost_cbm(path: Path, **categorical: int) -> Path:
    """A small CatBoost classifier with one integer categorical column, trained on a DataFrame, as .cbm."""
    cb = pytest.importorskip("catboost")
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"city": rng.integers(0, 30, 600), "a": rng.normal(size=600), "b": rng.normal(size=600)})
    y = (frame["city"] % 3 == 0) ^ (frame["a"] > 0)
    cb.CatBoostClassifier(iterations=10, depth=3, thread_count=1, verbose=False, allow_writing_files=False,
                          cat_features=["city"], **categorical).fit(frame, y).save_model(str(path))
    return path


def _bench_model(model: Path, out: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, dict]]:
    import json

    proc = subprocess.run([sys.executable, "-m", "conversion.app.main", "bench", "--quick", "--model", str(model),
                           "--output", str(out)], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text())
    return proc, {b["name"].split("[")[1].rstrip("]"): b for b in results["benchmarks"]}


@pytest.mark.slow
def test_a_catboost_model_with_ctr_categories_gets_its_native_latency_benchmarked(tmp_path: Path) -> None:
    """Its ONNX rows are skipped naming the refusal; its native rows run on integer category labels."""
    model = _catboost_cbm(tmp_path / "shops.cbm")  # 30 cities > one_hot_max_size: CTRs
    proc, rows = _bench_model(model, tmp_path / "out")
    assert set(rows) == {"shops-b1-native", "shops-b256-native", "shops-b4096-native"}
    assert all(r["stats"]["rounds"] > 0 and r["extra_info"]["runtime"] == "native" for r in rows.values())
    both = proc.stdout + proc.stderr
    assert "SKIPPED [6]" in both and "no ONNX model for shops: parity refused" in both and "CTRs" in both


@pytest.mark.slow
def test_a_catboost_one_hot_model_is_benchmarked_native_and_onnx(tmp_path: Path) -> None:
    model = _catboost_cbm(tmp_path / "shops.cbm", one_hot_max_size=64)  # every city one-hot: converted
    _, rows = _bench_model(model, tmp_path / "out")
    assert {"shops-b1-native", "shops-b4096-native", "shops-b1-onnx-cpu-t1", "shops-b4096-onnx-cpu-t1"} <= set(rows)


@pytest.mark.slow
def test_bench_ends_with_one_line_per_model_and_the_results_path(tmp_path: Path) -> None:
    """No pytest-benchmark tables and no temp file name: per model its ratios to the fastest native call,
    then the path."""
    proc = subprocess.run(
        [sys.executable, "-m", "conversion.app.main", "bench", "--quick", "--models",
         "xgboost-synthetic-small,lightgbm-synthetic-small", "--output", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out_lines = proc.stdout.strip().splitlines()
    assert out_lines[-1].endswith(".json") and Path(out_lines[-1]).is_file()
    both = proc.stdout + proc.stderr
    assert ".onnxgate-tmp" not in both and "Name (time in" not in both
    per_model = [line for line in proc.stderr.splitlines() if "ONNX/fastest native CPU time" in line]
    assert [line.split(":")[0] for line in per_model] == ["lightgbm-synthetic-small", "xgboost-synthetic-small"]
    assert all(" at 1 row" in line and " at 256" in line for line in per_model)
    # the yardstick is the call a performance-minded user makes, named beside each figure
    assert "(native Booster.predict)" in per_model[0] and "(native Booster.inplace_predict)" in per_model[1]


@pytest.mark.slow
def test_a_fresh_results_file_gates_against_a_committed_baseline(tmp_path: Path) -> None:
    """The baselines were written before the row was one LatencyInfo: a file of today's writer is judged
    against one row for row, and the report reads the verdict back from its JSON."""
    import json

    from conversion.report.build import report_from_files
    from conversion.results.benchmark_runs import load_run
    from conversion.results.gate.judge import gate_files

    baseline = REPO / "benchmarks" / "baselines" / "amd-epyc-2cpu-x86_64.json"
    fresh = run_benchmarks("quick", tmp_path, specs=parse_specs(["xgboost-synthetic-small"]),
                           extra_args=["-k", "b1-native or b1-onnx-cpu-t1"])
    # the same benchmarks have the same keys (the baselines predate the fastest native call's rows)
    fresh_keys = {r.key for r in load_run(fresh).records if not r.key.fast}
    assert {str(k) for k in fresh_keys} == {"xgboost-synthetic-small|native|b1",
                                            "xgboost-synthetic-small|onnx-CPUExecutionProvider-t1|b1"}
    assert fresh_keys <= {r.key for r in load_run(baseline).records}
    outcome = gate_files(baseline, fresh, force=True)  # force: this machine need not be the baseline's
    # (on a loaded machine the native rows are left unjudged: machine_state_change; the ONNX row is judged)
    assert "xgboost-synthetic-small|onnx-CPUExecutionProvider-t1|b1" in {str(k) for k in outcome.benchmarks["compared"]}
    row = json.loads(fresh.read_text())["benchmarks"][0]["extra_info"]
    assert row["onnxgate_kind"] == "latency" and row["ratio_rounds"] and row["method"]
    gate = {"passed": outcome.exit_code == 0, "summary": "", "data": json.loads(json.dumps(outcome.to_dict()))}
    html = report_from_files([fresh], tmp_path / "report", gate=gate).read_text()
    assert f"{len(outcome.benchmarks['compared'])} benchmarks compared" in html
