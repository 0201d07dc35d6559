"""Round-robin timing of peer functions in this process, and the CPU clock every timing uses.

On a shared machine absolute times drift from one second to the next, so paths are never
timed one after the other: each round of :func:`interleaved` times every function once, in an
order that rotates per round (whichever runs later finds caches warm), with garbage collection
off. Callers reduce the per-round samples with the statistic they need (mean and percentiles for
the seed's report, a low quantile for routing decisions, medians for the variants table).

The benchmark suite's rows come from the other interleaving loop, conversion/bench/interleave.py:
there pytest-benchmark owns the loop and times one target, and its partners run just before each
call, so the gate gets target/partner ratios per round beside pytest-benchmark's own statistics.
Here no function is the target; all are peers, in rotating order.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["LATENCY_QUANTILES", "WALL", "cpu_clock", "interleaved", "latency_percentiles", "percentile"]

Clock = Callable[[], int]
WALL: dict[str, Clock] = {"wall": time.perf_counter_ns}


def cpu_clock(threads: int | None, *, native_threads: bool) -> Clock:
    """The CPU clock (nanoseconds) that counts all of a call's work: the one rule for every CPU timing.

    CPU time leaves out the time other processes of a shared machine hold the core, which is
    most of the drift of wall time on 2 busy cores. Which CPU clock depends on where the work runs:

    - ``threads == 1`` and no native code that may use threads of its own (an ONNX Runtime
      session with one intra-op thread computes on the calling thread): the calling thread's
      clock, which the process's other threads do not move;
    - otherwise the process's: a session's pool threads (``threads`` > 1, or None / 0, which let
      the library choose), or a native library's own threads, do part of the call, and only the
      process clock sees them. ``native_threads`` is True for a training framework's predict:
      CatBoost runs about 30% of every predict on a pool thread even at ``thread_count=1``.
    """
    return time.thread_time_ns if threads == 1 and not native_threads else time.process_time_ns


def interleaved(
    fns: Mapping[str, Callable[[], Any]],
    *,
    rounds: int,
    reps: int = 1,
    clocks: Mapping[str, Clock] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Nanoseconds per call of each function in each round, per clock: ``out[fn][clock][round]``.

    ``reps`` calls are timed together, so a call far shorter than the clock's own cost still
    gets a meaningful figure.
    """
    clocks = dict(clocks or WALL)
    names = list(fns)
    out = {n: {c: np.empty(rounds) for c in clocks} for n in names}
    readers = list(clocks.items())
    was_enabled = gc.isenabled()
    # The youngest generation only: a full collection took 75 ms in a process holding four
    # frameworks, 40% of a model's routing calibration; disabling is what keeps pauses out.
    gc.collect(0)
    gc.disable()
    try:
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                fn = fns[name]
                start = [read() for _, read in readers]
                for _ in range(reps):
                    fn()
                for (clock, read), t0 in zip(readers, start, strict=True):
                    out[name][clock][r] = (read() - t0) / reps
    finally:
        if was_enabled:
            gc.enable()
    return out


# The latency percentiles every figure carries (results rows, the seed's report, Predictor.stats()).
LATENCY_QUANTILES = (50, 90, 99)


def percentile(data: Iterable[float], q: float) -> float:
    """numpy's percentile (linear interpolation) as a float; NaN for no data rather than an error."""
    xs = np.fromiter(data, dtype=float)
    return float(np.percentile(xs, q)) if xs.size else float("nan")


def latency_percentiles(data: Iterable[float], *, suffix: str = "") -> dict[str, float]:
    """``{"p50" + suffix: ..., "p90" + suffix: ..., "p99" + suffix: ...}`` of ``data``, in its unit."""
    xs = np.fromiter(data, dtype=float)
    values = np.percentile(xs, LATENCY_QUANTILES) if xs.size else [float("nan")] * len(LATENCY_QUANTILES)
    return {f"p{q}{suffix}": float(v) for q, v in zip(LATENCY_QUANTILES, values, strict=True)}
