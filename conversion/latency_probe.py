"""A small in-process latency measurement for one model: native vs ONNX Runtime, interleaved.

The benchmark suites (conversion/bench/suites) are the real measurement; this probe serves models the
suites do not know (a user's ``--model FILE``) and runs the zoo when the suites are absent.
Native and ONNX calls alternate round by round so machine drift hits both alike.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from conversion.converted import ConvertedModel
from conversion.engine import InferenceEngine
from conversion.frameworks import adapter_named

from .results.run_results import runtime_label
from .timing import WALL, interleaved

__all__ = ["FULL_BATCHES", "QUICK_BATCHES", "probe_latency"]

log = logging.getLogger(__name__)

QUICK_BATCHES = (1, 16, 256, 4096)
FULL_BATCHES = (1, 16, 256, 4096, 65536)


def _percentiles(samples: np.ndarray) -> dict[str, float]:
    arr = np.asarray(samples)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(arr.mean()), "rounds": int(arr.size)}


def probe_latency(
    name: str,
    framework: str,
    model: Any,
    converted: ConvertedModel,
    X: np.ndarray,
    *,
    batches: Sequence[int] = QUICK_BATCHES,
    seconds_per_batch: float = 0.4,
    max_rounds: int = 200,
) -> list[dict[str, Any]]:
    """p50/p90/p99 per runtime and batch size; rows are drawn from ``X`` with replacement."""
    adapter = adapter_named(framework)
    method = "predict_proba" if "predict_proba" in converted.methods else "predict"
    cores = os.cpu_count() or 1
    # ONNX Runtime on one thread and on every core: the two settings a server chooses between.
    thread_settings = sorted({1, cores})
    engines = {t: InferenceEngine(converted, threads=t) for t in thread_settings}
    runners: dict[tuple[str, int | None], Callable[[np.ndarray], Any]] = {
        ("native", None): lambda b: adapter.native(model, method, b)}
    for t, engine in engines.items():
        runners[("onnx", t)] = lambda b, e=engine: e.run(method, b)
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        Xb = np.ascontiguousarray(X[rng.integers(0, len(X), size=batch)], dtype=converted.dtype)
        for run in runners.values():  # warm-up: first calls allocate and build caches
            run(Xb)
        start = time.perf_counter()
        for run in runners.values():
            run(Xb)
        per_round = max(time.perf_counter() - start, 1e-6)
        rounds = int(min(max_rounds, max(5, seconds_per_batch / per_round)))
        # The project's one timing loop: each round calls every runner once, in rotating order.
        keys = list(runners)
        timed = interleaved({str(i): (lambda run=runners[key], b=Xb: run(b)) for i, key in enumerate(keys)},
                            rounds=rounds, clocks=WALL)
        samples = {key: timed[str(i)]["wall"] / 1e9 for i, key in enumerate(keys)}
        for (runtime, threads), values in samples.items():
            row = {"model": name, "framework": framework, "runtime": runtime,
                   "provider": "CPUExecutionProvider" if runtime == "onnx" else "", "threads": threads,
                   "batch": int(batch), **_percentiles(values)}
            row["rows_per_s"] = batch / row["p50"] if row["p50"] > 0 else None
            row["label"] = runtime_label(row)
            rows.append(row)
        log.debug("%s batch %d: %d rounds", name, batch, rounds)
    return rows
