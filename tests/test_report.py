"""The HTML report built from results files alone: what a reader finds in it."""

from __future__ import annotations

import base64
import dataclasses
import io
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
    for marker in ('class="verdicts', 'class="manifest"', 'class="parity-matrix', 'class="latency-table"'):
        assert marker in html
    # Verdict first: the reader's question comes before everything else, the details after.
    order = [html.index(m) for m in ("Should I serve this model", 'class="parity-matrix', 'class="manifest"')]
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
    assert 'class="history-table' in html  # machine A has two runs
    assert html.count('class="history-table') == 1  # machine B has one: no trend
    assert "Other CPU" in html


def test_report_reads_benchmark_results_files(tmp_path: Path) -> None:
    files = [run_result(tmp_path / "run.json", "machineA", "2026-11-01T10:00:00"),
             bench_result(tmp_path / "bench.json", "machineA", "2026-11-01T11:00:00")]
    html = report_from_files(files, tmp_path / "out").read_text()
    assert "catboost-synthetic-small" in html  # latency from the bench file
    assert 'class="parity-matrix' in html  # parity from the run file, same machine


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
    assert not [p for p in out.iterdir() if p.name.startswith(".onnxgate-tmp-")]


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


def test_bench_results_alone_carry_their_parity_into_the_verdict() -> None:
    # Issue 27: a report of bench files said "NO: serve the native model" of every exact model,
    # 31.5x faster, because `onnxgate check`'s cells never reach them; the rows carry their own check.
    rows = latency_rows("m", "xgboost")
    v = model_verdict("m", [], rows)
    assert v["exact"] == "exact" and v["answer"] == "partly" and not v["headline"].startswith("No")
    recs = {b["batch"]: b["recommended"] for b in v["batches"]}
    assert recs[1].startswith("onnx") and recs[4096] == "native"  # as the speed column says


def test_unknown_parity_says_how_to_check_it_not_serve_native() -> None:
    import dataclasses

    rows = [dataclasses.replace(r, parity="unknown") for r in latency_rows("m", "xgboost")]  # an older file
    v = model_verdict("m", [], rows)
    assert v["answer"] == "unknown" and v["headline"].startswith("Parity not checked")
    assert "onnxgate check" in v["exact_text"] and "native model" not in v["headline"]
    recs = {b["batch"]: b["recommended"] for b in v["batches"]}
    # The serve-with column agrees with the speed column, with the check still to do.
    assert recs[1].startswith("onnx") and recs[1].endswith("(check parity)") and recs[4096] == "native"
    failed = [dataclasses.replace(r, parity="failed", parity_detail="3 of 40 rows differ") for r in rows]
    assert model_verdict("m", [], failed)["exact"] == "wrong"


def test_crossover_interpolates_on_log_scale() -> None:
    assert crossover([(1, 2.0), (100, 0.5)]) == pytest.approx(10.0)
    assert crossover([(1, 2.0), (100, 1.5)]) is None


