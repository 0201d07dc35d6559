"""measure_latency_improvement: native vs ONNX latency, measured so the two can be compared.

Both paths get the same rows (cast once to the ONNX model's dtype), rounds alternate which
path goes first so neither always runs on a warm cache, timing uses ``perf_counter_ns`` and
the garbage collector is paused while a round is timed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..converter.converted import ConvertedModel, load
from ..converter.inputs import as_rows
from ..errors import InputError
from .engine import InferenceEngine
from .timing import interleaved, latency_percentiles

__all__ = ["cyclic_rows", "measure_latency_improvement", "native_matrix", "summarize_ns"]

SEED_KEYS = ("native_avg_ms", "onnx_avg_ms", "improvement_pct", "speedup_factor")


def summarize_ns(samples_ns: Sequence[int], rows: int) -> dict[str, float]:
    """Mean, std and percentiles in milliseconds, and rows per second from the mean."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    mean = float(ms.mean())
    return {
        "avg_ms": mean,
        "std_ms": float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
        **latency_percentiles(ms, suffix="_ms"),
        "min_ms": float(ms.min()),
        "rows_per_s": rows / (mean / 1e3) if mean > 0 else float("inf"),
    }


def cyclic_rows(X: np.ndarray, rows: int) -> np.ndarray:
    """``rows`` rows taken cyclically from ``X``, so any batch size can be drawn from a small sample."""
    if rows <= X.shape[0]:
        return np.ascontiguousarray(X[:rows])
    return np.ascontiguousarray(X[np.arange(rows) % X.shape[0]])


def native_matrix(engine: InferenceEngine, data: Any, prepared: np.ndarray) -> np.ndarray:
    """The rows the native model is timed on for ``data``, row for row with ``prepared``
    (``engine.prepare(data)``): those rows themselves, except that a CatBoost matrix holds the
    integer labels its codes were hashed from (inputs.native_view), which is what CatBoost reads."""
    if engine.categories is None or not engine.categories.hashed:
        return prepared
    return as_rows(data, n_features=engine.model.n_features, feature_names=engine.model.feature_names)


def _engine_for(onnx_or_converted: Any, threads: int | None) -> InferenceEngine:
    if isinstance(onnx_or_converted, InferenceEngine):
        return onnx_or_converted
    if isinstance(onnx_or_converted, ConvertedModel):
        return InferenceEngine(onnx_or_converted, threads=threads)
    if isinstance(onnx_or_converted, (str, os.PathLike)):
        return InferenceEngine(load(Path(onnx_or_converted)), threads=threads)
    raise InputError(
        f"onnx_or_converted is a {type(onnx_or_converted).__name__}; pass a ConvertedModel, "
        "an InferenceEngine or the path of an .onnx file written by onnxgate"
    )


def _time_interleaved(
    native: Callable[[], Any], onnx: Callable[[], Any], n_runs: int, warmup: int
) -> tuple[np.ndarray, np.ndarray]:
    for _ in range(warmup):
        native()
        onnx()
    t = interleaved({"native": native, "onnx": onnx}, rounds=n_runs)
    return t["native"]["wall"], t["onnx"]["wall"]


def _row(native_ns: list[int], onnx_ns: list[int], rows: int) -> dict[str, Any]:
    nat, onx = summarize_ns(native_ns, rows), summarize_ns(onnx_ns, rows)
    out: dict[str, Any] = {
        "batch_size": rows,
        "native_avg_ms": nat["avg_ms"],
        "onnx_avg_ms": onx["avg_ms"],
        "improvement_pct": (nat["avg_ms"] - onx["avg_ms"]) / nat["avg_ms"] * 100.0 if nat["avg_ms"] else 0.0,
        "speedup_factor": nat["avg_ms"] / onx["avg_ms"] if onx["avg_ms"] else float("inf"),
        # Medians resist the odd descheduled run on a shared machine; routing uses this one.
        "speedup_p50": nat["p50_ms"] / onx["p50_ms"] if onx["p50_ms"] else float("inf"),
    }
    out.update({f"native_{k}": v for k, v in nat.items() if k != "avg_ms"})
    out.update({f"onnx_{k}": v for k, v in onx.items() if k != "avg_ms"})
    return out


def measure_latency_improvement(
    model: Any,
    onnx_or_converted: ConvertedModel | InferenceEngine | str | os.PathLike[str],
    test_data: Any,
    n_runs: int = 100,
    *,
    batch_sizes: Sequence[int] | None = None,
    method: str = "predict",
    warmup: int = 5,
    threads: int | None = None,
) -> dict[str, Any]:
    """Times the native model and its ONNX conversion on the same rows.

    Returns the seed's keys (``native_avg_ms``, ``onnx_avg_ms``, ``improvement_pct``,
    ``speedup_factor``), plus ``native_``/``onnx_`` std, p50, p90, p99, min and rows/s. The
    top-level figures are for the whole ``test_data`` or, with ``batch_sizes``, for the first
    size; ``"rows"`` always lists one such dict per batch size measured.
    """
    from ..converter.frameworks import adapter_named

    if not isinstance(n_runs, int) or n_runs < 1:
        raise InputError(f"n_runs must be a positive integer, got {n_runs!r}")
    if warmup < 0:
        raise InputError(f"warmup must be >= 0, got {warmup}")
    engine = _engine_for(onnx_or_converted, threads)
    converted = engine.model
    if method not in converted.methods:
        raise InputError(f"this {converted.framework} model has no {method}(); it has: {', '.join(converted.methods)}")
    X = engine.prepare(test_data)
    if X.shape[0] == 0:
        raise InputError("test_data has no rows; latency needs at least one row to time")
    sizes = [X.shape[0]] if batch_sizes is None else list(batch_sizes)
    bad = [s for s in sizes if not isinstance(s, (int, np.integer)) or s < 1]
    if bad or not sizes:
        raise InputError(f"batch_sizes must be positive integers, got {list(batch_sizes or [])!r}")
    adapter = adapter_named(converted.framework)
    native_rows = native_matrix(engine, test_data, X)
    rows = []
    for size in sizes:
        Xb = cyclic_rows(X, int(size))
        Nb = Xb if native_rows is X else cyclic_rows(native_rows, int(size))  # both paths: the very same array
        t_native, t_onnx = _time_interleaved(
            adapter.native_call(model, method, Nb),
            lambda Xb=Xb: engine.run(method, Xb),
            n_runs,
            warmup,
        )
        rows.append(_row(t_native, t_onnx, int(size)))
    result = dict(rows[0])
    result.update(
        {
            "rows": rows,
            "n_runs": n_runs,
            "method": method,
            "framework": converted.framework,
            "providers": engine.providers,
            "threads": threads,
            "call_path": engine.call_path,
        }
    )
    return result

