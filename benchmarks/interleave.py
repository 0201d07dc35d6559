"""Interleaved timing: the measurement the gate trusts.

Absolute times drift between runs on a shared machine (other jobs, frequency scaling, cache
state), and a ratio of two benchmarks that ran one after the other drifts just as much. So
every round times a partner call immediately before the target call, on the same input
(ONNX rows: the native model; native rows: a fixed reference workload), and the gate
judges the per-round ratio target/partner.

Each call is timed twice: wall clock (what users wait for; pytest-benchmark's own stats)
and CPU time of the work. The gate uses the CPU-time ratio: on a 2-core machine shared
with other jobs, most run-to-run drift is preemption, which inflates wall time by whatever
share of the call another process happened to run in, differently for the two calls of a
pair; CPU time does not count time spent descheduled. Single-threaded calls use the calling
thread's CPU clock; multi-threaded ONNX Runtime sessions use the process clock so the pool
threads' work is counted.

Inside pytest-benchmark the partner runs in ``pedantic``'s ``setup`` (untimed by the plugin,
timed here); :func:`measure` is the same loop outside pytest, for prove_gate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter, process_time, thread_time
from typing import Any

import numpy as np

__all__ = ["Interleaved", "Rounds", "measure", "reference_workload", "cpu_clock"]

Clock = Callable[[], float]


def cpu_clock(threads: int | None) -> Clock:
    """The CPU clock that sees all of a call's work: the thread's for 1 thread, else the process's."""
    return thread_time if (threads or 1) == 1 else process_time


@dataclass
class Rounds:
    """Per-round times of the measured rounds (warm-up dropped), seconds."""

    target_wall: list[float] = field(default_factory=list)
    target_cpu: list[float] = field(default_factory=list)
    partner_wall: list[float] = field(default_factory=list)
    partner_cpu: list[float] = field(default_factory=list)

    @staticmethod
    def _ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
        # A CPU clock that did not tick (coarse clocks, sub-microsecond calls) would divide by zero.
        return [n / d if d > 0 else float("nan") for n, d in zip(num, den, strict=True)]

    @property
    def cpu_ratios(self) -> list[float]:
        return [r for r in self._ratios(self.target_cpu, self.partner_cpu) if r == r]

    @property
    def wall_ratios(self) -> list[float]:
        return self._ratios(self.target_wall, self.partner_wall)


class Interleaved:
    """Wraps a target and times a partner before each of its rounds.

    Give :meth:`setup` to ``benchmark.pedantic(setup=...)`` and :attr:`target` as its target;
    pedantic calls setup for warm-up rounds too, which :meth:`rounds` drops.
    """

    def __init__(self, target: Callable[[], Any], partner: Callable[[], Any], *, warmup_rounds: int,
                 target_clock: Clock = thread_time, partner_clock: Clock = thread_time) -> None:
        self._target, self._partner = target, partner
        self._warmup = warmup_rounds
        self._target_clock, self._partner_clock = target_clock, partner_clock
        self._target_cpu: list[float] = []
        self._partner_wall: list[float] = []
        self._partner_cpu: list[float] = []

    def setup(self) -> None:
        c0, w0 = self._partner_clock(), perf_counter()
        self._partner()
        w1, c1 = perf_counter(), self._partner_clock()
        self._partner_wall.append(w1 - w0)
        self._partner_cpu.append(c1 - c0)

    def target(self) -> Any:
        c0 = self._target_clock()
        out = self._target()
        self._target_cpu.append(self._target_clock() - c0)
        return out

    def rounds(self, target_wall: Sequence[float]) -> Rounds:
        """Combines pytest-benchmark's wall times of the target with the times taken here."""
        w = self._warmup
        n = len(target_wall)
        if len(self._partner_wall) - w != n or len(self._target_cpu) - w != n:
            raise RuntimeError(f"{n} target rounds but {len(self._partner_wall) - w} partner rounds were timed")
        return Rounds(list(target_wall), self._target_cpu[w:], self._partner_wall[w:], self._partner_cpu[w:])


def measure(target: Callable[[], Any], partner: Callable[[], Any], *, rounds: int, warmup_rounds: int,
            target_clock: Clock = thread_time) -> Rounds:
    """Runs the rounds exactly as the benchmark suite does, without pytest."""
    inter = Interleaved(target, partner, warmup_rounds=warmup_rounds, target_clock=target_clock)
    wall: list[float] = []
    for i in range(warmup_rounds + rounds):
        inter.setup()
        start = perf_counter()
        inter.target()
        elapsed = perf_counter() - start
        if i >= warmup_rounds:
            wall.append(elapsed)
    return inter.rounds(wall)


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
