"""The adapters' fastest native calls answer what the wrapper answers, bit for bit, or say why there is none."""

from __future__ import annotations

import numpy as np
import pytest

from conversion.converter.frameworks import adapter_named

from .runtime_models import FRAMEWORKS, data, fitted

# The calls a performance-minded user writes instead of the wrapper's: where onnxgate has none, it says why.
EXPECTED = {"xgboost": "Booster.inplace_predict", "lightgbm": "Booster.predict", "catboost": None,
            "sklearn": "estimators_ loop"}


def _rows(dtype: type) -> list[np.ndarray]:
    X = data()[0][:60].astype(dtype)
    nan = X.copy()
    nan[::3, 1] = np.nan
    return [X, nan, X[:1], X[:0]]


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fast_native_call_answers_what_the_wrapper_answers(framework: str, task: str) -> None:
    model, _ = fitted(framework, task)
    adapter = adapter_named(framework)
    method = "predict_proba" if task == "classification" else "predict"
    fast = adapter.fast_native(model, method)
    if EXPECTED[framework] is None:
        assert fast.call is None and fast.why_not
        return
    assert fast.name == EXPECTED[framework] and fast.call is not None
    for dtype in (np.float32, np.float64):
        for X in _rows(dtype):
            wrapper = adapter.native_rows(model, method, X)
            got = fast.call(X)
            assert got.shape == wrapper.shape and got.dtype == wrapper.dtype
            np.testing.assert_array_equal(got, wrapper)


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm", "sklearn"])
def test_labels_have_no_fast_call_and_say_why(framework: str) -> None:
    model, _ = fitted(framework)
    fast = adapter_named(framework).fast_native(model, "predict")
    assert fast.call is None
    assert fast.why_not


def test_sklearn_fast_call_refuses_infinity_as_the_wrapper_does() -> None:
    model, _ = fitted("sklearn")
    adapter = adapter_named("sklearn")
    X = data()[0][:4].copy()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        adapter.native_rows(model, "predict_proba", X)
    with pytest.raises(ValueError, match="infinity"):
        adapter.fast_native(model, "predict_proba").call(X)


def test_xgboost_booster_fast_call_matches_its_dmatrix_predict() -> None:
    model, _ = fitted("xgboost")
    booster = model.get_booster()
    adapter = adapter_named("xgboost")
    X = _rows(np.float32)[1]
    np.testing.assert_array_equal(adapter.fast_native(booster, "predict").call(X),
                                  adapter.native_rows(booster, "predict", X))


def test_lightgbm_booster_is_its_own_fastest_call() -> None:
    model, _ = fitted("lightgbm")
    fast = adapter_named("lightgbm").fast_native(model.booster_, "predict")
    assert fast.call is None
    assert "Booster" in fast.why_not


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm", "sklearn"])
def test_predictor_serves_natively_through_the_fast_call(framework: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """policy='native' (and auto's native side and fallback) answer without the wrapper's predict_proba."""
    from conversion import Predictor

    model, converted = fitted(framework)
    X = data()[0][:40]
    want = adapter_named(framework).native_rows(model, "predict_proba", X)

    def wrapper_called(*args: object, **kwargs: object) -> None:
        raise AssertionError("the wrapper's predict_proba was called")

    predictor = Predictor(model, converted, policy="native")
    monkeypatch.setattr(type(model), "predict_proba", wrapper_called)
    np.testing.assert_array_equal(predictor.predict_proba(X), want)


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm", "catboost"])
def test_fast_call_on_two_threads_answers_the_same_and_leaves_the_model_alone(framework: str) -> None:
    model, _ = fitted(framework)
    adapter = adapter_named(framework)
    before = adapter.native_bytes(model)
    fast = adapter.fast_native(model, "predict_proba", threads=2)
    X = _rows(np.float32)[1]
    np.testing.assert_array_equal(fast.call(X), adapter.native_rows(model, "predict_proba", X))
    assert adapter.native_bytes(model) == before
