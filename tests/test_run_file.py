"""run.json's latency rows: the benchmark file's Records by their own names, and old files still read."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from conversion.errors import ResultsError
from conversion.report.build import report_from_files
from conversion.results.run_results import load_run_result
from tests.report_samples import latency_rows, run_result

V1_KEYS = ("model", "framework", "runtime", "provider", "threads", "p50", "p90", "p99", "mean", "rounds", "rows_per_s")


def _as_v1(path: Path, out: Path) -> Path:
    """The same run as `onnxgate run` wrote it before schema 2: 13-key rows with `batch` and `label`."""
    doc = json.loads(path.read_text())
    doc["schema"] = "onnxgate.run/1"
    doc["latency"] = [{**{k: row[k] for k in V1_KEYS}, "provider": row["provider"] or "", "batch": row["batch_size"],
                       "label": "native" if row["runtime"] == "native" else f"onnx CPU {row['threads']}t"}
                      for row in doc["latency"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc))
    return out


def test_run_file_keeps_each_row_by_its_own_names_and_without_the_per_round_ratios(tmp_path: Path) -> None:
    path = run_result(tmp_path / "run.json", "m", "2026-11-01T10:00:00", models=(("fraud", "xgboost"),))
    doc = json.loads(path.read_text())
    assert doc["schema"] == "onnxgate.run/2"
    row = doc["latency"][0]
    assert row["batch_size"] == 1 and row["rounds"] == 20 and row["parity"] == "passed"
    assert not {"batch", "label"} & set(row) and not [k for k in row if k.endswith("ratio_rounds")]
    # Read back, each row is the benchmark's Record again, only its per-round ratios left in the bench file.
    assert load_run_result(path).latency == [replace(r, ratio_rounds=()) for r in latency_rows("fraud", "xgboost")]


def test_an_old_run_file_reads_into_the_same_rows_and_the_same_report(tmp_path: Path) -> None:
    new = run_result(tmp_path / "new" / "run.json", "m", "2026-11-01T10:00:00")
    old = _as_v1(new, tmp_path / "old" / "run.json")
    rows = load_run_result(old).latency
    assert [(r.batch_size, r.label, r.provider) for r in rows[:3]] == [
        (1, "native", None), (1, "onnx CPU 1t", "CPUExecutionProvider"), (1, "onnx CPU 2t", "CPUExecutionProvider")]
    assert [(r.p50, r.rounds) for r in rows] == [(r.p50, r.rounds) for r in load_run_result(new).latency]

    def page(src: Path) -> str:  # the verdicts, tables and plots, without the file's own path and the build time
        html = report_from_files([src], src.parent / "report").read_text()
        return re.sub(r"Generated [^<]* by", "", html.replace(str(src), "run.json"))

    assert page(old) == page(new)


def test_a_run_file_row_missing_a_field_is_refused_by_name(tmp_path: Path) -> None:
    path = run_result(tmp_path / "run.json", "m", "2026-11-01T10:00:00")
    doc = json.loads(path.read_text())
    del doc["latency"][2]["p50"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match=r"run\.json: the latency row .* lacks p50"):
        load_run_result(path)
