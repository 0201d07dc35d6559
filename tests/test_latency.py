"""measure_latency_improvement: the seed's keys, consistent statistics, the method, bad input.

No timing thresholds here (the machine is shared); speed itself is measured in benchmarks/.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from conversion import InferenceEngine, InputError, measure_latency_improvement
from conversion.converter.frameworks import adapter_named

from .runtime_models import FRAMEWORKS, data, fitted

SEED_KEYS = ("native_avg_ms", "onnx_avg_ms", "improvement_pct", "speedup_factor")
PER_PATH = ("std_ms", "p50_ms", "p90_ms", "p99_ms", "rows_per_s")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_result_has_the_seed_keys_and_consistent_statistics(framework) -> None:
    model, converted = fitted(framework)
    X = data()[0][:50]
    r = measure_latency_improvement(model, converted, X, n_runs=7)
    for key in SEED_KEYS:
        assert np.isfinite(r[key])
    for path in ("native", "onnx"):
        assert all(f"{path}_{k}" in r for k in PER_PATH)
        assert r[f"{path}_std_ms"] >= 0
        assert r[f"{path}_p50_ms"] <= r[f"{path}_p90_ms"] <= r[f"{path}_p99_ms"]
        assert r[f"{path}_rows_per_s"] == pytest.approx(50 / (r[f"{path}_avg_ms"] / 1e3))
    assert r["speedup_factor"] == pytest.approx(r["native_avg_ms"] / r["onnx_avg_ms"])
    assert r["improvement_pct"] == pytest.approx((r["native_avg_ms"] - r["onnx_avg_ms"]) / r["native_avg_ms"] * 100)
    assert r["batch_size"] == 50 and r["n_runs"] == 7 and r["framework"] == framework


def test_batch_sizes_give_one_row_per_size_and_may_exceed_the_data() -> None:
    model, converted = fitted("xgboost")
    X = data()[0][:10]
    r = measure_latency_improvement(model, converted, X, n_runs=3, batch_sizes=[1, 10, 25])
    assert [row["batch_size"] for row in r["rows"]] == [1, 10, 25]
    assert all(set(SEED_KEYS) <= set(row) for row in r["rows"])
    assert r["native_avg_ms"] == r["rows"][0]["native_avg_ms"]  # top level = first size


def test_onnx_side_may_be_a_path_a_converted_model_or_an_engine(tmp_path) -> None:
    model, converted = fitted("xgboost")
    X = data()[0][:5]
    path = converted.save(tmp_path / "m.onnx")
    for onnx_side in (converted, str(path), path, InferenceEngine(converted)):
        assert measure_latency_improvement(model, onnx_side, X, n_runs=2)["onnx_avg_ms"] > 0


def test_rounds_are_interleaved_on_the_same_input_with_gc_off(monkeypatch) -> None:
    model, converted = fitted("xgboost")
    engine = InferenceEngine(converted)
    adapter = adapter_named("xgboost")
    calls: list[tuple[str, int, bool]] = []
    real_native, real_run = adapter.native, engine.run
    monkeypatch.setattr(adapter, "native", lambda m, meth, X: calls.append(("native", id(X), gc.isenabled()))
                        or real_native(m, meth, X))
    monkeypatch.setattr(engine, "run",
                        lambda meth, X: calls.append(("onnx", id(X), gc.isenabled())) or real_run(meth, X))
    gc_before = gc.isenabled()
    measure_latency_improvement(model, engine, data()[0][:20], n_runs=6, warmup=2)
    assert gc.isenabled() == gc_before
    timed = calls[4:]  # after 2 warm-up pairs
    assert [c[0] for c in timed] == ["native", "onnx", "onnx", "native"] * 3  # order alternates per round
    assert len({c[1] for c in calls}) == 1  # both paths get the very same array
    assert not any(c[2] for c in timed)  # the collector is paused while timing


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_runs": 0}, "n_runs"),
        ({"n_runs": 2.5}, "n_runs"),
        ({"batch_sizes": [0]}, "batch_sizes"),
        ({"batch_sizes": []}, "batch_sizes"),
        ({"method": "decision_function"}, "no decision_function"),
        ({"warmup": -1}, "warmup"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs, fragment) -> None:
    model, converted = fitted("xgboost")
    with pytest.raises(InputError, match=fragment):
        measure_latency_improvement(model, converted, data()[0][:5], **kwargs)


@pytest.mark.parametrize(
    ("X", "fragment"),
    [
        (np.empty((0, 6), np.float32), "no rows"),
        (np.zeros((3, 4), np.float32), "4 features"),
        (np.array([["x"] * 6]), "strings"),
    ],
)
def test_bad_test_data_raises_input_error(X, fragment) -> None:
    model, converted = fitted("xgboost")
    with pytest.raises(InputError, match=fragment):
        measure_latency_improvement(model, converted, X, n_runs=2)


def test_something_that_is_not_an_onnx_model_is_refused() -> None:
    model, _ = fitted("xgboost")
    with pytest.raises(InputError, match="ConvertedModel"):
        measure_latency_improvement(model, 42, data()[0][:5])
