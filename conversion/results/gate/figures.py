"""Every figure the gate's rules stand on, each with a one-line source.

Most were measured between runs of unchanged code on the 2-core shared machine with
``python -m benchmarks.proof.prove_gate`` (and its ``--injections`` and ``--counts`` modes); the
measurements behind each, with dates, runs and loads, are the table in docs/gate.md
("The figures the gate stands on"). Change a figure there and here together.
"""

from __future__ import annotations

__all__ = [
    "ALPHA",
    "COLD_PATHS",
    "COLD_THRESHOLDS",
    "COUNT_SPREAD",
    "COUNT_THRESHOLD",
    "CYCLES_THRESHOLD",
    "KERNEL_LIMITS",
    "KERNEL_PATHS",
    "MACHINE_STATE_TOLERANCE",
    "MIN_EFFECT",
    "MIN_ROUNDS",
    "NOISE_ENVELOPE",
    "TAIL_CLASSES",
    "TAIL_MIN_EFFECT",
    "TAIL_MIN_ROUNDS",
    "TAIL_MIN_SHARE",
    "SIDE_BY_SIDE_MIN_EFFECT",
    "TAIL_QUANTILES",
    "WALL_MIN_EFFECT",
]

# --- CPU time ratios (RatioRegression) ---------------------------------------------------------
ALPHA = 0.01  # one-sided Mann-Whitney p below which a shift is significant (rounds are many)
MIN_ROUNDS = 8  # fewer interleaved rounds on either side: not judged
# Minimum rise of the median ratio that fails, per partner and class: above prove_gate's largest
# drift between unchanged runs (docs/gate.md). A class not listed is measured and reported, not gated
# (multi-threaded rows: spin-waiting pool threads; providers other than CPU: not measured).
MIN_EFFECT: dict[str, dict[str, float]] = {
    "reference": {
        "native/tiny": 0.75, "native/medium": 0.75, "native/large": 0.75,
        # 256 rows: unchanged code read +10.4% and +11% in the README's test loop beside xdist (docs/gate.md)
        "onnx-cpu-1thread/tiny": 0.35, "onnx-cpu-1thread/medium": 0.15, "onnx-cpu-1thread/large": 0.10,
    },
    "native": {"onnx-cpu-1thread/tiny": 0.75, "onnx-cpu-1thread/medium": 0.75, "onnx-cpu-1thread/large": 0.75},
}
# The reference model's own CPU time may move this much before ONNX/native and native/reference are
# not judged: a loaded machine slows native frameworks 2-10x more than ONNX Runtime (docs/gate.md).
MACHINE_STATE_TOLERANCE = 0.25

# --- the noise rule (noise.py) -------------------------------------------------------------------
# Largest rise of a median CPU ratio between unchanged runs, by partner and class: flat instruction
# counts may call a rise noise only up to this (prove_gate, --injections and CI runs: docs/gate.md).
NOISE_ENVELOPE: dict[str, dict[str, float]] = {
    "native": {"onnx-cpu-1thread/tiny": 1.10, "onnx-cpu-1thread/medium": 0.55, "onnx-cpu-1thread/large": 0.55},
    "reference": {
        "onnx-cpu-1thread/tiny": 0.85, "onnx-cpu-1thread/medium": 0.20, "onnx-cpu-1thread/large": 0.22,
        "native/tiny": 0.52, "native/medium": 0.52, "native/large": 0.52,
    },
}

# --- wall time (RatioRegression(clock="wall")) -------------------------------------------------
# Minimum rise of the median wall-time ratio vs the reference that fails; one row only: from 256 rows
# preemption moved unchanged runs more than a 200 us wait did (prove_gate --injections: docs/gate.md).
WALL_MIN_EFFECT: dict[str, float] = {"onnx-cpu-1thread/tiny": 1.0}

# --- tails (TailRegression) --------------------------------------------------------------------
TAIL_QUANTILES = (90, 99)  # the quantiles of the tail block's per-call ratios that are judged
TAIL_CLASSES = ("onnx-cpu-1thread/tiny", "onnx-cpu-1thread/medium")  # the classes prove_gate --injections proved
TAIL_MIN_EFFECT: dict[int, float] = {90: 1.0, 99: 1.0}  # unchanged p90 moved -8%..+11%, p99 up to +434%
TAIL_MIN_SHARE: dict[int, float] = {90: 0.06, 99: 0.04}  # 4x what the quantile allows beyond its bar
TAIL_MIN_ROUNDS = 100  # fewer rounds hold no p99 worth judging (4096 rows: the budget allows ~30)

# --- instruction counts (CountRegression) --------------------------------------------------------
COUNT_SPREAD = 0.01  # largest difference between processes counting the same call (prove_gate --counts)
COUNT_THRESHOLD = 0.03  # instructions per call: 3x COUNT_SPREAD
CYCLES_THRESHOLD = 0.15  # estimated cycles: the cache model moved 9.3% with the heap's layout alone
# Syscalls and page faults per call, judged in units of a floor (one more syscall matters as much at
# 11 as at 0): measure -> (floor per call, threshold as a share of the floor). Syscalls fail from
# +1.5 per call, faults from +16 (an unchanged CatBoost graph read 4 then 5 syscalls: docs/gate.md).
KERNEL_LIMITS: dict[str, tuple[float, float]] = {"syscalls": (2.0, 0.75), "faults": (32.0, 0.5)}
KERNEL_PATHS = ("engine", "onnxruntime")  # kernel measures are judged here; native calls' go through glibc's mmap
# Cold start (counts.COLD_PATHS), instructions only: session creation moved 1.3% between processes,
# the first call 38% (lazy initialisation), so +50% and +100% (onnxruntime #27391's O(n^2) load fails).
COLD_THRESHOLDS = {"session-creation": 0.5, "first-call": 1.0}
COLD_PATHS = tuple(COLD_THRESHOLDS)

# --- side by side (gate --against): the row's own time per call, head against base -------------
# Above the largest median rise between unchanged sides in prove_against's A/A trials (20 trials at
# load 7-13, docs/gate.md): one-row ONNX calls moved up to +77% between two processes of the same code,
# 256-row ones +9.5% (wall +10.7% in 8 more at load 3-7), native rows +18% (1 row) and +14.5% (256 rows;
# +32% beside an injected process; their wall +53%, not gated).
# A class not listed (4096 rows: not measured; multi-threaded rows) is reported, not gated.
SIDE_BY_SIDE_MIN_EFFECT: dict[str, dict[str, float]] = {
    "cpu": {"native/tiny": 0.5, "native/medium": 0.35, "onnx-cpu-1thread/tiny": 1.0, "onnx-cpu-1thread/medium": 0.15},
    "wall": {"onnx-cpu-1thread/tiny": 1.0, "onnx-cpu-1thread/medium": 0.25},
}
