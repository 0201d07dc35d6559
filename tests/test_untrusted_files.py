"""Untrusted files: a .skops file whose object tree calls code is refused at every entry point
(and the models onnxgate converts still load from .skops without asking, with the same
fingerprint); a damaged or crafted results file is exit 2 naming its field, never a
traceback, a pass, a link to ``javascript:`` or a file written outside the output folder."""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from conversion import ModelFileError
from conversion.app.main import main
from conversion.converter.frameworks import adapter_named

from .cases.sklearn import CASES
from .report_samples import run_result
from .untrusted_files import TYPE_CONFUSED, hostile_results, malicious_skops

needs_skops = pytest.mark.skipif(importlib.util.find_spec("skops") is None, reason="skops is not installed")
REPO = Path(__file__).resolve().parents[1]
VALID = REPO / "benchmarks" / "baselines" / "amd-epyc-2cpu-x86_64.json"


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("skops")
    marker = tmp_path / "marker"
    return malicious_skops(tmp_path / "model.skops", marker), marker


def test_the_payload_is_real_when_its_types_are_trusted(evil: tuple[Path, Path]) -> None:
    """The file is a working exploit: trusting everything skops lists runs the payload."""
    import skops.io as sio

    path, marker = evil
    sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert marker.exists()


def test_load_native_refuses_it_naming_the_type_and_the_way_out(evil: tuple[Path, Path]) -> None:
    path, marker = evil
    with pytest.raises(ModelFileError) as exc:
        adapter_named("sklearn").load_native(path)
    message = str(exc.value)
    assert "numpy.testing._private.utils.runstring" in message
    assert "allow_pickle=True" in message and "--trust-pickle" in message and "trusted=" in message
    assert not marker.exists()


