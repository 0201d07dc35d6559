"""`gate --current` as the docs type it: a folder of results files on the second and tenth run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conversion.app.main import main
from tests.report_samples import bench_result


def test_a_results_folder_gates_its_newest_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = bench_result(tmp_path / "base.json", "m1", "2026-01-01T00:00:00")
    results = tmp_path / "results"
    results.mkdir()
    # The first run's file was cut short (the gate would refuse it); the second run's is whole.
    old = results / "bench-quick-20260101T000000Z.json"
    old.write_text("{}")
    new = bench_result(results / "bench-quick-20260102T000000Z.json", "m1", "2026-01-02T00:00:00")
    os.utime(old, (1_000_000, 1_000_000))
    os.utime(new, (2_000_000, 2_000_000))
    code = main(["gate", "--baseline", str(baseline), "--current", str(results)])
    out, err = capsys.readouterr()
    assert code == 0, out + err


def test_an_empty_folder_says_how_to_fill_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = bench_result(tmp_path / "base.json", "m1", "2026-01-01T00:00:00")
    (tmp_path / "results").mkdir()
    assert main(["gate", "--baseline", str(baseline), "--current", str(tmp_path / "results")]) == 2
    assert "holds no results file" in capsys.readouterr().err


def test_a_csv_given_as_results_is_named_for_what_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = bench_result(tmp_path / "base.json", "m1", "2026-01-01T00:00:00")
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c\n1,2,3\n")
    assert main(["gate", "--baseline", str(baseline), "--current", str(rows)]) == 2
    err = capsys.readouterr().err
    assert "not a results file (CSV?)" in err and "truncated" not in err
