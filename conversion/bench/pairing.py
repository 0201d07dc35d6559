"""What each benchmark is timed against: its target call and its interleaved partners.

One function for the pytest suite and benchmarks/proof/prove_gate.py, so the gate is proven on exactly the
measurement CI makes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from time import perf_counter
from typing import Any, TypeVar

import numpy as np

from conversion import ConvertedModel, InferenceEngine
from conversion.bench.interleave import Partner, Rounds
from conversion.bench.prepared import Prepared
from conversion.bench.reference import reference_call
from conversion.results.latency_info import LatencyInfo
from conversion.runtime.timing import Clock, cpu_clock

__all__ = ["Pairing", "pair", "with_ratios"]

Row = TypeVar("Row", bound=LatencyInfo)


@dataclass
class Pairing:
    target: Callable[[], Any]
    partners: dict[str, Partner]  # timed in this order before each target round
    target_clock: Clock
    session_s: float | None = None
    first_call_s: float | None = None


def pair(prep: Prepared, X: np.ndarray, *, runtime: str, provider: str | None = None, threads: int | None = None,
         converted: ConvertedModel | None = None, call_path: str = "auto", fast: bool = False) -> Pairing:
    """Native rows (the wrapper's call, or with ``fast`` the adapter's fastest): native vs the reference
    model. ONNX rows: ONNX vs native (the wrapper), then vs the reference."""
    # The zoo's native models are single-threaded, yet a library may still hand a call to its own
    # thread, so native calls go on the process clock (cpu_clock says why); a compiled peer's too.
    native_clock = cpu_clock(1, native_threads=True)
    if runtime == "peer":  # compiled once (Prepared.peer), outside the timed loop; timed like a native row
        peer = prep.peer(provider or "")
        reference = Partner(reference_call(X, threads=1), cpu_clock(1, native_threads=False))
        return Pairing(functools.partial(peer.call, X), {"reference": reference}, native_clock)
    native = prep.fast_call(X, threads if runtime == "native" else None) if fast and runtime == "native" \
        else prep.native_call(X)
    if runtime == "native":  # on the model's own threads, or (threads at scale) on ``threads``, as the reference
        reference = Partner(reference_call(X, threads=threads or 1), cpu_clock(threads or 1, native_threads=False))
        if not fast:
            return Pairing(native, {"reference": reference}, native_clock)
        # The fast row's rounds run as an ONNX row's do: the wrapper, the reference, then the target. The
        # wrapper's call (pandas, validation, joblib) evicts the caches of what follows it, the reference
        # most: without it here, the fast row's reference ran 2.3x faster than the ONNX row's (LightGBM,
        # one row, load 9), and the speedup divided by the two read 2.7x where both paths in one loop
        # read 2.1x (docs/latency.md). Same neighbours, same bias, and the ratio of ratios cancels it.
        wrapper = Partner(prep.native_call(X), native_clock)
        return Pairing(native, {"native": wrapper, "reference": reference}, native_clock)
    converted = converted or prep.converted
    if converted is None:
        raise ValueError(f"{prep.zoo.name} has no ONNX model (parity {prep.parity})")
    start = perf_counter()
    engine = InferenceEngine(converted, providers=[provider or "CPUExecutionProvider"], threads=threads,
                             call_path=call_path)
    session_s = perf_counter() - start
    method = prep.method
    start = perf_counter()
    engine.run(method, X)
    first_call_s = perf_counter() - start
    # The reference goes last, right before the target: the closest in time, the best match.
    partners = {"native": Partner(native, native_clock),
                "reference": Partner(reference_call(X, threads=threads or 1),
                                     cpu_clock(threads or 1, native_threads=False))}
    return Pairing(lambda: engine.run(method, X), partners, cpu_clock(threads, native_threads=False), session_s,
                   first_call_s)


def with_ratios(info: Row, runtime: str, rounds: Rounds) -> Row:
    """``info`` (a LatencyInfo, or a Record built on one) with the interleaved rounds' ratios: the primary
    ``ratio_rounds``, ONNX's ``ref_ratio_rounds``, their wall-clock twins, ``reference_cpu_s`` (the reference
    model's median CPU time: a probe of the machine's state) and ``wait_s``."""
    reference_cpu_s = float(np.median(rounds.partner_cpu["reference"]))
    # What the target spent not computing on its clock (waiting, descheduled): the wall/CPU gap.
    wait_s = float(np.median(np.subtract(rounds.target_wall, rounds.target_cpu)))
    if runtime != "onnx":
        return replace(info, ratio_kind=f"{runtime}/reference", ratio_rounds=tuple(rounds.cpu_ratios("reference")),
                       wall_ratio_rounds=tuple(rounds.wall_ratios("reference")), reference_cpu_s=reference_cpu_s,
                       wait_s=wait_s)
    return replace(info, ratio_kind="onnx/native", ratio_rounds=tuple(rounds.cpu_ratios("native")),
                   ref_ratio_rounds=tuple(rounds.cpu_ratios("reference")),
                   wall_ratio_rounds=tuple(rounds.wall_ratios("native")),
                   wall_ref_ratio_rounds=tuple(rounds.wall_ratios("reference")), reference_cpu_s=reference_cpu_s,
                   wait_s=wait_s)