@pytest.mark.parametrize("argv", [
    ["convert", "{model}", "--output", "{tmp}/m.onnx"],
    ["check", "{model}"],
    ["run", "--model", "{model}", "--no-bench", "--no-upstream", "--output", "{tmp}/report"],
])
def test_cli_refuses_it(argv: list[str], evil: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path, marker = evil
    code = main([a.format(model=path, tmp=path.parent) for a in argv] + ["--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "runstring" in json.loads(out)["error"] and "--trust-pickle" in err and "Traceback" not in err
    assert not marker.exists()
    assert not (path.parent / "m.onnx").exists()


def test_trust_pickle_is_the_explicit_way_in(evil: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """After inspection a user may trust the file; then, as with a pickle, its code runs."""
    path, marker = evil
    assert main(["convert", str(path), "--trust-pickle", "--output", str(path.parent / "m.onnx")]) == 0
    assert marker.exists()


def _holds_callables(case) -> bool:
    # HistGradientBoosting with categorical_features keeps its encoder's validator as
    # functools.partial(check_array, ...): a callable, which onnxgate never trusts by itself.
    return "categorical" in case.id and "histgradientboosting" in case.id


@needs_skops
@pytest.mark.parametrize("case", [c for c in CASES if c.refused is None and not _holds_callables(c)], ids=str)
def test_every_convertible_sklearn_model_loads_from_skops_untouched(case, tmp_path: Path) -> None:
    import skops.io as sio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the small MLPs
        model, X = case.fit()
    sio.dump(model, tmp_path / "m.skops")
    adapter = adapter_named("sklearn")
    loaded = adapter.load_native(tmp_path / "m.skops")
    method = "predict_proba" if hasattr(model, "predict_proba") else "predict"
    got, want = getattr(loaded, method)(X[:50]), getattr(model, method)(X[:50])
    # a multi-output classifier's predict_proba: one array per output, of different widths
    for g, w in zip(*((o if isinstance(o, list) else [o]) for o in (got, want)), strict=True):
        np.testing.assert_array_equal(g, w)
    # The fingerprint stored in the ONNX metadata names the same model after the round trip,
    # so `onnxgate check model.skops --onnx model.onnx` can tell it from another model.
    assert adapter.fingerprint(loaded) == adapter.fingerprint(model)


@needs_skops
@pytest.mark.parametrize("case", [c for c in CASES if c.refused is None and _holds_callables(c)], ids=str)
def test_a_skops_file_holding_callables_is_refused_with_the_way_in(case, tmp_path: Path) -> None:
    import skops.io as sio

    model, X = case.fit()
    sio.dump(model, tmp_path / "m.skops")
    adapter = adapter_named("sklearn")
    with pytest.raises(ModelFileError, match=r"functools\.partial.*allow_pickle=True"):
        adapter.load_native(tmp_path / "m.skops")
    trusted = sio.load(tmp_path / "m.skops", trusted=sio.get_untrusted_types(file=tmp_path / "m.skops"))
    np.testing.assert_array_equal(adapter.native(trusted, "predict", X[:50]), adapter.native(model, "predict", X[:50]))


# --- results files ---

HOSTILE = [*TYPE_CONFUSED, "not-utf8", "deep", "all-nan", "inf-p50", "bom"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return hostile_results(VALID, tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("side", ["current", "baseline"])
@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_results_file_is_exit_2_naming_what_is_wrong(name: str, side: str, hostile,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path, named = hostile[name]
    files = {"current": VALID, "baseline": VALID, side: path}
    code = main(["gate", "--baseline", str(files["baseline"]), "--current", str(files["current"])])
    err = capsys.readouterr().err
    assert code == 2, f"{name} as --{side}: exit {code}, not the bad-input exit 2"
    assert named in err and str(path) in err, err


@pytest.mark.parametrize("name", ["all-nan", "counts-list", "deep"])
def test_accept_refuses_a_hostile_file_and_keeps_the_baseline(name: str, hostile, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_bytes(VALID.read_bytes())
    code = main(["gate", "--baseline", str(baseline), "--current", str(hostile[name][0]), "--accept"])
    assert code == 2 and hostile[name][1] in capsys.readouterr().err
    assert baseline.read_bytes() == VALID.read_bytes()


def test_accept_writes_strict_json(tmp_path: Path) -> None:
    """A NaN in a field nobody judges is kept as null: strict JSON readers refuse a bare NaN token."""
    doc = json.loads(VALID.read_text(encoding="utf-8"))
    doc["benchmarks"][0]["stats"]["iqr"] = float("nan")
    current = tmp_path / "current.json"
    current.write_text(json.dumps(doc), encoding="utf-8")
    baseline = tmp_path / "baselines" / "b.json"
    assert main(["gate", "--baseline", str(baseline), "--current", str(current), "--accept"]) == 0
    json.loads(baseline.read_text(encoding="utf-8"), parse_constant=lambda token: pytest.fail(f"bare {token}"))


@pytest.mark.parametrize("name", ["inf-p50", "stats-null", "machine-string"])
def test_report_refuses_a_hostile_file(name: str, hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(hostile[name][0]), "--output", str(tmp_path / "report")]) == 2
    assert hostile[name][1] in capsys.readouterr().err


def _crafted_run(tmp_path: Path, **changes) -> Path:
    path = run_result(tmp_path / "in" / "run.json", "a" * 16, "2026-01-01T00:00:00")
    doc = json.loads(path.read_text(encoding="utf-8"))
    for change in changes.values():
        change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_crafted_run_file_cannot_link_to_javascript(tmp_path: Path) -> None:
    def javascript(doc):
        for cell in doc["parity"]:
            if cell.get("issue"):
                cell["issue"]["url"] = "javascript:alert(document.domain)"

    run = _crafted_run(tmp_path, url=javascript)
    assert main(["report", str(run), "--output", str(tmp_path / "report")]) == 0
    html = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "javascript:alert" in html  # shown, as text
    assert 'href="javascript' not in html.replace(" ", "")


def test_a_crafted_machine_id_cannot_write_outside_the_output_folder(tmp_path: Path) -> None:
    def traversal(doc):
        doc["manifest"]["machine_id"] = "/../../x"

    (tmp_path / "out" / "deeper").mkdir(parents=True)
    run = _crafted_run(tmp_path, id=traversal)
    output = tmp_path / "out" / "deeper" / "report"
    assert main(["report", str(run), "--output", str(output)]) == 0
    written = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert written - {run} == {p for p in output.rglob("*") if p.is_file()}, "a file was written outside --output"
    assert any(p.suffix == ".png" for p in written)


def test_markdown_output_escapes_html_from_results_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--why and model names travel in results files: in the step summary they are text, never HTML."""
    doc = json.loads(VALID.read_text(encoding="utf-8"))
    doc["onnxgate_baseline_history"] = [{"why": "<img src=x onerror=alert(1)><h1>✅ pass</h1>", "recorded": "then"}]
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(doc), encoding="utf-8")
    current = json.loads(VALID.read_text(encoding="utf-8"))
    for bench in current["benchmarks"]:
        bench["extra_info"]["model"] = "<details open><summary>✅ pass</summary>"
    cur = tmp_path / "current.json"
    cur.write_text(json.dumps(current), encoding="utf-8")
    main(["gate", "--baseline", str(baseline), "--current", str(cur), "--format", "markdown", "--all"])
    md = capsys.readouterr().out
    assert "&lt;img" in md and "&lt;details open" in md, md[:2000]
    rendered = re.sub(r"`[^`\n]*`", "", md)  # a code span is literal: HTML in it is shown, not rendered
    for tag in ("<img", "<h1", "<details open"):
        assert tag not in rendered, tag
