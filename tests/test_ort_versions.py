"""The onnxruntime a converted graph needs: recorded by convert(), and an older release refused
in one line before a session is created (issue 21: categorical graphs took minutes to load)."""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversion import ConversionRefusedError, InferenceEngine, InputError, RuntimeVersionError, check_parity, convert
from conversion.converter.converted import ConvertedModel
from conversion.converter.frameworks.base import unnamed_rows
from conversion.converter.ort_versions import ALLOW_OLD_ENV, BASE, needed_onnxruntime, parse_version
from conversion.parity.tree_summary import summarize_trees

from .cases import ALL_CASES
from .strategies import parity_batches


def _case(case_id: str):
    return next(c for c in ALL_CASES if c.id == case_id).fit()


@pytest.mark.parametrize("case_id", ["xgboost-classifier-categorical", "lightgbm-classifier-categorical",
                                     "sklearn-histgradientboosting-categorical"])
def test_a_categorical_graph_records_that_it_needs_the_fixed_release(case_id: str) -> None:
    model, _ = _case(case_id)
    saved = ConvertedModel.from_bytes(convert(model).to_bytes())
    assert saved.metadata["min_onnxruntime"] == "1.24.3"
    assert "#27391" in saved.metadata["min_onnxruntime_reason"]
    assert saved.onnxruntime_needed.version == "1.24.3"


@pytest.mark.parametrize(("case_id", "dtype", "version"), [
    ("xgboost-classifier-binary", "float32", BASE.version),  # legacy TreeEnsembleRegressor: the declared floor
    ("xgboost-classifier-binary", "float64", "1.21.0"),  # opset-5 TreeEnsemble
    ("lightgbm-classifier-binary", None, "1.21.0"),      # LightGBM compares in float64 by default
])
def test_numeric_graphs_need_only_the_operator_they_use(case_id: str, dtype: str | None, version: str) -> None:
    model, _ = _case(case_id)
    assert convert(model, dtype=dtype).metadata["min_onnxruntime"] == version


def test_a_file_written_before_the_field_existed_gets_the_need_from_its_graph() -> None:
    model, _ = _case("lightgbm-classifier-categorical")
    converted = convert(model)
    del converted.metadata["min_onnxruntime"], converted.metadata["min_onnxruntime_reason"]
    old = ConvertedModel.from_bytes(converted.to_bytes())
    assert old.onnxruntime_needed == needed_onnxruntime(old.onnx)
    assert old.onnxruntime_needed.version == "1.24.3"


@pytest.fixture
def ort_1_22(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """onnxruntime reports 1.22.0; every session created is recorded."""
    monkeypatch.setattr(ort, "__version__", "1.22.0")
    monkeypatch.delenv(ALLOW_OLD_ENV, raising=False)
    created: list[object] = []
    real = ort.InferenceSession

    def session(*args: object, **kwargs: object) -> object:
        created.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", session)
    return created


def test_an_older_onnxruntime_is_refused_in_one_line_before_any_session(ort_1_22: list[object]) -> None:
    model, _ = _case("lightgbm-classifier-categorical")
    converted = convert(model)
    with pytest.raises(RuntimeVersionError) as raised:
        InferenceEngine(converted)
    message = str(raised.value)
    assert "\n" not in message
    assert "needs onnxruntime >= 1.24.3 and 1.22.0 is installed" in message
    assert "#27391" in message and "pip install 'onnxruntime>=1.24.3'" in message
    assert ort_1_22 == []  # refused before ONNX Runtime was asked to build anything


def test_a_graph_the_older_release_loads_fast_is_served(ort_1_22: list[object]) -> None:
    model, X = _case("xgboost-classifier-binary")
    engine = InferenceEngine(convert(model, dtype="float32"))
    np.testing.assert_array_equal(engine.predict(X), model.predict(X))
    assert len(ort_1_22) == 1


def test_the_refusal_can_be_overridden_to_measure_an_old_release(ort_1_22: list[object],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_OLD_ENV, "1")
    model, X = _case("lightgbm-classifier-categorical")
    engine = InferenceEngine(convert(model))
    with unnamed_rows(model, X):  # lightgbm 4.6 warns on arrays it was fitted on (LightGBM #6798, fixed in 4.7)
        expected = model.predict_proba(X)
    np.testing.assert_allclose(engine.predict_proba(X), expected, rtol=1e-6)
    assert len(ort_1_22) == 1


@pytest.mark.parametrize(("text", "parsed"), [("1.24.3", (1, 24, 3)), ("1.25.0.dev20260101", (1, 25, 0)),
                                              ("1.22", (1, 22, 0)), ("1.32.0+cpu", (1, 32, 0))])
def test_versions_compare_by_number(text: str, parsed: tuple[int, ...]) -> None:
    assert parse_version(text) == parsed
    assert parse_version(text) < parse_version("1.100.0")


CATEGORICAL = [c for c in ALL_CASES if "categorical" in c.id and c.refused is None and c.framework != "catboost"]


@pytest.mark.parametrize("case", CATEGORICAL, ids=str)
@given(data=st.data())
def test_the_older_onnxruntime_form_of_set_splits_is_exact(case, data: st.DataObject) -> None:
    """target_onnxruntime="1.22": set splits become lookup columns, which 1.21 on loads fast."""
    model, _ = case.fit()
    converted, engine, batches = _columns(case)
    assert converted.metadata["min_onnxruntime"] == "1.21.0"
    report = check_parity(model, converted, data.draw(batches), engine=engine)
    assert report.passed, str(report)


@cache
def _columns(case):
    """The lookup-column graph, its engine, and batches on the split points and categories of the
    set form; built once per case, not once per example."""
    model, X_train = case.fit()
    converted = convert(model, target_onnxruntime="1.22")
    trees = summarize_trees(convert(model).onnx)
    batches = parity_batches(X_train, trees.splits, categories=trees.categories, dtype=converted.dtype,
                             allow_nan=case.nan, allow_inf=case.inf, extra=case.edges, max_abs=case.max_abs,
                             finite_columns=converted.finite_columns)
    return converted, InferenceEngine(converted), batches


def test_a_release_without_an_exact_fast_form_is_refused_at_conversion() -> None:
    model, _ = _case("lightgbm-classifier-categorical")
    with pytest.raises(ConversionRefusedError, match=r"onnxruntime 1\.20: it needs >= 1\.21\.0.*opset-5 TreeEnsemble"):
        convert(model, target_onnxruntime="1.20")
    with pytest.raises(InputError, match="not a version"):
        convert(model, target_onnxruntime="latest")


def test_a_target_below_the_declared_floor_is_refused_even_for_a_legacy_graph() -> None:
    """1.20 would load a float32 graph, but onnxgate is neither installable nor tested there."""
    model, _ = _case("xgboost-classifier-binary")
    with pytest.raises(ConversionRefusedError, match=rf"onnxruntime 1\.20: it needs >= {re.escape(BASE.version)}, "
                                                     r"because onnxgate declares and tests"):
        convert(model, dtype="float32", target_onnxruntime="1.20")


def test_a_graph_the_target_already_loads_fast_is_left_as_it_is() -> None:
    model, _ = _case("xgboost-classifier-binary")
    assert convert(model, dtype="float32", target_onnxruntime="1.22").onnx == convert(model, dtype="float32").onnx
