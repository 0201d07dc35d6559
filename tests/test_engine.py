"""InferenceEngine as a user meets it: same answers as the native model, providers, options, bad input."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pytest

from conversion import InferenceEngine, InputError, ProviderError
from conversion.converter.frameworks import adapter_named
from conversion.runtime import engine as engine_mod
from conversion.runtime.engine import CALL_PATHS
from conversion.runtime.providers import (
    PROVIDERS,
    cuda_options,
    openvino_options,
    resolve_providers,
    tensorrt_options,
)
from conversion.runtime.sessions import clear_session_cache, session_cache_info

from .runtime_models import FRAMEWORKS, data, fitted


@pytest.fixture(autouse=True)
def _fresh_sessions():
    clear_session_cache()
    yield
    clear_session_cache()


def _assert_same(native: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == native.shape
    assert got.dtype == native.dtype
    if native.dtype.kind == "f":
        np.testing.assert_allclose(got, native, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, native)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("rows", [1, 3, 300])
def test_engine_returns_what_the_native_model_returns(framework, task, rows) -> None:
    model, converted = fitted(framework, task)
    X = data(task)[0][:rows]
    engine = InferenceEngine(converted, threads=1)
    adapter = adapter_named(framework)
    for method in converted.methods:
        _assert_same(np.asarray(adapter.native(model, method, X)), engine.run(method, X))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_empty_batch_returns_an_empty_result_of_the_right_shape(framework) -> None:
    _model, converted = fitted(framework)
    engine = InferenceEngine(converted)
    empty = np.empty((0, converted.n_features), dtype=np.float32)
    assert engine.predict(empty).shape == (0,)
    if "predict_proba" in converted.methods:
        assert engine.predict_proba(empty).shape == (0, len(converted.classes))


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("path", CALL_PATHS)
def test_every_call_path_gives_identical_answers(path, framework) -> None:
    # The parity matrix runs every graph through the plain `run` path; this is what makes that
    # stand for the path "auto" picks.
    _, converted = fitted(framework)
    X = data()[0][:5]
    reference = InferenceEngine(converted, call_path="run")
    engine = InferenceEngine(converted, call_path=path)
    assert engine.call_path == path
    for n in (1, 2, 5, 1, 2):  # repeated sizes reuse cached I/O bindings
        for method in converted.methods:
            np.testing.assert_array_equal(engine.run(method, X[:n]), reference.run(method, X[:n]))


def test_auto_call_path_is_measured_and_named() -> None:
    _, converted = fitted("xgboost")
    assert InferenceEngine(converted).call_path in CALL_PATHS


def test_a_named_call_path_is_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    def measured(*_args, **_kwargs):
        raise AssertionError("measured the call paths although the caller named one")

    clear_session_cache()  # a fresh session: nothing measured for it yet
    monkeypatch.setattr(engine_mod.InferenceEngine, "_measure_call_paths", measured)
    _, converted = fitted("lightgbm")
    assert InferenceEngine(converted, call_path="run").call_path == "run"
    with pytest.raises(AssertionError, match="measured"):
        InferenceEngine(converted)


def test_io_binding_results_are_not_overwritten_by_the_next_call() -> None:
    _, converted = fitted("xgboost")
    X = data()[0]
    engine = InferenceEngine(converted, call_path="iobinding")
    first = engine.predict_proba(X[:1])
    kept = first.copy()
    engine.predict_proba(X[1:2])
    np.testing.assert_array_equal(first, kept)


def test_batches_above_chunk_rows_are_chunked_with_the_same_answers() -> None:
    _, converted = fitted("xgboost")
    X = data()[0]
    whole = InferenceEngine(converted, threads=1)
    chunked = InferenceEngine(converted, threads=1, chunk_rows=7, small_batch=0)
    np.testing.assert_array_equal(chunked.predict(X), whole.predict(X))
    # ORT's tree kernel sums in another order for large batches than for small ones: 1 ulp.
    np.testing.assert_allclose(chunked.predict_proba(X), whole.predict_proba(X), rtol=1e-6, atol=1e-7)


def test_float32_rows_for_a_float64_graph_are_widened_per_chunk_with_the_same_answers() -> None:
    native, converted = fitted("lightgbm")
    assert converted.dtype == np.float64  # LightGBM's default graph: float32 rows are widened, exactly
    X = data()[0]
    chunked = InferenceEngine(converted, threads=1, chunk_rows=7, small_batch=0)
    np.testing.assert_array_equal(chunked.predict_proba(X), chunked.predict_proba(X.astype(np.float64)))
    _assert_same(adapter_named("lightgbm").native(native, "predict_proba", X), chunked.predict_proba(X))
    assert chunked.prepare(X).dtype == np.float64  # prepare() still returns the graph's dtype


def test_sessions_are_cached_per_model_and_options() -> None:
    _, converted = fitted("xgboost")
    a = InferenceEngine(converted, threads=1)
    b = InferenceEngine(converted, threads=1)
    c = InferenceEngine(converted, threads=2)
    assert a.session is b.session
    assert c.session is not a.session
    assert session_cache_info()["sessions"] == 2


def test_engine_loads_from_a_path(tmp_path) -> None:
    _, converted = fitted("xgboost")
    path = converted.save(tmp_path / "m.onnx")
    X = data()[0][:4]
    np.testing.assert_array_equal(InferenceEngine(path).predict(X), InferenceEngine(converted).predict(X))


def test_session_options_are_applied(tmp_path) -> None:
    _, converted = fitted("xgboost")
    out = tmp_path / "optimized.onnx"
    engine = InferenceEngine(converted, threads=1, graph_optimization="basic", optimized_model_path=out)
    assert out.is_file() and out.stat().st_size > 0
    assert engine.options.threads == 1 and engine.options.graph_optimization == "basic"


@pytest.mark.parametrize(
    "kwargs",
    [{"graph_optimization": "max"}, {"call_path": "fastest"}, {"chunk_rows": 0}, {"threads": -1}],
)
def test_bad_options_are_refused(kwargs) -> None:
    _, converted = fitted("xgboost")
    with pytest.raises(InputError):
        InferenceEngine(converted, **kwargs)


# -- bad input: the project's errors, before ONNX Runtime sees the data --


@pytest.mark.parametrize(
    ("X", "fragment"),
    [
        (np.zeros((2, 5), np.float32), "5 features, expected 6"),
        (np.zeros(6, np.float32), "2-D"),
        (np.zeros((1, 2, 6), np.float32), "2-D"),
        (np.array([["a"] * 6]), "strings"),
    ],
    ids=["feature-count", "rank-1", "rank-3", "strings"],
)
def test_bad_input_raises_input_error(X, fragment) -> None:
    _, converted = fitted("xgboost")
    with pytest.raises(InputError, match=fragment):
        InferenceEngine(converted).predict(X)


def test_nan_is_refused_for_a_model_that_does_not_accept_missing_values() -> None:
    _, converted = fitted("xgboost")
    converted.metadata["allow_nan"] = "false"
    X = data()[0][:3].copy()
    X[1, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        InferenceEngine(converted).predict(X)


@pytest.mark.parametrize("rows", [1, 3])
def test_inf_is_refused_for_a_model_that_rejects_infinite_values(rows) -> None:
    _, converted = fitted("xgboost")
    converted.metadata["allow_inf"] = "false"
    X = data()[0][:rows].copy()  # float32, C-contiguous: the engine's fast validation path
    X[rows - 1, 0] = -np.inf
    with pytest.raises(InputError, match="inf"):
        InferenceEngine(converted).predict(X)


def test_nan_is_accepted_where_the_native_model_accepts_it() -> None:
    model, converted = fitted("xgboost")
    X = data()[0][:3].copy()
    X[1, 2] = np.nan
    np.testing.assert_array_equal(InferenceEngine(converted).predict(X), model.predict(X))


def test_non_contiguous_and_float64_input_is_cast() -> None:
    model, converted = fitted("xgboost")
    X = np.asfortranarray(data()[0][:10].astype(np.float64))
    np.testing.assert_array_equal(InferenceEngine(converted).predict(X), model.predict(X.astype(np.float32)))


def test_unknown_method_names_the_methods_there_are() -> None:
    _, converted = fitted("xgboost", "regression")
    with pytest.raises(InputError, match="has no predict_proba"):
        InferenceEngine(converted).predict_proba(data()[0][:1])


# -- providers --


def test_default_provider_is_the_best_available() -> None:
    _, converted = fitted("xgboost")
    engine = InferenceEngine(converted)
    best = next(p.name for p in PROVIDERS if p.name in ort.get_available_providers())
    assert engine.providers[0] == best
    assert engine.fallback_reason is None


def test_an_unavailable_provider_is_refused_with_the_available_ones_listed() -> None:
    _, converted = fitted("xgboost")
    with pytest.raises(ProviderError, match="CPUExecutionProvider") as info:
        InferenceEngine(converted, providers=["NoSuchExecutionProvider"])
    assert "not available" in str(info.value)


def test_provider_aliases_are_accepted() -> None:
    _, converted = fitted("xgboost")
    assert InferenceEngine(converted, providers=["cpu"]).providers == ["CPUExecutionProvider"]


def test_preference_order_is_tensorrt_cuda_openvino_cpu() -> None:
    available = ["CPUExecutionProvider", "OpenVINOExecutionProvider", "CUDAExecutionProvider",
                 "TensorrtExecutionProvider"]
    names = [n for n, _ in resolve_providers(None, available=available)]
    assert names == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "OpenVINOExecutionProvider",
                     "CPUExecutionProvider"]
    assert [n for n, _ in resolve_providers(None, available=["CPUExecutionProvider", "CUDAExecutionProvider"])] == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_gpu_provider_options_are_built_without_a_gpu() -> None:
    available = ["CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"]
    resolved = dict(resolve_providers(
        [("tensorrt", {"trt_engine_cache_path": "/cache", "trt_engine_cache_enable": True}),
         ("cuda", {"device_id": 1})],
        available=available,
    ))
    trt, cuda = resolved["TensorrtExecutionProvider"], resolved["CUDAExecutionProvider"]
    assert trt["trt_fp16_enable"] == "False" and trt["trt_int8_enable"] == "False"  # exact parity
    assert trt["trt_engine_cache_path"] == "/cache" and trt["trt_engine_cache_enable"] == "True"
    assert cuda["device_id"] == "1" and cuda["use_tf32"] == "0"
    assert "CPUExecutionProvider" in resolved  # the fallback for nodes a GPU provider cannot run
    assert all(isinstance(v, str) for opts in resolved.values() for v in opts.values())


def test_option_builders_check_their_values() -> None:
    assert cuda_options(gpu_mem_limit=2 << 30)["gpu_mem_limit"] == str(2 << 30)
    with pytest.raises(ProviderError, match="gpu_mem_limit"):
        cuda_options(gpu_mem_limit=0)
    assert tensorrt_options(cache_dir="/tmp/trt")["trt_engine_cache_enable"] == "True"
    assert openvino_options()["device_type"] == "CPU"


class _RejectingSession:
    """Stands in for InferenceSession: a provider that rejects the graph at load or on first run."""

    real = ort.InferenceSession

    def __init__(self, data, sess_options=None, providers=None, provider_options=None, *, fail_on="load"):
        if providers and providers[0] == "OpenVINOExecutionProvider" and fail_on == "load":
            raise RuntimeError("OpenVINO-EP: unsupported operator TreeEnsembleClassifier (ai.onnx.ml)")
        self._fail = providers and providers[0] == "OpenVINOExecutionProvider" and fail_on == "run"
        self._s = self.real(data, sess_options=sess_options, providers=["CPUExecutionProvider"])

    def get_providers(self):
        return ["OpenVINOExecutionProvider", "CPUExecutionProvider"] if self._fail else self._s.get_providers()

    def run(self, *args, **kwargs):
        if self._fail:
            raise RuntimeError("OpenVINO-EP: compilation failed for subgraph")
        return self._s.run(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._s, name)


@pytest.mark.parametrize("fail_on", ["load", "run"])
def test_a_provider_that_rejects_the_graph_falls_back_to_cpu_and_says_why(monkeypatch, caplog, fail_on) -> None:
    model, converted = fitted("xgboost")
    monkeypatch.setattr("conversion.runtime.providers.available_providers",
                        lambda: ["OpenVINOExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(engine_mod.ort, "InferenceSession",
                        lambda *a, **k: _RejectingSession(*a, **k, fail_on=fail_on))
    with caplog.at_level(logging.WARNING, logger="conversion.runtime.engine"):
        engine = InferenceEngine(converted, providers=["openvino"])
    assert engine.providers == ["CPUExecutionProvider"]
    assert "OpenVINOExecutionProvider" in engine.fallback_reason
    assert "falling back to CPUExecutionProvider" in caplog.text
    X = data()[0][:4]
    np.testing.assert_array_equal(engine.predict(X), model.predict(X))


@pytest.mark.parametrize("path", CALL_PATHS)
def test_one_engine_serves_many_threads_correctly(path) -> None:
    import threading

    _, converted = fitted("xgboost")
    X = data()[0][:8]
    engine = InferenceEngine(converted, call_path=path)
    expected = [engine.predict_proba(X[i : i + 1]) for i in range(4)]
    wrong: list[int] = []

    def worker(i: int) -> None:
        for _ in range(100):
            if not np.array_equal(engine.predict_proba(X[i : i + 1]), expected[i]):
                wrong.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def _refusing(framework: str, **metadata: str):
    """A copy of the small ``framework`` model with its input metadata changed (the cached one stays)."""
    import dataclasses

    model, converted = fitted(framework)
    return model, dataclasses.replace(converted, metadata={**converted.metadata, **metadata})


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])  # a float32 and a float64 graph
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_one_row_with_nan_or_inf_is_refused_like_a_batch(framework, value) -> None:
    _, converted = _refusing(framework, allow_nan="false", allow_inf="false")
    engine = InferenceEngine(converted)
    row = data()[0][:1].astype(converted.dtype)  # a copy, C-contiguous: the engine's one-row path
    row[0, 4] = value
    fragment = "NaN" if np.isnan(value) else "inf"
    with pytest.raises(InputError, match=fragment):
        engine.run("predict_proba", row)
    with pytest.raises(InputError, match=fragment):
        engine.run("predict_proba", np.vstack([row, row]))


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_one_row_of_extreme_finite_values_is_answered_like_a_batch(framework) -> None:
    _, converted = _refusing(framework, allow_nan="false", allow_inf="false")
    engine = InferenceEngine(converted)
    info = np.finfo(converted.dtype)
    row = np.array([[info.max, -info.max, info.smallest_subnormal, -0.0, info.tiny, 1.5]], dtype=converted.dtype)
    np.testing.assert_array_equal(engine.run("predict_proba", row),
                                  engine.run("predict_proba", np.vstack([row, row]))[:1])


def test_a_strided_one_row_view_is_answered_like_its_copy() -> None:
    _, converted = fitted("xgboost")
    engine = InferenceEngine(converted)
    wide = np.repeat(data()[0][3:4], 2, axis=1)[:, ::2]  # one row, not C-contiguous
    np.testing.assert_array_equal(engine.predict_proba(wide), engine.predict_proba(np.ascontiguousarray(wide)))
