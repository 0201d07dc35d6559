"""Latency of every zoo model: native and ONNX Runtime, per batch size, provider and threads.

Each benchmark times its target with pytest-benchmark and, interleaved round by round,
partners on the same input (pairing.py): ONNX rows against native and against a fixed
reference model, native rows against the reference model. The per-round CPU-time ratios
in ``extra_info`` are what the gate judges (interleave.py says why CPU time).
"""

from __future__ import annotations

import resource
from typing import Any

import pytest

from benchmarks.cases import Case
from benchmarks.fingerprint import software_versions
from benchmarks.interleave import Interleaved
from benchmarks.pairing import pair, ratios_of
from benchmarks.prepared import Prepared, batch_of, prepare
from benchmarks.settings import settings_of
from conversion import MissingDependencyError


def _prepared(case: Case) -> Prepared:
    try:
        return prepare(case.spec)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    except ImportError as exc:
        pytest.skip(f"{case.spec.framework} is not installed: {exc}")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def test_latency(benchmark: Any, latency_case: Case, request: pytest.FixtureRequest) -> None:
    case = latency_case
    profile = settings_of(request.config).profile
    prep = _prepared(case)
    if case.runtime != "native" and prep.converted is None:
        pytest.skip(f"no ONNX model for {case.spec.name}: parity {prep.parity} ({prep.parity_detail})")
    X = batch_of(prep, case.batch_size)
    pairing = pair(prep, X, runtime=case.runtime, provider=case.provider, threads=case.threads)
    benchmark.group = case.group
    benchmark.extra_info.update(
        {
            "onnxgate_kind": "latency",
            "framework": case.spec.framework,
            "model": case.spec.name,
            "dataset": case.spec.dataset,
            "size": case.spec.size,
            "batch_size": case.batch_size,
            "runtime": case.runtime,
            "provider": case.provider,
            "threads": case.threads,
            "method": prep.method,
            "parity": prep.parity,
            "parity_detail": prep.parity_detail,
            "conversion_s": prep.conversion_s,
            "onnx_bytes": prep.onnx_bytes,
            "session_s": pairing.session_s,
            "first_call_s": pairing.first_call_s,
            "versions": software_versions(),
        }
    )
    interleaved = Interleaved(pairing.target, pairing.partners, warmup_rounds=profile.warmup_rounds,
                              target_clock=pairing.target_clock)
    benchmark.pedantic(interleaved.target, setup=interleaved.setup, rounds=profile.rounds_for(case.batch_size),
                       warmup_rounds=profile.warmup_rounds)
    if not benchmark.disabled:
        benchmark.extra_info["ratio_clock"] = "cpu"
        benchmark.extra_info.update(ratios_of(case.runtime, interleaved.rounds(benchmark.stats.stats.data)))
    benchmark.extra_info["peak_rss_mb"] = _peak_rss_mb()
    if settings_of(request.config).counts:
        from benchmarks.counts_session import row_counts

        benchmark.extra_info.update(row_counts(request.config, case))
