"""One row schema: the benchmark child's LatencyInfo read back by field name, a key that is a value, and
a gate verdict that reads back from its JSON as the same typed outcome."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conversion.results.benchmark_runs import load_run
from conversion.results.gate.judge import gate_files
from conversion.results.gate.outcome import GateOutcome
from conversion.results.gate.table import regression_lines, render_outcome
from conversion.results.latency_info import LatencyInfo, RowKey
from tests.test_gate import _results, _suite

BASELINES = Path(__file__).resolve().parents[1] / "benchmarks" / "baselines"


@pytest.mark.parametrize("text", [
    "xgboost-synthetic-small|native|b1",
    "fraud|native-t2|b256",
    "lightgbm-synthetic-small|native-fast|b1",
    "lightgbm-synthetic-small|native-fast-t2|b4096",
    "churn|onnx-CPUExecutionProvider-t1|b32",
    "churn|peer-lleaves-t1|b1",
    "a|model|with|pipes|onnx-CPUExecutionProvider-t2|b16",
])
def test_a_key_reads_back_as_the_same_key(text: str) -> None:
    key = RowKey.parse(text)
    assert str(key) == text
    assert RowKey.parse(str(key)) == key


@pytest.mark.parametrize("text", ["churn", "churn|onnx-CPUExecutionProvider-t1", "churn|native|32", "|native|b1"])
def test_a_string_that_is_no_key_is_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="is not a benchmark key"):
        RowKey.parse(text)


@pytest.mark.parametrize("baseline", sorted(BASELINES.glob("*.json")), ids=lambda p: p.stem)
def test_every_committed_baselines_row_keeps_its_key(baseline: Path) -> None:
    """Baselines, accept histories and gate JSON hold keys as text: each row's text names that row again."""
    records = load_run(baseline).records
    assert records
    keys = [r.key for r in records]
    assert len(set(keys)) == len(keys)
    assert all(RowKey.parse(str(k)) == k for k in keys)


def test_a_row_written_by_the_child_reads_back_field_for_field() -> None:
    info = LatencyInfo(framework="xgboost", model="m", size="small", dataset="synthetic", batch_size=32,
                       runtime="onnx", provider="CPUExecutionProvider", threads=1, method="predict_proba",
                       parity="passed", parity_detail="", conversion_s=0.1, onnx_bytes=1234, session_s=0.01,
                       first_call_s=None, peak_rss_mb=80.5, ratio_kind="onnx/native", ratio_rounds=(0.5, 0.6),
                       ref_ratio_rounds=(1.0, 1.1), counts={"engine": {"instructions": 1e5}},
                       op_us={"TreeEnsemble": 3.0}, model_facts={"trees": 10})
    written = json.loads(json.dumps(info.as_extra_info()))  # what pytest-benchmark's JSON keeps
    assert written["onnxgate_kind"] == "latency"
    assert LatencyInfo.from_extra_info(written) == info


def test_a_gate_verdict_reads_back_from_its_json_as_the_same_outcome(tmp_path: Path) -> None:
    """The report rebuilt from files alone says what the gate said: the same groups, lines and table."""
    base = _results(tmp_path / "base.json", _suite(np.random.default_rng(10)))
    slow = _results(tmp_path / "cur.json", _suite(np.random.default_rng(11), onnx_level=3.0))
    outcome = gate_files(base, slow)
    assert outcome.regressed
    again = GateOutcome.from_dict(json.loads(json.dumps(outcome.to_dict())))
    assert again.benchmarks == outcome.benchmarks and again.exit_code == outcome.exit_code == 1
    assert regression_lines(again) == regression_lines(outcome)
    table = render_outcome(outcome, all_rows=True)
    assert render_outcome(again, all_rows=True) == table.replace(str(base), str(again.baseline.path))
    assert again.to_dict()["changes"] == outcome.to_dict()["changes"]


def test_a_run_file_whose_gate_verdict_is_damaged_is_refused_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conversion.cli import main
    from tests.report_samples import run_result

    path = run_result(tmp_path / "run.json", "machineA", "2026-11-02T08:00:00")
    doc = json.loads(path.read_text())
    doc["gate"] = {"passed": False, "data": {"changes": [{"key": "churn onnx b1", "verdict": "regression"}]}}
    path.write_text(json.dumps(doc))
    assert main(["report", str(path), "--output", str(tmp_path / "out")]) == 2
    assert "the gate verdict in the results is damaged" in capsys.readouterr().err
