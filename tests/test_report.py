"""The HTML report built from results files alone: what a reader finds in it."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from conversion.errors import InputError, ResultsError
from conversion.report.build import report_from_files
from conversion.report.verdict import crossover, model_verdict
from tests.report_samples import bench_result, latency_rows, parity_cells, run_result


@pytest.fixture
def two_machines(tmp_path: Path) -> list[Path]:
    return [
        run_result(tmp_path / "a1.json", "machineA", "2026-11-01T10:00:00"),
        run_result(tmp_path / "a2.json", "machineA", "2026-11-02T10:00:00", onnx_scale=1.3),
        run_result(tmp_path / "b1.json", "machineB", "2026-11-02T11:00:00", cpu="Other CPU"),
    ]


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_report_has_verdicts_tables_and_embedded_images(tmp_path: Path) -> None:
    src = run_result(tmp_path / "run.json", "machineA", "2026-11-01T10:00:00")
    index = report_from_files([src], tmp_path / "out")
    html = index.read_text()
    for marker in ('class="verdicts"', 'class="manifest"', 'class="parity-matrix"', 'class="latency-table"'):
        assert marker in html
    # Verdict first: the reader's question comes before everything else.
    order = [html.index(m) for m in ("Should I serve this model", 'class="manifest"', 'class="parity-matrix"')]
    assert order == sorted(order)
    assert "crossover" in html.lower()
    images = _images(html)
    assert len(images) >= 4  # two latency plots, the heatmap, cold costs
    assert all(img.startswith(b"\x89PNG\r\n\x1a\n") for img in images)
    # the same PNGs and the JSON are beside the page
    assert len(list((tmp_path / "out").glob("*.png"))) == len(images)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["sources"] == [str(src)]


def test_report_is_self_contained_and_escapes_text(tmp_path: Path) -> None:
    html = report_from_files([run_result(tmp_path / "r.json", "m", "2026-11-01")], tmp_path / "out").read_text()
    # no external resource: every src/href is a data URI, a fragment or a link to an upstream issue
    for attr in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert attr.startswith(("data:", "#", "https://github.com/")), attr
    assert "<link rel=\"stylesheet\"" not in html and "<script src" not in html
    assert "&lt;b&gt;NaN&lt;/b&gt;" in html and "<b>NaN</b>" not in html  # autoescaped reason
    assert "onnxmltools#732" in html  # the wrong upstream cell is an xfail linked to its issue


def test_report_merges_machines_and_shows_history(two_machines: list[Path], tmp_path: Path) -> None:
    html = report_from_files(two_machines, tmp_path / "out").read_text()
    assert html.count('<section class="machine"') == 2
    assert "Machine machineA" in html and "Machine machineB" in html
    assert 'class="history-table"' in html  # machine A has two runs
    assert html.count('class="history-table"') == 1  # machine B has one: no trend
    assert "Other CPU" in html


def test_report_reads_benchmark_results_files(tmp_path: Path) -> None:
    files = [run_result(tmp_path / "run.json", "machineA", "2026-11-01T10:00:00"),
             bench_result(tmp_path / "bench.json", "machineA", "2026-11-01T11:00:00")]
    html = report_from_files(files, tmp_path / "out").read_text()
    assert "catboost-synthetic-small" in html  # latency from the bench file
    assert 'class="parity-matrix"' in html  # parity from the run file, same machine


@pytest.mark.parametrize("content, message", [("", "empty"), ("{not json", "not valid JSON"),
                                              ('{"schema": "other/9"}', "not an onnxgate results file")])
def test_bad_results_files_are_refused_clearly(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ResultsError, match=message):
        report_from_files([bad], tmp_path / "out")


def test_unwritable_output_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write the report"):
        report_from_files([run_result(tmp_path / "r.json", "m", "2026")], blocker / "sub")


def test_interrupted_write_leaves_no_half_written_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    src = run_result(tmp_path / "r.json", "m", "2026")
    report_from_files([src], out)
    before = (out / "index.html").read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("conversion.atomic.os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        report_from_files([src], out)
    assert (out / "index.html").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_verdict_names_crossover_and_recommendation() -> None:
    v = model_verdict("m", parity_cells("m", "xgboost"), latency_rows("m", "xgboost"))
    assert v["exact"] == "exact" and v["answer"] == "partly"
    assert v["crossover"] is not None and 16 < v["crossover"] < 4096
    recs = {b["batch"]: b["recommended"] for b in v["batches"]}
    assert recs[1].startswith("onnx") and recs[4096] == "native"


def test_verdict_says_no_when_conversion_was_refused() -> None:
    cells = [{"model": "m", "framework": "lightgbm", "path": "onnxgate", "data_kind": "clean", "status": "refused",
              "reason": "linear_tree is not supported"}]
    v = model_verdict("m", cells, [])
    assert v["answer"] == "no" and "linear_tree" in v["exact_text"]


def test_crossover_interpolates_on_log_scale() -> None:
    assert crossover([(1, 2.0), (100, 0.5)]) == pytest.approx(10.0)
    assert crossover([(1, 2.0), (100, 1.5)]) is None


def test_gate_verdict_against_a_baseline_is_in_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conversion.cli import main

    baseline = bench_result(tmp_path / "base.json", "machineA", "2026-11-01T09:00:00")
    current = bench_result(tmp_path / "cur.json", "machineA", "2026-11-02T09:00:00")
    run_file = run_result(tmp_path / "run.json", "machineA", "2026-11-02T08:00:00")
    code = main(["report", str(run_file), str(current), "--baseline", str(baseline), "--output", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Gate verdict against the baseline" in html and "parity pass, performance pass" in html


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise() -> None:
    import io

    from conversion.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain, tty = io.StringIO(), Terminal()
    for stream in (plain, tty):
        progress = Progress(2, "convert", stream=stream)
        progress.step("a")
        progress.step("b")
    assert plain.getvalue().splitlines()[0].startswith("convert 1/2")
    assert "\r" in tty.getvalue() and "[" in tty.getvalue() and tty.getvalue().endswith("\n")
