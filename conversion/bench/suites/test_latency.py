"""Latency of every zoo model: native and ONNX Runtime, per batch size, provider and threads.

Each benchmark times its target with pytest-benchmark and, interleaved round by round,
partners on the same input (pairing.py): ONNX rows against native and against a fixed
reference model, native rows against the reference model. The per-round CPU-time ratios
in ``extra_info`` are what the gate judges (interleave.py says why CPU time).
"""

from __future__ import annotations

from typing import Any

import pytest

from conversion import MissingDependencyError
from conversion.bench.cases import Case
from conversion.bench.measure import measure_row
from conversion.bench.prepared import Prepared, held_out_batch, prepare
from conversion.bench.settings import settings_of

# Enough rounds for the gate to judge a row (results/gate.py MIN_ROUNDS is 8).
FAST_ROUNDS_MIN = 10


def _prepared(case: Case) -> Prepared:
    try:
        return prepare(case.spec)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    except ImportError as exc:
        pytest.skip(f"{case.spec.framework} is not installed: {exc}")


def test_latency(benchmark: Any, latency_case: Case, request: pytest.FixtureRequest) -> None:
    case = latency_case
    profile = settings_of(request.config).profile
    prep = _prepared(case)
    why_not = prep.why_not(case.runtime, fast=case.fast, threads=case.threads)
    if case.runtime == "peer" and not why_not:
        why_not = prep.peer(case.provider).why_not  # one line: cannot build here, and why
    if why_not:
        pytest.skip(why_not)
    benchmark.group = case.group
    rounds = profile.rounds_for(case.batch_size)
    if case.fast:  # the second native row: half the rounds keeps the quick profile's budget (docs/latency.md)
        rounds = max(FAST_ROUNDS_MIN, rounds // 2)
    measure_row(benchmark, prep, held_out_batch(prep, case.batch_size), runtime=case.runtime,
                provider=case.provider, threads=case.threads, rounds=rounds, warmup_rounds=profile.warmup_rounds,
                fast=case.fast)
    # counts follow the wrapper's and the engine's paths (counts.py): not the fast call's or a peer's
    if settings_of(request.config).counts and not case.fast and case.runtime != "peer":
        from conversion.bench.counts_session import with_counts

        benchmark.extra_info.update(with_counts(benchmark.extra_info, request.config, case))
