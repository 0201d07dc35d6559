"""The regression gate: baseline results vs current results -> a parity and a performance verdict.

``rules`` holds the rules and ``DEFAULT_RULES``, ``figures`` the thresholds they stand on, ``noise``
whether a time rise on flat instruction counts is runner noise, ``judge`` the verdict of two runs,
``outcome`` that verdict as data, and ``table`` its text and markdown (docs/gate.md). Import from
those modules; the names below are re-exported for callers of the one-module gate.
"""

from __future__ import annotations

from conversion.results.gate.figures import (
    ALPHA,
    COLD_PATHS,
    COUNT_THRESHOLD,
    CYCLES_THRESHOLD,
    KERNEL_LIMITS,
    MIN_EFFECT,
    MIN_ROUNDS,
)
from conversion.results.gate.judge import combine_outcomes, gate_files, gate_runs
from conversion.results.gate.machine import machine_differences, machine_state_change
from conversion.results.gate.outcome import COMPARED, NOT_GATED, Change, GateOutcome, outcome_json
from conversion.results.gate.rules import (
    DEFAULT_RULES,
    CountRegression,
    ParityBroken,
    RatioRegression,
    Rule,
    TailRegression,
    benchmark_class,
)

__all__ = [
    "ALPHA",
    "COLD_PATHS",
    "COMPARED",
    "COUNT_THRESHOLD",
    "CYCLES_THRESHOLD",
    "DEFAULT_RULES",
    "KERNEL_LIMITS",
    "MIN_EFFECT",
    "MIN_ROUNDS",
    "NOT_GATED",
    "Change",
    "CountRegression",
    "GateOutcome",
    "ParityBroken",
    "RatioRegression",
    "Rule",
    "TailRegression",
    "combine_outcomes",
    "benchmark_class",
    "gate_files",
    "gate_runs",
    "machine_differences",
    "machine_state_change",
    "outcome_json",
]
