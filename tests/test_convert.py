"""convert(), load() and input handling as a user meets them: files, metadata, bad input."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import pytest

from conversion import (
    ConversionRefusedError,
    ConvertedModel,
    InferenceEngine,
    InputError,
    MissingDependencyError,
    ModelFileError,
    NotFittedError,
    UnsupportedModelError,
    check_parity,
    convert,
    load,
)
from conversion.converter.frameworks import AdapterTable
from conversion.converter.frameworks.xgboost import XGBoostAdapter

xgb = pytest.importorskip("xgboost")


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X, y)
    return model, X, convert(model)


def test_converted_model_describes_the_native_model(fitted) -> None:
    conv = fitted[2]
    assert (conv.framework, conv.task, conv.n_features) == ("xgboost", "classification", 4)
    assert conv.classes.tolist() == [0, 1]
    assert set(conv.methods) == {"predict", "predict_proba"}
    onnx.checker.check_model(conv.onnx, full_check=True)


def test_save_writes_metadata_and_load_round_trips(fitted, tmp_path) -> None:
    _, X, conv = fitted
    path = conv.save(tmp_path / "m.onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["onnxgate.framework"] == "xgboost"
    assert props["onnxgate.framework_version"] == xgb.__version__
    assert props["onnxgate.converter"] == "onnxgate"
    assert json.loads(props["onnxgate.classes"]) == {"dtype": "int64", "values": [0, 1]}
    assert len(props["onnxgate.model_sha256"]) == 64
    again = load(path)
    np.testing.assert_array_equal(InferenceEngine(again).predict_proba(X), InferenceEngine(conv).predict_proba(X))
    assert not list(tmp_path.glob(".onnxgate-tmp-*")), "atomic save left its temp file behind"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"not an onnx file at all", "not a readable ONNX|no ONNX graph"),
        (None, "truncated|not a readable"),
    ],
    ids=["empty", "text", "truncated"],
)
def test_load_rejects_broken_files(fitted, tmp_path, content, message) -> None:
    _, _, conv = fitted
    if content is None:
        content = conv.to_bytes()[: len(conv.to_bytes()) // 2]
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_load_of_a_missing_file_names_it(tmp_path) -> None:
    with pytest.raises(ModelFileError, match=r"nope\.onnx"):
        load(tmp_path / "nope.onnx")


def test_unfitted_model_is_refused() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        convert(xgb.XGBClassifier())


def test_unsupported_type_lists_the_supported_ones() -> None:
    with pytest.raises(UnsupportedModelError, match="XGBClassifier") as info:
        convert(object())
    assert "Supported models" in str(info.value)


def test_a_wrong_n_features_is_refused(fitted) -> None:
    with pytest.raises(InputError, match="trained on 4"):
        convert(fitted[0], n_features=5)


def test_unknown_dtype_is_refused(fitted) -> None:
    with pytest.raises(ConversionRefusedError, match="float32"):
        convert(fitted[0], dtype="float16")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((3, 5)), "5 features, expected 4"),
        (np.zeros(4), "2-D.*reshape"),
        (np.zeros((2, 3, 4)), "2-D"),
        (np.array([["a", "b", "c", "d"]]), "strings or objects"),
        ([[1.0, None, 2.0, 3.0]], "strings or objects"),
    ],
    ids=["feature-count", "1-D", "3-D", "strings", "objects"],
)
def test_engine_rejects_bad_input_with_the_projects_error(fitted, bad, message) -> None:
    with pytest.raises(InputError, match=message):
        InferenceEngine(fitted[2]).predict(bad)


def test_int_float64_lists_and_dataframes_are_cast_like_the_native_model(fitted) -> None:
    """The documented rule: anything numeric is rounded to the model dtype (float32)."""
    model, X, conv = fitted
    engine = InferenceEngine(conv)
    expected = model.predict_proba(X[:5])
    np.testing.assert_allclose(engine.predict_proba(X[:5].astype(np.float64)), expected, atol=1e-6)
    np.testing.assert_allclose(engine.predict_proba(X[:5].tolist()), expected, atol=1e-6)
    ints = np.round(X[:5] * 3).astype(np.int64)
    np.testing.assert_allclose(engine.predict_proba(ints), model.predict_proba(ints.astype(np.float32)), atol=1e-6)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X[:5], columns=["a", "1", "price", "f0"])  # names a converter might misread
    np.testing.assert_allclose(engine.predict_proba(frame), expected, atol=1e-6)


def test_empty_batch_returns_empty_results_of_the_native_type(fitted) -> None:
    engine = InferenceEngine(fitted[2])
    empty = np.zeros((0, 4), dtype=np.float32)
    assert engine.predict(empty).shape == (0,)
    assert engine.predict(empty).dtype == fitted[0].predict(fitted[1][:1]).dtype
    assert engine.predict_proba(empty).shape == (0, 2)


def test_missing_method_is_an_input_error(fitted) -> None:
    with pytest.raises(InputError, match="no decision_function"):
        InferenceEngine(fitted[2]).decision_function(fitted[1])


def test_parity_report_triages_a_real_mismatch(fitted) -> None:
    """A deliberately broken model: the report must count and classify, not just fail."""
    model, X, conv = fitted
    broken = ConvertedModel(
        onnx.ModelProto(), conv.framework, conv.task, conv.n_features, conv.classes, conv.methods, conv.metadata
    )
    broken.onnx.CopyFrom(conv.onnx)
    for node in broken.onnx.graph.node:
        if node.op_type == "TreeEnsembleRegressor":
            for attr in node.attribute:
                if attr.name == "nodes_values":
                    attr.floats[:] = [v + 0.3 for v in attr.floats]
    report = check_parity(model, broken, X)
    assert not report.passed
    assert report.mismatched_rows > 0 and report.label_flips > 0
    assert set(report.causes) <= {"threshold_ulp", "nan_inf_routing", "other"}
    assert "parity FAILED" in str(report) and "triage" in str(report)


def test_missing_framework_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "xgboost", None)  # import xgboost now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'onnxgate\[xgboost\]'"):
        XGBoostAdapter().framework()


def test_adapter_table_refuses_duplicates_unless_overwriting() -> None:
    table = AdapterTable([XGBoostAdapter()])
    with pytest.raises(Exception, match="overwrite=True"):
        table.register(XGBoostAdapter())
    table.register(XGBoostAdapter(), overwrite=True)
    assert table.names() == ["xgboost"]
