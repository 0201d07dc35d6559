"""Figures the gate's rules stand on, each measured between unchanged runs and kept with its source.

``MIN_EFFECT`` (gate.py) says how large a CPU time-ratio rise must be to count; the tables here say
what the other verdicts need, and how far noise alone has ever moved a ratio:

- ``NOISE_ENVELOPE``: the largest rise of a median CPU time ratio seen between runs of unchanged
  code, per partner and class. Instruction counts that stayed flat may call a rise runner noise
  only up to this: beyond it no unchanged run ever went, so the rise fails even with flat counts
  (the extra time is then work counts cannot see: kernel time, page faults, other threads).
- ``WALL_MIN_EFFECT``: the minimum rise of the median wall-time ratio (target vs the reference
  model, interleaved) that fails: the third verdict, for waiting that CPU clocks do not see.
- ``TAIL_MIN_EFFECT``: the minimum rise of a row's p90 / p99 CPU ratio in the tail block.

Measured on the 2-core shared machine (load 4-23) with ``python -m conversion.bench.prove_gate``
and ``prove_gate --injections`` (docs/gate.md has the trials and rates).
"""

from __future__ import annotations

__all__ = ["NOISE_ENVELOPE", "TAIL_MIN_EFFECT", "TAIL_MIN_ROUNDS", "TAIL_QUANTILES", "WALL_MIN_EFFECT"]

# Largest rise of the median CPU ratio between unchanged runs, by partner and class:
NOISE_ENVELOPE: dict[str, dict[str, float]] = {
    "native": {
        # RandomForest one-row onnx/native +102% in the first CI run against the baseline (counts
        # within 1.25%); 55% at 256 and 4096 rows between the baseline (load ~12) and a quieter run.
        "onnx-cpu-1thread/tiny": 1.10, "onnx-cpu-1thread/medium": 0.55, "onnx-cpu-1thread/large": 0.55,
    },
    "reference": {
        # prove_gate (210 pairs per benchmark, load 4-9): 1 row 31-44%, 256 rows 4-13% (RandomForest
        # +10.5% and +11% in CI and `onnxgate run`s), 4096 rows 1.4-22%.
        "onnx-cpu-1thread/tiny": 0.45, "onnx-cpu-1thread/medium": 0.13, "onnx-cpu-1thread/large": 0.22,
        # native rows against the reference: 35% (1 row), 52% (256), 36% (4096)
        "native/tiny": 0.52, "native/medium": 0.52, "native/large": 0.52,
    },
}

# Wall-time ratio vs the reference model: the minimum rise that fails, per class. Wall time takes
# every preemption of a busy machine, unlike CPU time, so the bars sit above the CPU ones; a call
# that starts to wait 200 us at one row (35 -> 325 us) moves it about 9x.
WALL_MIN_EFFECT: dict[str, float] = {
    "native/tiny": 1.0, "native/medium": 0.75, "native/large": 0.75,
    "onnx-cpu-1thread/tiny": 1.0, "onnx-cpu-1thread/medium": 0.35, "onnx-cpu-1thread/large": 0.35,
}

# Tails: a quantile of the tail block's CPU ratios (target vs reference per round) regresses when
# it rose by at least this much and significantly more rounds than the quantile allows lie beyond
# the baseline's quantile times (1 + this) (one-sided binomial test).
TAIL_QUANTILES = (90, 99)
TAIL_MIN_EFFECT: dict[int, float] = {90: 1.0, 99: 1.0}
TAIL_MIN_ROUNDS = 100  # fewer rounds hold no p99 worth judging (4096 rows: the budget allows ~30)
