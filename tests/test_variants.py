"""Graph variants (issue 20): offline optimized graphs are exact and tied to their onnxruntime
version; INT8 and float16 variants of dense graphs are judged by a stated accuracy delta, never
called exact; tree ensembles have no INT8 path and say so."""

from __future__ import annotations

import json
import logging

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversion import (
    AccuracyTolerance,
    ConversionRefusedError,
    ConvertedModel,
    InferenceEngine,
    InputError,
    ModelFileError,
    accuracy_delta,
    convert,
    load,
)
from conversion.app.main import main
from conversion.converter.offline_graph import OPTIMIZED_FOR
from conversion.converter.variants import LOSSY, make_variant, quantize, to_float16
from conversion.testing import assert_parity, parity_inputs

from .strategies import parity_batches

pytest.importorskip("sklearn")

N_FEATURES = 6


def _data(n: int = 900, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)) * np.array([1.0, 3.0, 0.2, 10.0, 1.0, 50.0]) + 5.0
    y = (X[:, 0] - 5 + 0.3 * (X[:, 1] - 5) + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return X, y


def _dense(kind: str):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _data()
    final = (LogisticRegression(max_iter=1000) if kind == "logistic" else
             MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, max_iter=500, random_state=0))
    return make_pipeline(StandardScaler(), final).fit(X[:600], y[:600]), X, y


@pytest.fixture(scope="module", params=["logistic", "mlp"])
def dense(request):
    return _dense(request.param)


@pytest.fixture(scope="module")
def forest():
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data()
    return RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(X, y), X


def _in_range(X: np.ndarray, dtype: np.dtype):
    """Hypothesis batches of training rows with cells moved to edge values inside the rows' range
    (INT8 scales are fitted to the rows served; a value beyond them is another question)."""
    return parity_batches(X, {}, dtype=dtype, allow_nan=False, allow_inf=False, max_abs=float(np.abs(X).max()))


# -- offline optimized graphs: exact, loaded with optimization off, refused under another onnxruntime --

def test_saved_optimized_graph_records_the_onnxruntime_and_loads_with_optimization_off(dense, tmp_path) -> None:
    model, X, _ = dense
    path = convert(model).save(tmp_path / "opt.onnx", optimized=True)
    loaded = load(path)
    assert loaded.metadata[OPTIMIZED_FOR] == ort.__version__
    engine = InferenceEngine(loaded)
    assert engine.options.graph_optimization == "disable"
    assert_parity(model, loaded, X)


@given(data=st.data())
def test_optimized_graph_is_exact_under_hypothesis(dense, data) -> None:
    model, X, _ = dense
    converted = convert(model)
    optimized = converted.optimized()
    rows = data.draw(parity_inputs(converted, X, allow_nan=False, allow_inf=False))
    assert_parity(model, optimized, rows)


@given(data=st.data())
def test_optimized_tree_graph_is_exact_under_hypothesis(forest, data) -> None:
    model, X = forest
    converted = convert(model)
    assert_parity(model, converted.optimized(), data.draw(parity_inputs(converted, X)))


def test_optimized_graph_of_another_onnxruntime_is_refused(dense, tmp_path) -> None:
    model, _, _ = dense
    optimized = convert(model).optimized()
    foreign = ConvertedModel.from_bytes(optimized.to_bytes())
    foreign.metadata[OPTIMIZED_FOR] = "1.0.0"
    path = foreign.save(tmp_path / "foreign.onnx")
    with pytest.raises(ModelFileError) as info:
        InferenceEngine(path)
    text = str(info.value)
    assert "onnxruntime 1.0.0" in text and ort.__version__ in text and "optimized=True" in text


# -- lossy variants of dense graphs --

@pytest.mark.parametrize("name", LOSSY)
def test_lossy_variant_is_marked_not_exact_and_survives_save_and_load(dense, name, tmp_path) -> None:
    model, X, _ = dense
    variant = make_variant(convert(model, dtype="float32"), name, calibration=X[:300])
    assert variant.metadata["variant"] == name and variant.metadata["exact"] == "false"
    loaded = load(variant.save(tmp_path / f"{name}.onnx"))
    delta = accuracy_delta(model, loaded, X[600:])
    assert delta.variant == name and "(not exact)" in str(delta) and "parity" not in str(delta)


