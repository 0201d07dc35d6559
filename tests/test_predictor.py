"""Predictor (routing, calibration cache, fallback, stats) and ShadowPredictor (divergence, isolation)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from conversion import InputError, Predictor, ProviderError, ShadowPredictor
from conversion.converter.frameworks import adapter_named
from conversion.runtime.engine import CALL_PATHS
from conversion.serving.calibration import Calibration, machine_fingerprint

from .runtime_models import FRAMEWORKS, data, fitted

SIZES = (1, 16, 256)  # small calibration grids keep the tests quick; benchmarks use the full one


def _pinned_calibration(predictor_or_engine, onnx_wins_below: int) -> str:
    """A stored calibration saying ONNX is faster below ``onnx_wins_below`` rows, for this machine."""
    engine = getattr(predictor_or_engine, "engine", predictor_or_engine)
    lo, hi = onnx_wins_below // 2, onnx_wins_below * 2
    cal = Calibration([1, lo, hi, 100_000], [1.0, 1.0, 1.0, 1.0], [0.1, 0.5, 2.0, 10.0], "predict",
                      machine_fingerprint(engine))
    return cal.to_json()


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("policy", ["auto", "onnx", "native"])
def test_every_policy_answers_like_the_native_model(framework, policy) -> None:
    model, converted = fitted(framework)
    X = data()[0][:40]
    p = Predictor(model, converted, policy=policy, calibration_sizes=SIZES)
    adapter = adapter_named(framework)
    for method in converted.methods:
        native = np.asarray(adapter.native(model, method, X))
        got = p.run(method, X)
        assert got.shape == native.shape
        np.testing.assert_allclose(got.astype(np.float64), native.astype(np.float64), rtol=1e-5, atol=1e-6)


def test_pinned_policies_use_only_their_path_and_stats_count_calls_and_rows() -> None:
    model, converted = fitted("xgboost")
    X = data()[0]
    for policy in ("onnx", "native"):
        p = Predictor(model, converted, policy=policy)
        p.predict(X[:1])
        p.predict_proba(X[:10])
        s = p.stats()
        other = "native" if policy == "onnx" else "onnx"
        assert s["paths"][policy]["calls"] == 2 and s["paths"][policy]["rows"] == 11
        assert s["paths"][other]["calls"] == 0
        assert s["paths"][policy]["p50_ms"] <= s["paths"][policy]["p99_ms"]
        assert s["fallbacks"] == 0 and s["policy"] == policy


def test_auto_routes_by_batch_size_from_the_calibration() -> None:
    model, converted = fitted("xgboost")
    probe = Predictor(model, converted, policy="onnx")
    converted.metadata["calibration"] = _pinned_calibration(probe, 1000)
    p = Predictor(model, converted)
    assert [p.route(n) for n in (1, 100, 5000, 65536)] == ["onnx", "onnx", "native", "native"]
    X = data()[0]
    p.predict(X[:3])
    p.predict(np.resize(X, (5000, X.shape[1])))
    s = p.stats()
    assert s["paths"]["onnx"]["rows"] == 3 and s["paths"]["native"]["rows"] == 5000
    assert s["crossovers"] and 500 <= s["crossovers"][0] <= 2000


def test_calibration_is_measured_once_cached_in_metadata_and_reused(monkeypatch) -> None:
    model, converted = fitted("xgboost")
    first = Predictor(model, converted, calibration_sizes=SIZES)
    stored = json.loads(converted.metadata["calibration"])
    assert stored["sizes"][0] == 1 and len(stored["native_p50_ms"]) == len(stored["sizes"])
    monkeypatch.setattr("conversion.serving.predictor.calibrate", lambda *a, **k: pytest.fail("measured twice"))
    second = Predictor(model, converted, calibration_sizes=SIZES)
    assert second.calibration.sizes == first.calibration.sizes


def test_auto_without_a_calibration_measures_and_says_so(caplog) -> None:
    import logging

    model, converted = fitted("xgboost")
    with caplog.at_level(logging.INFO, logger="conversion"):
        p = Predictor(model, converted, calibration_sizes=SIZES)
    assert p.calibration is not None
    assert "measuring where ONNX beats native" in caplog.text
    assert [f"calibration: {n} rows" in caplog.text for n in SIZES] == [True] * len(SIZES)


def test_a_calibration_from_another_machine_is_measured_again(caplog) -> None:
    model, converted = fitted("xgboost")
    probe = Predictor(model, converted, policy="onnx")
    foreign = json.loads(_pinned_calibration(probe, 1000))
    foreign["fingerprint"]["cpus"] = 9999
    converted.metadata["calibration"] = json.dumps(foreign)
    with caplog.at_level(logging.INFO, logger="conversion.serving.predictor"):
        p = Predictor(model, converted, calibration_sizes=SIZES)
    assert "measuring again" in caplog.text
    assert json.loads(converted.metadata["calibration"])["fingerprint"] == machine_fingerprint(p.engine)


def test_garbage_calibration_is_ignored_and_replaced() -> None:
    model, converted = fitted("xgboost")
    converted.metadata["calibration"] = "{not json"
    p = Predictor(model, converted, calibration_sizes=SIZES)
    assert p.calibration.sizes == list(SIZES) or set(SIZES) <= set(p.calibration.sizes)


def test_recalibrate_measures_again_and_stores_it() -> None:
    model, converted = fitted("xgboost")
    p = Predictor(model, converted, calibration_sizes=SIZES)
    cal = p.recalibrate(sizes=(1, 8))
    assert {1, 8} <= set(cal.sizes) and p.calibration is cal
    assert json.loads(converted.metadata["calibration"])["sizes"] == cal.sizes


class _Broken:
    """An engine stand-in whose ONNX run fails the way a bad provider or runtime would."""

    def __init__(self, engine) -> None:
        self._engine = engine

    def run(self, method, X):
        self._engine.prepare(X)  # bad input still fails as bad input
        raise RuntimeError("ONNXRuntimeError: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION")

    def __getattr__(self, name):
        return getattr(self._engine, name)


def test_onnx_failure_falls_back_to_native_logged_and_counted(caplog) -> None:
    model, converted = fitted("xgboost")
    p = Predictor(model, converted, policy="onnx")
    p.engine = _Broken(p.engine)
    X = data()[0][:5]
    with caplog.at_level(logging.WARNING, logger="conversion.serving.predictor"):
        out = p.predict_proba(X)
        p.predict(X)
    np.testing.assert_allclose(out, model.predict_proba(X), rtol=1e-6)
    s = p.stats()
    assert s["fallbacks"] == 2 and "RUNTIME_EXCEPTION" in s["last_fallback"]
    assert s["paths"]["native"]["calls"] == 2 and s["paths"]["onnx"]["errors"] == 2
    assert "answered by the native model" in caplog.text


def test_onnx_failure_without_a_native_model_raises_a_project_error() -> None:
    _, converted = fitted("xgboost")
    p = Predictor(None, converted)
    assert p.policy == "onnx"
    p.engine = _Broken(p.engine)
    with pytest.raises(ProviderError, match="no native model to fall back to"):
        p.predict(data()[0][:2])


@pytest.mark.parametrize(
    "X",
    [np.zeros((2, 5), np.float32), np.zeros(6, np.float32), np.array([["a"] * 6])],
    ids=["feature-count", "rank-1", "strings"],
)
def test_bad_input_is_an_input_error_not_a_fallback(X) -> None:
    model, converted = fitted("xgboost")
    p = Predictor(model, converted, policy="onnx")
    with pytest.raises(InputError):
        p.predict(X)
    assert p.stats()["fallbacks"] == 0


def test_nan_for_a_model_without_missing_value_support_is_refused_on_both_paths() -> None:
    model, converted = fitted("xgboost")
    converted.metadata["allow_nan"] = "false"
    X = data()[0][:2].copy()
    X[0, 0] = np.nan
    for policy in ("onnx", "native"):
        with pytest.raises(InputError, match="NaN"):
            Predictor(model, converted, policy=policy).predict(X)


@pytest.mark.parametrize("policy", ["auto", "onnx", "native"])
def test_empty_batch_returns_an_empty_result(policy) -> None:
    model, converted = fitted("xgboost")
    p = Predictor(model, converted, policy=policy, calibration_sizes=SIZES)
    empty = np.empty((0, 6), np.float32)
    assert p.predict(empty).shape == (0,)
    assert p.predict_proba(empty).shape == (0, 2)


def test_bad_constructor_arguments_are_refused() -> None:
    model, converted = fitted("xgboost")
    with pytest.raises(InputError, match="policy"):
        Predictor(model, converted, policy="fastest")
    with pytest.raises(InputError, match="native model"):
        Predictor(None, converted, policy="native")
    with pytest.raises(InputError, match="ConvertedModel"):
        Predictor(model, "model.onnx")
    with pytest.raises(InputError, match="no decision_function"):
        Predictor(model, converted, policy="onnx").decision_function(data()[0][:1])


# -- ShadowPredictor --


class _Offset:
    """A shadow that disagrees: adds ``delta`` to scores, or flips the first label."""

    def __init__(self, inner, delta: float) -> None:
        self.inner, self.delta = inner, delta

    def run(self, method, X):
        out = self.inner.run(method, X).copy()
        if out.dtype.kind == "f":
            return out + self.delta
        out[0] = 1 - out[0]
        return out


class _Raising:
    def run(self, method, X):
        raise RuntimeError("shadow model exploded")


def test_shadow_serves_the_primary_and_an_identical_shadow_never_diverges() -> None:
    model, converted = fitted("xgboost")
    primary = Predictor(model, converted, policy="native")
    shadow = Predictor(model, converted, policy="onnx")
    sp = ShadowPredictor(primary, shadow)
    X = data()[0][:30]
    np.testing.assert_array_equal(sp.predict(X), model.predict(X))
    sp.predict_proba(X)
    r = sp.report()
    assert r["calls"] == 2 and r["sampled"] == 2 and r["compared_rows"] == 60
    assert r["mismatched_rows"] == 0 and r["label_flips"] == 0 and r["max_abs_error"] < 1e-5
    assert r["latency"]["primary"]["calls"] == 2 and r["latency"]["shadow"]["calls"] == 2


def test_shadow_divergence_is_measured() -> None:
    model, converted = fitted("xgboost")
    primary = Predictor(model, converted, policy="onnx")
    sp = ShadowPredictor(primary, _Offset(primary, 0.25))
    X = data()[0][:10]
    sp.predict_proba(X)
    sp.predict(X)
    r = sp.report()
    assert r["max_abs_error"] == pytest.approx(0.25, rel=1e-5)
    assert r["mismatched_rows"] == 11  # 10 rows of scores + 1 flipped label
    assert r["label_flips"] == 1


def test_shadow_exceptions_never_reach_the_caller(caplog) -> None:
    model, converted = fitted("xgboost")
    primary = Predictor(model, converted, policy="onnx")
    sp = ShadowPredictor(primary, _Raising())
    X = data()[0][:4]
    with caplog.at_level(logging.WARNING, logger="conversion.serving.predictor"):
        np.testing.assert_array_equal(sp.predict(X), model.predict(X))
    r = sp.report()
    assert r["shadow_errors"] == 1 and "exploded" in r["last_shadow_error"]
    assert "shadow predict() failed" in caplog.text


def test_shadow_shape_mismatch_counts_every_row() -> None:
    model, converted = fitted("xgboost")
    primary = Predictor(model, converted, policy="onnx")

    class _Wrong:
        def run(self, method, X):
            return np.zeros((len(X), 3))

    sp = ShadowPredictor(primary, _Wrong())
    sp.predict_proba(data()[0][:5])
    assert sp.report()["mismatched_rows"] == 5


def test_sample_rate_controls_how_often_the_shadow_runs() -> None:
    model, converted = fitted("xgboost")
    primary = Predictor(model, converted, policy="onnx")
    X = data()[0][:2]
    never = ShadowPredictor(primary, _Raising(), sample_rate=0.0)
    half = ShadowPredictor(primary, primary, sample_rate=0.5, seed=1)
    for _ in range(200):
        never.predict(X)
        half.predict(X)
    assert never.report()["sampled"] == 0 and never.report()["shadow_errors"] == 0
    assert 60 <= half.report()["sampled"] <= 140


def test_background_shadow_is_compared_after_flush() -> None:
    model, converted = fitted("xgboost")
    primary = Predictor(model, converted, policy="onnx")
    sp = ShadowPredictor(primary, _Offset(primary, 0.5), background=True)
    try:
        for _ in range(5):
            sp.predict_proba(data()[0][:3])
        sp.flush()
        r = sp.report()
        assert r["sampled"] + r["skipped"] == 5 and r["max_abs_error"] == pytest.approx(0.5, rel=1e-5)
    finally:
        sp.close()


def test_bad_shadow_arguments_are_refused() -> None:
    model, converted = fitted("xgboost")
    primary = Predictor(model, converted, policy="onnx")
    with pytest.raises(InputError, match="sample_rate"):
        ShadowPredictor(primary, primary, sample_rate=1.5)
    with pytest.raises(InputError, match="shadow must have run"):
        ShadowPredictor(primary, object())


def _catboost_one_hot():
    """A CatBoost classifier whose one categorical column is one-hot (6 shops <= one_hot_max_size)."""
    cb = pytest.importorskip("catboost")
    pd = pytest.importorskip("pandas")
    from conversion import convert

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"shop": rng.integers(0, 6, 500), "a": rng.normal(size=500)})
    y = (frame["shop"] == 2) ^ (frame["a"] > 0)
    model = cb.CatBoostClassifier(iterations=20, depth=3, one_hot_max_size=8, cat_features=["shop"], thread_count=1,
                                  verbose=False, allow_writing_files=False).fit(frame, y)
    return model, frame, convert(model)


@pytest.mark.parametrize("calibration_data", ["probe rows", "training frame"])
def test_auto_calibrates_a_catboost_one_hot_model_and_answers_like_native(calibration_data: str) -> None:
    model, frame, converted = _catboost_one_hot()
    p = Predictor(model, converted, policy="auto", calibration_sizes=SIZES,
                  calibration_data=frame if calibration_data == "training frame" else None)
    assert p.calibration is not None and set(SIZES) <= set(p.calibration.sizes)
    labels = frame.to_numpy(dtype=np.float64)  # a CatBoost matrix holds the integer labels
    for n in SIZES:
        np.testing.assert_allclose(p.predict_proba(labels[:n]), model.predict_proba(frame.iloc[:n]), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_array_equal(p.predict(frame.iloc[:n]), model.predict(frame.iloc[:n]))


# -- stats: exact counts, sampled latency --


def test_stats_count_every_call_and_say_which_were_timed() -> None:
    model, converted = fitted("xgboost")
    X = data()[0]
    for every, note, timed in ((16, "1 in 16 calls", 7 + 3), (1, "every call", 140)):
        p = Predictor(model, converted, policy="onnx", latency_every=every)
        for i in range(100):
            p.predict(X[i : i + 1])  # one row: the inlined path
        for i in range(40):
            p.predict_proba(X[i : i + 5])
        s = p.stats()
        assert s["latency_sampled"] == note
        assert s["paths"]["onnx"]["calls"] == 140 and s["paths"]["onnx"]["rows"] == 300
        assert s["paths"]["onnx"]["timed_calls"] == timed  # the first call of each size, then 1 in `every`


def test_counts_stay_exact_when_threads_share_a_predictor() -> None:
    import threading

    model, converted = fitted("xgboost")
    X = data()[0]
    p = Predictor(model, converted, policy="onnx")

    def work(rows: int) -> None:
        for i in range(300):  # past one refill of the per-size flags (256)
            p.predict(X[i % 50 : i % 50 + rows])

    threads = [threading.Thread(target=work, args=(rows,)) for rows in (1, 1, 1, 3, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    onnx = p.stats()["paths"]["onnx"]
    assert onnx["calls"] == 1500 and onnx["rows"] == 3 * 300 + 2 * 900 and onnx["errors"] == 0


def test_latency_every_must_be_a_positive_int() -> None:
    model, converted = fitted("xgboost")
    with pytest.raises(InputError, match="latency_every"):
        Predictor(model, converted, policy="onnx", latency_every=0)


class _FailingSession:
    def run(self, *args):
        raise RuntimeError("ONNXRuntimeError: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION")


def test_a_one_row_onnx_failure_falls_back_and_is_not_counted_as_a_call(monkeypatch) -> None:
    model, converted = fitted("xgboost")
    p = Predictor(model, converted, policy="onnx")
    if "c_run" not in CALL_PATHS or p.engine._c_sess is None:
        pytest.skip("this onnxruntime has no direct C++ session")
    p.engine.call_path = "c_run"
    monkeypatch.setattr(p.engine, "_c_sess", _FailingSession())
    row = data()[0][:1]
    np.testing.assert_allclose(p.predict_proba(row), model.predict_proba(row), rtol=1e-6)
    s = p.stats()
    assert s["fallbacks"] == 1 and s["paths"]["onnx"]["errors"] == 1
    assert s["paths"]["onnx"]["calls"] == 0 and s["paths"]["native"]["calls"] == 1


def test_one_row_inf_is_refused_and_nan_answered_where_random_forest_says_so() -> None:
    model, converted = fitted("sklearn")
    if converted.metadata.get("allow_inf") != "false":
        pytest.skip("this scikit-learn forest accepts inf")
    p = Predictor(model, converted, policy="onnx")
    row = data()[0][:1].copy()
    row[0, 1] = np.inf
    with pytest.raises(InputError, match="inf"):
        p.predict_proba(row)
    if converted.metadata.get("allow_nan") == "true":
        row[0, 1] = np.nan
        np.testing.assert_allclose(p.predict_proba(row), model.predict_proba(row), rtol=1e-6)
    assert p.stats()["paths"]["onnx"]["calls"] == (1 if converted.metadata.get("allow_nan") == "true" else 0)
