"""Latency of every zoo model: native and ONNX Runtime, per batch size, provider and threads.

Each benchmark times its target with pytest-benchmark and, interleaved round by round, a
partner on the same input (native for ONNX rows, a fixed reference workload for native
rows). The per-round CPU-time ratios in ``extra_info["ratio_rounds"]`` are what the gate
judges (see interleave.py for why CPU time).
"""

from __future__ import annotations

import resource
from time import perf_counter
from typing import Any

import pytest

from benchmarks.cases import Case
from benchmarks.fingerprint import software_versions
from benchmarks.interleave import Interleaved, cpu_clock, reference_workload
from benchmarks.prepared import Prepared, batch_of, prepare
from benchmarks.settings import settings_of
from conversion import InferenceEngine, MissingDependencyError


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
    X = batch_of(prep, case.batch_size)
    native = prep.native_call(X)
    cold: dict[str, float | None] = {"session_s": None, "first_call_s": None}
    if case.runtime == "native":
        target, partner, ratio_kind = native, reference_workload(case.batch_size), "native/reference"
    else:
        if prep.converted is None:
            pytest.skip(f"no ONNX model for {case.spec.name}: parity {prep.parity} ({prep.parity_detail})")
        start = perf_counter()
        engine = InferenceEngine(prep.converted, providers=[case.provider], threads=case.threads)
        cold["session_s"] = perf_counter() - start
        start = perf_counter()
        engine.run(prep.method, X)
        cold["first_call_s"] = perf_counter() - start
        method = prep.method

        def target() -> Any:
            return engine.run(method, X)

        partner, ratio_kind = native, "onnx/native"

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
            "ratio_kind": ratio_kind,
            "versions": software_versions(),
            **cold,
        }
    )
    interleaved = Interleaved(target, partner, warmup_rounds=profile.warmup_rounds,
                              target_clock=cpu_clock(case.threads if case.runtime == "onnx" else 1))
    benchmark.pedantic(interleaved.target, setup=interleaved.setup, rounds=profile.rounds_for(case.batch_size),
                       warmup_rounds=profile.warmup_rounds)
    if not benchmark.disabled:
        rounds = interleaved.rounds(benchmark.stats.stats.data)
        benchmark.extra_info["ratio_clock"] = "cpu"
        benchmark.extra_info["ratio_rounds"] = rounds.cpu_ratios  # what the gate judges
        benchmark.extra_info["wall_ratio_rounds"] = rounds.wall_ratios
    benchmark.extra_info["peak_rss_mb"] = _peak_rss_mb()
