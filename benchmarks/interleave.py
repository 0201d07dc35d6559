"""Interleaved timing: the measurement the gate trusts.

Absolute times drift between runs on a shared machine (other jobs, frequency scaling,
cache state), and a ratio of two benchmarks that ran one after the other drifts just as
much. Timing a partner call immediately before every target call on the same input makes
both see the same machine state, so their per-round ratio cancels the drift.

Inside pytest-benchmark the partner runs in ``pedantic``'s ``setup`` (untimed by the
plugin, timed here); :func:`measure` is the same loop outside pytest, for prove_gate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any

import numpy as np

__all__ = ["Interleaved", "measure", "reference_workload"]


class Interleaved:
    """A pedantic ``setup`` that times the partner call before each round of the target."""

    def __init__(self, partner: Callable[[], Any], *, warmup_rounds: int) -> None:
        self._partner = partner
        self._warmup = warmup_rounds
        self.partner_times: list[float] = []

    def setup(self) -> None:
        start = perf_counter()
        self._partner()
        self.partner_times.append(perf_counter() - start)

    def ratios(self, target_times: Sequence[float]) -> list[float]:
        """target / partner per measured round (pedantic also calls setup for warmup rounds)."""
        partner = self.partner_times[self._warmup:]
        if len(partner) != len(target_times):
            raise RuntimeError(f"{len(target_times)} target rounds but {len(partner)} partner rounds were timed")
        return [t / p for t, p in zip(target_times, partner, strict=True)]


def measure(
    target: Callable[[], Any], partner: Callable[[], Any], *, rounds: int, warmup_rounds: int
) -> tuple[list[float], list[float]]:
    """(target times, target/partner ratios), in exactly the order the benchmark suite uses."""
    inter = Interleaved(partner, warmup_rounds=warmup_rounds)
    times: list[float] = []
    for i in range(warmup_rounds + rounds):
        inter.setup()
        start = perf_counter()
        target()
        elapsed = perf_counter() - start
        if i >= warmup_rounds:
            times.append(elapsed)
    return times, inter.ratios(times)


def reference_workload(batch_size: int) -> Callable[[], Any]:
    """A fixed single-threaded numpy workload, the in-run reference for native rows.

    Random gathers and comparisons, like a tree walk, sized with the batch so its time tracks
    the native call's scale. Its only job is to feel the same machine state as the native call.
    """
    rng = np.random.default_rng(1234)
    table = rng.random(1 << 16, dtype=np.float32)
    idx = rng.integers(0, table.size, size=max(batch_size, 16) * 32)

    def run() -> float:
        return float((table[idx] > 0.5).sum())

    return run
