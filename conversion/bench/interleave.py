"""A target and its partners, round by round, inside pytest-benchmark: the measurement the gate trusts.

Absolute times drift between runs on a shared machine (other jobs, frequency scaling, cache
state), and a ratio of two benchmarks that ran one after the other drifts just as much. So
every round times the partners immediately before the target call, on the same input, and
the gate judges per-round ratios target/partner:

- ``native``: ONNX rows against the native model (catches anything that slows the ONNX
  path relative to native, including an onnxruntime upgrade, but the two programs react
  differently to contention, so this ratio drifts more);
- ``reference``: every row against a fixed tree ensemble in ONNX Runtime (reference.py),
  which reacts to contention like the target and so drifts least.

Each call is timed twice: wall clock (what users wait for; pytest-benchmark's own stats)
and CPU time of the work. Ratios use CPU time: on a 2-core machine shared with other jobs,
much of the drift is preemption, which inflates wall time by whatever share of a call
another process happened to run in; CPU time does not count time spent descheduled.
Which CPU clock is the one rule of ``conversion.runtime.timing.cpu_clock``: the calling
thread's for single-threaded ONNX Runtime calls; the process's for multi-threaded sessions and
native calls (a native library may work on its own threads), so the work of every thread is counted.

Inside pytest-benchmark the partners run in ``pedantic``'s ``setup`` (untimed by the plugin,
timed here); :func:`measure` is the same loop outside pytest, for the `gate --against` timing
worker and benchmarks/proof/. It is not ``conversion.runtime.timing.interleaved``, which times
peers in a rotating order for decisions made in-process (routing, calibration, variants): that
loop has no target, and pytest-benchmark's statistics cannot come from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from conversion.runtime.timing import Clock

__all__ = ["Interleaved", "Partner", "Rounds", "measure"]


@dataclass(frozen=True)
class Partner:
    call: Callable[[], Any]
    clock: Clock  # nanoseconds, from conversion.runtime.timing.cpu_clock


@dataclass
class Rounds:
    """Per-round times of the measured rounds (warm-up dropped), seconds."""

    target_wall: list[float] = field(default_factory=list)
    target_cpu: list[float] = field(default_factory=list)
    partner_wall: dict[str, list[float]] = field(default_factory=dict)
    partner_cpu: dict[str, list[float]] = field(default_factory=dict)

    @staticmethod
    def _ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
        # A CPU clock that did not tick (sub-microsecond calls, coarse clocks) gives no ratio.
        return [n / d for n, d in zip(num, den, strict=True) if d > 0]

    def cpu_ratios(self, partner: str) -> list[float]:
        return self._ratios(self.target_cpu, self.partner_cpu[partner])

    def wall_ratios(self, partner: str) -> list[float]:
        return self._ratios(self.target_wall, self.partner_wall[partner])


class Interleaved:
    """Wraps a target and times its partners, in order, before each of its rounds.

    Give :meth:`setup` to ``benchmark.pedantic(setup=...)`` and :meth:`target` as its target;
    pedantic calls setup for warm-up rounds too, which :meth:`rounds` drops.
    """

    def __init__(self, target: Callable[[], Any], partners: Mapping[str, Partner], *, warmup_rounds: int,
                 target_clock: Clock) -> None:
        self._target, self._partners = target, dict(partners)
        self._warmup = warmup_rounds
        self._target_clock = target_clock
        self._target_cpu: list[float] = []
        self._wall: dict[str, list[float]] = {name: [] for name in self._partners}
        self._cpu: dict[str, list[float]] = {name: [] for name in self._partners}

    def setup(self) -> None:
        for name, partner in self._partners.items():
            c0, w0 = partner.clock(), perf_counter()
            partner.call()
            w1, c1 = perf_counter(), partner.clock()
            self._wall[name].append(w1 - w0)
            self._cpu[name].append((c1 - c0) / 1e9)

    def target(self) -> Any:
        c0 = self._target_clock()
        out = self._target()
        self._target_cpu.append((self._target_clock() - c0) / 1e9)
        return out

    def rounds(self, target_wall: Sequence[float]) -> Rounds:
        """Combines pytest-benchmark's wall times of the target with the times taken here."""
        w, n = self._warmup, len(target_wall)
        if len(self._target_cpu) - w != n or any(len(v) - w != n for v in self._wall.values()):
            raise RuntimeError(f"{n} target rounds were timed, but not as many partner rounds")
        return Rounds(list(target_wall), self._target_cpu[w:],
                      {k: v[w:] for k, v in self._wall.items()}, {k: v[w:] for k, v in self._cpu.items()})


def measure(target: Callable[[], Any], partners: Mapping[str, Partner], *, rounds: int, warmup_rounds: int,
            target_clock: Clock) -> Rounds:
    """Runs the rounds exactly as the benchmark suite does, without pytest."""
    inter = Interleaved(target, partners, warmup_rounds=warmup_rounds, target_clock=target_clock)
    wall: list[float] = []
    for i in range(warmup_rounds + rounds):
        inter.setup()
        start = perf_counter()
        inter.target()
        elapsed = perf_counter() - start
        if i >= warmup_rounds:
            wall.append(elapsed)
    return inter.rounds(wall)