def test_gate_verdict_against_a_baseline_is_in_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conversion.app.main import main

    baseline = bench_result(tmp_path / "base.json", "machineA", "2026-11-01T09:00:00")
    current = bench_result(tmp_path / "cur.json", "machineA", "2026-11-02T09:00:00")
    run_file = run_result(tmp_path / "run.json", "machineA", "2026-11-02T08:00:00")
    code = main(["report", str(run_file), str(current), "--baseline", str(baseline), "--output", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Gate verdict against the baseline" in html and "parity pass, performance pass" in html
    # The verdict leads the page (issue 27: it sat below the first screen), before the model table.
    assert html.index('id="banner"') < html.index("Should I serve this model through ONNX?")
    assert "gate: PASS" in html[html.index('id="banner"'):html.index("Should I serve")]


def test_a_failed_gate_banner_names_the_models_and_the_accept_command() -> None:
    from conversion.report.gate_view import GateVerdict, gate_block

    data = {"baseline": {"path": "benchmarks/baselines/x.json"}, "current": {"path": "results/bench-quick-1.json"},
            "changes": [{"key": key, "verdict": "regression", "metric": "onnx/native", "effect": 1.17}
                        for key in ("churn|onnx-CPUExecutionProvider-t1|b1", "churn|onnx-CPUExecutionProvider-t1|b256",
                                    "fraud|native|b1")],
            "parity": {"passed": True}, "performance": {"passed": False, "failures": ["churn: +117%"]}}
    block = gate_block(GateVerdict.from_dict({"passed": False, "data": data}))
    assert block["regressed_models"] == ["churn", "fraud"]
    assert block["accept"] == ('onnxgate gate --baseline benchmarks/baselines/x.json --current '
                               'results/bench-quick-1.json --accept --why "..."')


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise() -> None:
    import io

    from conversion.app.progress import Progress

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


def _history_rows(html: str) -> dict[str, list[str]]:
    """Model -> the per-batch p50 cell of each of its history rows."""
    table = html[html.index('class="history-table'):]
    table = table[:table.index("</table>")]
    rows: dict[str, list[str]] = {}
    for model, cells in re.findall(r'<tr data-model="([^"]+)">(.*?)</tr>', table, flags=re.S):
        rows.setdefault(model, []).append(re.search(r'<td data-label="p50 per batch">(.*?)</td>', cells, re.S).group(1))
    return rows


def test_report_merges_every_model_of_every_file(tmp_path: Path) -> None:
    # Three CI jobs, one model each (plus a bench file): every model is in the report, not only the newest file's.
    files = [run_result(tmp_path / "a.json", "machineA", "2026-11-01T10:00:00", models=(("fraud", "xgboost"),)),
             run_result(tmp_path / "b.json", "machineA", "2026-11-01T11:00:00", models=(("churn", "lightgbm"),)),
             bench_result(tmp_path / "c.json", "machineA", "2026-11-01T12:00:00")]
    html = report_from_files(files, tmp_path / "out").read_text()
    verdicts = set(re.findall(r'<tr class="verdict [a-z]+" data-model="([^"]+)"', html))
    assert verdicts == {"fraud", "churn", "catboost-synthetic-small"}
    assert 'class="parity-matrix' in html and ">fraud<" in html and ">churn<" in html
    for model in ("fraud", "churn", "catboost-synthetic-small"):  # each one's latency rows are tabled
        assert re.search(rf'class="latency-table".*?{model}', html, flags=re.S), model


def test_newer_file_of_the_same_model_replaces_its_rows(tmp_path: Path) -> None:
    def answer(files: list[Path], out: str) -> str:
        html = report_from_files(files, tmp_path / out).read_text()
        return re.search(r'<tr class="verdict ([a-z]+)" data-model="fraud"', html).group(1)

    old = run_result(tmp_path / "old.json", "m", "2026-11-01T10:00:00", models=(("fraud", "xgboost"),),
                     onnx_scale=20.0)  # ONNX slower at every batch size
    new = run_result(tmp_path / "new.json", "m", "2026-11-02T10:00:00", models=(("fraud", "xgboost"),))
    other = run_result(tmp_path / "other.json", "m", "2026-11-03T10:00:00", models=(("churn", "xgboost"),),
                       onnx_scale=20.0)
    assert answer([old], "a") == "no"
    assert answer([old, new, other], "b") == "partly"  # the newer fraud file, though a file of churn is newest


def test_history_is_per_model_never_averaged(tmp_path: Path) -> None:
    pair = (("fraud", "xgboost"), ("churn", "lightgbm"))
    files = [run_result(tmp_path / "r1.json", "m", "2026-11-01T10:00:00", models=pair,
                        scales={"fraud": 1.0, "churn": 2.0}),
             run_result(tmp_path / "r2.json", "m", "2026-11-02T10:00:00", models=pair,
                        scales={"fraud": 1.0, "churn": 4.0}),
             run_result(tmp_path / "r3.json", "m", "2026-11-03T10:00:00", models=(("solo", "xgboost"),))]
    html = report_from_files(files, tmp_path / "out").read_text()
    rows = _history_rows(html)
    assert set(rows) == {"fraud", "churn"}  # solo has one run: no trend to show
    # batch 1: native 202 us / ONNX on one thread, as the native row runs (issue 30), 24 us * scale,
    # absolute times beside the speedup
    assert [r.split("<br>")[0] for r in rows["fraud"]] == ["1: 0.202 / 0.024 ms (8.42×)"] * 2
    assert [r.split("<br>")[0] for r in rows["churn"]] == ["1: 0.202 / 0.048 ms (4.21×)",
                                                          "1: 0.202 / 0.096 ms (2.10×)"]
    assert "7.44×" not in html  # the geometric mean of fraud and churn in the first run
    assert "geo-mean" not in html


def _gate(tmp_path: Path, **extra: object) -> dict:
    """A real gate verdict (two benchmark files through the gate) plus the keys the baseline tools add."""
    from conversion.results.gate.summary import gate_summary

    base = bench_result(tmp_path / "base.json", "machineA", "2026-11-01T09:00:00")
    doc = json.loads(base.read_text())
    # the current run measured a second model and dropped the largest batch: new and missing rows
    twin = [{**b, "name": b["name"].replace("catboost-", "twin-"),
             "extra_info": {**b["extra_info"], "model": "twin-synthetic-small"}} for b in doc["benchmarks"]]
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["extra_info"]["batch_size"] != 4096] + twin
    doc["datetime"] = "2026-11-02T09:00:00"
    current = tmp_path / "cur.json"
    current.write_text(json.dumps(doc))
    gate = gate_summary(base, current)
    gate["data"].update(extra)
    return gate


def test_gate_counts_are_the_same_benchmarks_in_summary_listing_and_report(tmp_path: Path) -> None:
    gate = _gate(tmp_path)
    groups = gate["data"]["benchmarks"]
    assert len(groups["new"]) == 12 and len(groups["missing"]) == 3  # (native + 2 ONNX) x batches
    # the console's summary, the text's tally line and the text's listing count benchmarks alike
    assert f"{len(groups['new'])} new" in gate["summary"] and f"{len(groups['missing'])} missing" in gate["summary"]
    assert f"{len(groups['new'])} new" in gate["text"].splitlines()[
        next(i for i, line in enumerate(gate["text"].splitlines()) if line.startswith("benchmarks: "))]
    assert f"{len(groups['new'])} new: in the current run" in gate["text"]
    html = report_from_files([bench_result(tmp_path / "b.json", "machineA", "2026-11-02T10:00:00")],
                             tmp_path / "out", gate=gate).read_text()
    assert f"{len(groups['compared'])} benchmarks compared (" in html
    assert f", {len(groups['new'])} new, {len(groups['missing'])} missing" in html


def test_verdict_table_shows_each_models_gate_verdict_explanation_and_baseline_history(tmp_path: Path) -> None:
    gate = _gate(tmp_path, explanations={"run": ["onnxruntime 1.22.0 -> 1.23.0"],
                                         "models": {"catboost-synthetic-small": ["ONNX 88 KiB -> 264 KiB"]}},
                 baseline_history=[{"accepted": "2026-11-01T09:00:00", "why": "retrained with 300 trees",
                                    "replaced": {"path": "old.json", "commit": "abc"}}])
    files = [bench_result(tmp_path / "b.json", "machineA", "2026-11-02T10:00:00")]
    html = report_from_files(files, tmp_path / "out", gate=gate).read_text()
    row = html[html.index('data-model="catboost-synthetic-small"'):]
    row = row[:row.index("</tbody>")]  # the only model of the table
    assert "g-pass" in row and "ONNX 88 KiB -&gt; 264 KiB" in row  # the model's gate verdict, explained
    assert html.index('class="verdicts') < html.index('id="gate"') < html.index('id="latency"')
    assert "What changed" in html and "onnxruntime 1.22.0 -&gt; 1.23.0" in html
    history = html[html.index('class="baseline-history'):]
    assert "retrained with 300 trees" in history and "path old.json, commit abc" in history


def test_a_skipped_gate_is_said_once_and_recommends_the_side_by_side_gate(tmp_path: Path) -> None:
    why = "gate skipped: baselines has no baseline for this machine type (AMD EPYC, 2 cores); it holds nothing"
    gate = _gate(tmp_path, gate_skipped=why)
    files = [bench_result(tmp_path / "b.json", "machineA", "2026-11-02T10:00:00"),
             run_result(tmp_path / "r.json", "machineA", "2026-11-02T11:00:00")]  # three models
    html = report_from_files(files, tmp_path / "out", gate=gate).read_text()
    rows = html[html.index('class="verdicts'):html.index("</tbody>", html.index('class="verdicts'))]
    assert rows.count("g-skipped") == 3 and why not in rows  # each model says "not gated", none repeats why
    assert html.count(why) == 1  # once, in the gate's section
    banner = re.sub(r"<[^>]+>", "", html[html.index('id="banner"'):html.index("</div>", html.index('id="banner"'))])
    assert "onnxgate gate --against origin/main" in banner and "record-missing" not in banner
    assert "gate: not gated: no baseline for this machine type" in banner  # no stray space before the colon
    assert re.search(r"\sdetails$", banner.strip())  # the link is its own word, not glued to the sentence


def test_nan_rows_a_pipeline_refuses_read_the_same_in_check_and_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import skops.io
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from conversion.app.main import main
    from conversion.parity.matrix import NAN_NOT_CHECKED, Subject, attempt_conversion
    from conversion.parity.matrix import parity_cells as matrix_cells

    X, y = make_classification(n_samples=300, n_features=6, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    skops.io.dump(model, tmp_path / "score.skops")
    np.save(tmp_path / "rows.npy", X[:100])
    assert main(["check", str(tmp_path / "score.skops"), "--data", str(tmp_path / "rows.npy")]) == 0
    assert f"nan rows: {NAN_NOT_CHECKED}" in capsys.readouterr().out
    subject = Subject("score", "sklearn", "user data", "classification", model, X[:100])
    cells = [c for path in ("onnxgate", "upstream") for c in matrix_cells(subject, attempt_conversion(subject, path))]
    by = {(c["path"], c["data_kind"]): c for c in cells}
    assert all(by[(p, "nan")]["status"] == "unchecked" and by[(p, "nan")]["reason"] == NAN_NOT_CHECKED
               for p in ("onnxgate", "upstream"))
    # skl2onnx's graph is float32: judged on float32 rows, not "wrong" for refusing to round float64 ones
    assert by[("upstream", "clean")]["status"] == "exact", by[("upstream", "clean")]
    verdict = model_verdict("score", cells, [])
    assert verdict["exact"] == "exact" and f"NaN rows {NAN_NOT_CHECKED}." in verdict["exact_text"]


def test_instruction_counts_sit_beside_p50_in_the_latency_tables(tmp_path: Path) -> None:
    # Issue 27: the report never showed instruction counts, the gate's main measure.
    src = run_result(tmp_path / "run.json", "machineA", "2026-11-01T10:00:00")
    doc = json.loads(src.read_text())
    for row in doc["latency"]:
        row["counts"] = {"engine" if row["runtime"] == "onnx" else "native": {"instructions": 1234567.0}}
    src.write_text(json.dumps(doc))
    html = report_from_files([src], tmp_path / "out").read_text()
    table = html[html.index('class="latency-table"'):]
    assert "<th>instructions/call</th>" in table and "1,234,567" in table
    plain = report_from_files([run_result(tmp_path / "r2.json", "machineA", "2026-11-01")], tmp_path / "o2")
    assert "instructions/call" not in plain.read_text()  # no column of dashes for a run without --counts


# Issue 27: the report leads with pictures a reader takes in at a glance, legible on a phone.

PHONE_COLUMN = 390 - 22  # CSS px an image gets on a 390 px phone: the page's side padding (.7rem each side)


def _verdict_row(html: str, model: str) -> str:
    start = html.index('<tr class="verdict', html.index(f'data-model="{model}"') - 40)
    return html[start:html.index('data-label="serve with"', start)]


def test_each_benchmarked_model_has_its_speed_chart_with_the_paragraph_folded(tmp_path: Path) -> None:
    src = run_result(tmp_path / "run.json", "machineA", "2026-11-01T10:00:00")
    doc = json.loads(src.read_text())
    doc["models"].append({**doc["models"][0], "name": "xgboost-synthetic-large"})  # converted, not timed
    src.write_text(json.dumps(doc))
    html = report_from_files([src], tmp_path / "out").read_text()
    for model in ("xgboost-synthetic-small", "lightgbm-synthetic-small"):
        speed = _verdict_row(html, model)
        speed = speed[speed.index('data-label="speed"'):]
        chart = re.search(r'<img class="speed-chart" src="data:image/png;base64,([^"]+)"', speed)
        assert chart and base64.b64decode(chart.group(1)).startswith(b"\x89PNG"), model
        # the paragraph is still there, folded under the chart
        assert speed.index("<img") < speed.index("<details>") < speed.index("ONNX is faster at batch")
        assert (tmp_path / "out" / f"speed-{model}-machineA.png").exists()
    unmeasured = _verdict_row(html, "xgboost-synthetic-large")
    assert "speed-chart" not in unmeasured
    assert "this run&#39;s quick profile does not time this model" in unmeasured
    # plain text: no markdown backticks in HTML
    assert "onnxgate bench --models xgboost-synthetic-large" in unmeasured and "`" not in unmeasured


def test_the_heatmap_text_is_legible_on_a_phone() -> None:
    from conversion.report import plots

    # the full profile's batch sizes and a zoo's longest names: the widest heatmap the report draws
    models = [f"{f}-{d}-{s}" for f in ("xgboost", "lightgbm", "catboost", "sklearn-randomforest")
              for d in ("synthetic", "higgs-categorical") for s in ("small", "large")]
    rows = [r for i, m in enumerate(models) for r in latency_rows(m, "xgboost", onnx_scale=0.5 + i / 8)]
    rows = [dataclasses.replace(r, batch_size=b) for r in rows for b in (r.batch_size, r.batch_size * 16 + 1)]
    width, height = plots.png_size(plots.speedup_heatmap(rows))
    scale = min(1.0, PHONE_COLUMN / width)
    text_px = plots.HEATMAP_PT * plots.DPI / 72 * scale
    assert text_px >= 11, f"{width} px wide: its {plots.HEATMAP_PT} pt text is {text_px:.1f} px on a phone"
    assert height / len(models) * scale >= 2 * 11  # each row holds a line of that text with room around it


def _history_run(path: Path, created: str, trees: int) -> Path:
    src = run_result(path, "machineA", created)
    doc = json.loads(src.read_text())
    for row in doc["latency"]:
        row["model_facts"] = {"trees": trees}
    src.write_text(json.dumps(doc))
    return src


def _has_colour(png: bytes, hex_colour: str) -> bool:
    from PIL import Image

    rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return rgb in {c for _, c in Image.open(io.BytesIO(png)).convert("RGB").getcolors(1 << 20)}


def test_history_plots_mark_the_retrain_and_the_accept(tmp_path: Path) -> None:
    from conversion.report.plots import MARKER_COLOURS

    files = [_history_run(tmp_path / "a.json", "2026-11-01T10:00:00+00:00", 40),
             _history_run(tmp_path / "b.json", "2026-11-02T10:00:00+00:00", 120)]
    accepted = {"replaced": "2026-11-02T11:00:00+00:00", "why": "retrained with 3x the trees", "recorded": "x"}
    html = report_from_files(files, tmp_path / "out", gate=_gate(tmp_path, baseline_history=[accepted])).read_text()
    model = "xgboost-synthetic-small"
    caption = re.search(rf"<figcaption>{model}: p50 per path[^<]*", html).group(0)
    assert "marked: changed: 40 → 120 trees" in caption and "marked: accepted: retrained with 3x the trees" in caption
    png = (tmp_path / "out" / f"history-{model}-machineA.png").read_bytes()
    assert _has_colour(png, MARKER_COLOURS["accept"]) and _has_colour(png, MARKER_COLOURS["retrain"])
    # no accept in the baseline's history and the same model in both files: no marker drawn
    plain = [_history_run(tmp_path / "c.json", "2026-11-01T10:00:00+00:00", 40),
             _history_run(tmp_path / "d.json", "2026-11-02T10:00:00+00:00", 40)]
    html = report_from_files(plain, tmp_path / "plain").read_text()
    assert "marked:" not in html
    png = (tmp_path / "plain" / f"history-{model}-machineA.png").read_bytes()
    assert not _has_colour(png, MARKER_COLOURS["accept"]) and not _has_colour(png, MARKER_COLOURS["retrain"])


def test_latency_plot_value_labels_do_not_collide() -> None:
    """The values that collided in the issue (0.0273 and 0.0363 ms at one row, 8.76 and 16.8 ms at 4096
    rows, ONNX faster at one end and slower at the other): every label in its own box, none under the legend."""
    import itertools

    import matplotlib.pyplot as plt

    from conversion.report import plots

    p50 = {1: (2.73e-5, 3.63e-5), 256: (2.0e-4, 1.1e-3), 4096: (16.8e-3, 8.76e-3)}  # (ONNX, native) seconds
    rows = [dataclasses.replace(r, p50=p50[r.batch_size][r.runtime == "native"])
            for r in latency_rows("m", "xgboost") if r.batch_size in p50 and r.threads in (None, 1)]
    with plt.rc_context(plots.STYLE):
        fig = plots.latency_figure("m", rows)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        texts = fig.axes[0].texts
        assert {"0.0273", "0.0363", "8.76", "16.8"} <= {t.get_text() for t in texts}
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
        legend = fig.legends[0].get_window_extent(renderer)
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
            assert not box_a.overlaps(box_b), f"the labels {a!r} and {b!r} overlap"
        assert not [a for a, box in boxes if box.overlaps(legend)], "a label lies under the legend"
    finally:
        plt.close(fig)
