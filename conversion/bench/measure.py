"""One latency measurement: a target timed by pytest-benchmark, its partners interleaved round by round.

The zoo suite (suites/test_latency.py) and the ``onnxgate_latency`` fixture for a user's own
benchmark file both call ``measure``, so every model is timed one way and every results file
carries the same ``extra_info`` fields, which the gate and the report read.
"""

from __future__ import annotations

import resource
from typing import Any

import numpy as np

from conversion.bench.fingerprint import software_versions
from conversion.bench.interleave import Interleaved
from conversion.bench.pairing import pair, ratios_of
from conversion.bench.prepared import Prepared

__all__ = ["measure"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure(benchmark: Any, prep: Prepared, X: np.ndarray, *, runtime: str, provider: str | None,
            threads: int | None, rounds: int, warmup_rounds: int) -> None:
    """Times ``runtime`` on ``X`` with pytest-benchmark's ``benchmark``; ratios go into its ``extra_info``."""
    spec = prep.zoo.spec
    pairing = pair(prep, X, runtime=runtime, provider=provider, threads=threads)
    benchmark.extra_info.update(
        {
            "onnxgate_kind": "latency",
            "framework": spec.framework,
            "model": spec.name,
            "dataset": spec.dataset,
            "size": spec.size,
            "batch_size": int(X.shape[0]),
            "runtime": runtime,
            "provider": provider,
            "threads": threads,
            "method": prep.method,
            "parity": prep.parity,
            "parity_detail": prep.parity_detail,
            "conversion_s": prep.conversion_s,
            "onnx_bytes": prep.onnx_bytes,
            "model_facts": prep.facts,  # trees, nodes, leaves, features, graph and file hashes (model_facts.py)
            "session_s": pairing.session_s,
            "first_call_s": pairing.first_call_s,
            "versions": software_versions(),
        }
    )
    interleaved = Interleaved(pairing.target, pairing.partners, warmup_rounds=warmup_rounds,
                              target_clock=pairing.target_clock)
    benchmark.pedantic(interleaved.target, setup=interleaved.setup, rounds=rounds, warmup_rounds=warmup_rounds)
    if not benchmark.disabled:
        benchmark.extra_info["ratio_clock"] = "cpu"
        benchmark.extra_info.update(ratios_of(runtime, interleaved.rounds(benchmark.stats.stats.data)))
    benchmark.extra_info["peak_rss_mb"] = _peak_rss_mb()