@pytest.mark.parametrize("name", LOSSY)
@given(data=st.data())
def test_stated_accuracy_delta_is_the_measured_one_under_hypothesis(dense, name, data) -> None:
    """The delta reported is the one an independent ONNX Runtime session and the native model give."""
    model, X, _ = dense
    variant = _variant(model, name, X)
    rows = data.draw(_in_range(X, np.dtype(np.float64)))
    delta = accuracy_delta(model, variant, rows)
    assert delta.n_rows == len(rows)
    if not len(rows):
        return
    session = ort.InferenceSession(variant.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, proba = session.run(["predict", "predict_proba"], {"X": rows.astype(np.float32)})
    err = np.abs(proba.astype(np.float64) - model.predict_proba(rows))
    assert delta.max_abs_error == pytest.approx(float(err.max()), rel=1e-12, abs=1e-12)
    assert delta.mean_abs_error == pytest.approx(float(err.mean()), rel=1e-9, abs=1e-12)
    assert delta.label_flips == int(np.sum(labels != model.predict(rows)))


_VARIANTS: dict[tuple[int, str], ConvertedModel] = {}


def _variant(model, name: str, X: np.ndarray) -> ConvertedModel:
    key = (id(model), name)
    if key not in _VARIANTS:
        _VARIANTS[key] = make_variant(convert(model, dtype="float32"), name, calibration=X[:300])
    return _VARIANTS[key]


@pytest.mark.parametrize(("name", "max_abs", "flip_rate"),
                         [("float16", 0.01, 0.01), ("dynamic-int8", 0.15, 0.03), ("static-int8", 0.15, 0.03)])
def test_lossy_variants_stay_close_on_held_out_rows(dense, name, max_abs, flip_rate) -> None:
    model, X, y = dense
    delta = accuracy_delta(model, _variant(model, name, X), X[600:], y[600:],
                           tolerance=AccuracyTolerance(max_abs=max_abs, flip_rate=flip_rate, score_drop=0.03))
    assert delta.passed, str(delta)
    assert delta.score_name == "accuracy" and delta.score_native == pytest.approx(model.score(X[600:], y[600:]))


def test_a_tight_tolerance_fails_and_says_by_how_much(dense) -> None:
    model, X, _ = dense
    delta = accuracy_delta(model, _variant(model, "dynamic-int8", X), X[600:],
                           tolerance=AccuracyTolerance(max_abs=0.0, flip_rate=0.0))
    assert not delta.passed and "OUTSIDE tolerance" in str(delta) and "max abs error" in delta.failures[0]


def test_convert_quantize_gives_an_int8_float32_graph(dense) -> None:
    model, _, _ = dense
    variant = convert(model, quantize="dynamic-int8")
    assert variant.dtype == np.float32 and "MatMulInteger" in {n.op_type for n in variant.onnx.graph.node}


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"quantize": "int4"}, InputError, "allowed: dynamic-int8, static-int8"),
    ({"quantize": "static-int8"}, InputError, "calibration rows"),
    ({"quantize": "dynamic-int8", "dtype": "float64"}, ConversionRefusedError, "float32"),
])
def test_bad_quantize_requests_are_refused_by_name(dense, kwargs, error, words) -> None:
    model, _, _ = dense
    with pytest.raises(error, match=words):
        convert(model, **kwargs)


def test_trees_have_no_int8_or_float16_path_and_say_so(forest) -> None:
    model, _ = forest
    converted = convert(model)
    for make in (lambda: quantize(converted, "dynamic-int8"), lambda: to_float16(converted)):
        with pytest.raises(ConversionRefusedError, match="no INT8 or float16 path for tree ensembles"):
            make()


def test_quantizing_leaves_the_console_and_the_root_logger_alone(dense, caplog, capsys) -> None:
    model, X, _ = dense
    before = list(logging.getLogger().handlers)
    with caplog.at_level(logging.WARNING):
        convert(model, quantize="static-int8", calibration=X[:200])
    assert logging.getLogger().handlers == before
    assert not [r for r in caplog.records if "pre-process" in r.getMessage()]
    assert "pre-process" not in capsys.readouterr().err


# -- the command line --

def test_cli_converts_and_checks_an_int8_variant_against_a_tolerance(tmp_path, capsys) -> None:
    import skops.io as sio

    model, X, _ = _dense("logistic")
    sio.dump(model, tmp_path / "pipe.skops")
    np.save(tmp_path / "rows.npy", X[600:])
    out = tmp_path / "pipe.int8.onnx"
    assert main(["convert", str(tmp_path / "pipe.skops"), "--quantize", "dynamic-int8", "--output", str(out)]) == 0
    assert "not exact" in capsys.readouterr().out
    assert load(out).metadata["variant"] == "dynamic-int8"
    code = main(["check", str(tmp_path / "pipe.skops"), "--onnx", str(out), "--data", str(tmp_path / "rows.npy"),
                 "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["accuracy"]["variant"] == "dynamic-int8" and data["accuracy"]["passed"]
    code = main(["check", str(tmp_path / "pipe.skops"), "--quantize", "static-int8", "--data",
                 str(tmp_path / "rows.npy"), "--max-abs", "0"])
    text = capsys.readouterr().out
    assert code == 1 and "static-int8 (not exact): OUTSIDE tolerance" in text and "calibrated on these rows" in text


def test_cli_saves_an_optimized_graph(tmp_path, capsys) -> None:
    import skops.io as sio

    model, X, _ = _dense("logistic")
    sio.dump(model, tmp_path / "pipe.skops")
    out = tmp_path / "pipe.opt.onnx"
    assert main(["convert", str(tmp_path / "pipe.skops"), "--optimized", "--output", str(out)]) == 0
    assert "optimized offline" in capsys.readouterr().out
    assert load(out).metadata[OPTIMIZED_FOR] == ort.__version__
    assert_parity(model, load(out), X)


@pytest.mark.parametrize("name", LOSSY)
def test_making_a_variant_leaves_the_float32_graph_alone(dense, name) -> None:
    model, X, _ = dense
    float32 = convert(model, dtype="float32")
    before = float32.onnx.SerializeToString()
    make_variant(float32, name, calibration=X[:300])
    assert float32.onnx.SerializeToString() == before
