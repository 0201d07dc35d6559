"""Where ONNX beats the native model on this machine: measured once, kept as JSON, read per call.

ONNX Runtime wins by 10-500x on one row and can lose by 14x on large batches of boosted
trees, and the crossover moves with framework, model and machine. So the routing table is
measured: both paths at batch sizes 1, 4, ..., 65 536, refined where the winner changes, and
a batch between two measured sizes is routed by interpolating log(native/onnx) in log(rows).
Each path is timed through the calls routing makes (the adapter's native call, the engine's
validated-input call), so validation cost, paid on both paths alike, does not tip the balance.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import logging
import math
import os
import platform
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import numpy as np
import onnxruntime as ort

from ..converter.category_labels import CategoryLabels
from ..converter.converted import ConvertedModel
from ..parity.tree_summary import summarize_trees
from ..runtime.engine import InferenceEngine
from ..runtime.latency import cyclic_rows, native_matrix
from ..runtime.timing import interleaved

__all__ = ["DEFAULT_SIZES", "Calibration", "calibrate", "machine_fingerprint", "probe_rows"]

log = logging.getLogger(__name__)

# Up to 16 384 rows: beyond that both paths are linear in rows (the ratio at 65 536 rows was
# within a few % of the one at 16 384 for all four frameworks), and batches past the last
# measured size take its decision, so measuring 65 536 would only quadruple calibration time.
DEFAULT_SIZES: tuple[int, ...] = (1, 4, 16, 64, 256, 1024, 4096, 16384)
# 2: the native side is the adapter's fastest call (Adapter.fast_native); a format-1 table timed the
# wrapper's, which made native look up to 18x slower (LightGBM at one row), so it is measured again.
_FORMAT = 2


def machine_fingerprint(engine: InferenceEngine) -> dict[str, Any]:
    """What a calibration depends on besides the model; a mismatch means measure again."""
    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "providers": engine.providers,
        "threads": engine.options.threads,
        "framework_version": engine.model.metadata.get("framework_version", ""),
    }


def probe_rows(converted: ConvertedModel, n: int = 4096, *, seed: int = 0) -> np.ndarray:
    """Rows that take realistic paths through the trees: each feature drawn across its split points.

    Zeros would send every row down one path and make both runtimes look faster than on data.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, converted.n_features))
    for f, thresholds in summarize_trees(converted.onnx).splits.items():
        if thresholds.size and f < converted.n_features:
            lo, hi = float(thresholds[0]), float(thresholds[-1])
            pad = (hi - lo) * 0.05 + 1e-6
            X[:, f] = rng.uniform(lo - pad, hi + pad, size=n)
    labels = CategoryLabels.from_metadata(converted.metadata)
    return (labels.draw_labels(X, rng) if labels is not None else X).astype(converted.dtype)


@dataclass
class Calibration:
    """Median latency of both paths per batch size, and the routing decision derived from it."""

    sizes: list[int]
    native_ms: list[float]
    onnx_ms: list[float]
    method: str
    fingerprint: dict[str, Any]
    measured_at: str = ""

    @property
    def log_ratio(self) -> np.ndarray:
        return np.log(np.asarray(self.native_ms)) - np.log(np.asarray(self.onnx_ms))

    @cached_property
    def _switches(self) -> tuple[bool, list[float]]:
        """(ONNX faster at the smallest size, the row counts where the faster path changes).

        The log ratio is interpolated linearly in log(rows) between measured sizes, so each
        change of sign gives one exact switch point; routing a call is then one bisect, which
        matters when a one-row ONNX call takes 10 µs.
        """
        xs = np.log(np.asarray(self.sizes, dtype=np.float64))
        ys = self.log_ratio
        switches = []
        for i in range(len(ys) - 1):
            if (ys[i] > 0) != (ys[i + 1] > 0):
                t = ys[i] / (ys[i] - ys[i + 1])
                switches.append(math.exp(xs[i] + t * (xs[i + 1] - xs[i])))
        return bool(ys[0] > 0), switches

    def onnx_faster(self, rows: int) -> bool:
        """Whether ONNX is expected to be faster at ``rows``, interpolated between measured sizes."""
        first, switches = self._switches
        return first != (bisect_right(switches, rows) % 2 == 1)

    @property
    def crossovers(self) -> list[int]:
        """Batch sizes (measured or refined) where the faster path changes."""
        faster = self.log_ratio > 0
        return [self.sizes[i + 1] for i in range(len(self.sizes) - 1) if faster[i] != faster[i + 1]]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": _FORMAT,
                "sizes": self.sizes,
                "native_p50_ms": self.native_ms,
                "onnx_p50_ms": self.onnx_ms,
                "method": self.method,
                "fingerprint": self.fingerprint,
                "measured_at": self.measured_at,
                "crossovers": self.crossovers,
                "onnx_faster": [bool(v) for v in self.log_ratio > 0],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Calibration | None:
        """The stored calibration, or None if it is missing, malformed or of another format."""
        try:
            d = json.loads(text)
            n = len(d["sizes"])
            if d.get("format") != _FORMAT or not n or n != len(d["native_p50_ms"]) or n != len(d["onnx_p50_ms"]):
                return None
            return cls([int(s) for s in d["sizes"]], [float(v) for v in d["native_p50_ms"]],
                       [float(v) for v in d["onnx_p50_ms"]], d["method"], d["fingerprint"], d.get("measured_at", ""))
        except (ValueError, KeyError, TypeError):
            return None


_CLEAR = 1.5  # one path this much faster is decided: more rounds would not change the route
_FIRST_ROUNDS = 5


def _measure(native_model: Any, engine: InferenceEngine, rows: tuple[np.ndarray, np.ndarray], size: int,
             method: str, budget_s: float, *, early: bool = True) -> tuple[float, float]:
    """Milliseconds per call of each path at ``size`` rows: a low quantile of interleaved rounds.

    Wall time, because routing serves latency and a native model may use several threads.
    Other jobs on a shared machine only ever add time, so the 20th percentile of many rounds
    is a steadier estimate of each path's own cost than the median: with medians of 3-5 runs
    a loaded 2-core machine produced spurious crossovers. With ``early``, five rounds come
    first, and only when neither path is ``_CLEAR``-ly faster in them is the rest of the budget
    spent: a size where one path wins by 1.5-20x is routed the same whatever more rounds say.
    Sizes beside a change of winner are measured in full (five rounds there once showed a 1.2x
    win as 1.7x).
    """
    from ..converter.frameworks import adapter_named

    adapter = adapter_named(engine.model.framework)
    Xb = cyclic_rows(rows[0], size)  # the engine's prepared rows; rows[1] the same rows as the native model reads them
    Nb = Xb if rows[1] is rows[0] else cyclic_rows(rows[1], size)
    # The native side is the call Predictor serves natively: the adapter's fastest, where it has one.
    fast = adapter.fast_native(native_model, method).call if Nb.dtype.kind == "f" else None
    native = partial(fast, Nb) if fast is not None else adapter.native_call(native_model, method, Nb)
    fns = {"native": native, "onnx": lambda: engine.run_prepared(method, Xb)}
    first = []
    for fn in fns.values():  # warm-up, and a first estimate that sizes the rounds
        t0 = time.perf_counter_ns()
        fn()
        first.append(max(time.perf_counter_ns() - t0, 1))
    # Repeat tiny calls so one timing spans >= ~0.2 ms and the clock's own cost (~50 ns) vanishes.
    reps = int(min(200, max(1, 2e5 / min(first))))
    rounds = int(min(31, max(_FIRST_ROUNDS, budget_s * 1e9 / (reps * sum(first)))))
    t = interleaved(fns, rounds=_FIRST_ROUNDS, reps=reps)
    native, onnx = (float(np.percentile(t[n]["wall"], 20)) for n in fns)
    if rounds > _FIRST_ROUNDS and (not early or max(native, onnx) < _CLEAR * min(native, onnx)):
        more = interleaved(fns, rounds=rounds - _FIRST_ROUNDS, reps=reps)
        native, onnx = (float(np.percentile(np.concatenate([t[n]["wall"], more[n]["wall"]]), 20)) for n in fns)
    return max(native / 1e6, 1e-9), max(onnx / 1e6, 1e-9)


def _faster(entry: tuple[float, float]) -> bool:
    return entry[0] > entry[1]


def _settled(table: dict[int, tuple[float, float]]) -> bool:
    """Whether larger batches need no measuring: from 1 024 rows on, the last two sizes have
    one winner, clearly (``_CLEAR``) at the larger. There both paths are linear in rows, so
    the margin only approaches its limit (XGBoost: native 1.4-1.7x faster at 1 024 rows,
    1.6-2.1x at 4 096, 2.4x at 16 384); the largest size, the slowest to time, was a third of
    calibration. Below 1 000 rows a 10x ONNX win can still turn over."""
    if len(table) < 2:
        return False
    (lo, a), (_, b) = sorted(table.items())[-2:]
    margin_a, margin_b = math.log(a[0] / a[1]), math.log(b[0] / b[1])
    return lo >= 1024 and margin_a * margin_b > 0 and abs(margin_b) >= math.log(_CLEAR)


def calibrate(
    native_model: Any,
    engine: InferenceEngine,
    *,
    data: Any = None,
    sizes: Sequence[int] = DEFAULT_SIZES,
    method: str = "predict",
    budget_s: float = 0.15,
    refine: int = 2,
) -> Calibration:
    """Measures both paths at ``sizes`` and ``refine`` bisections around each change of winner."""
    X = engine.prepare(data) if data is not None else None
    if X is None or X.shape[0] == 0:
        data = probe_rows(engine.model)  # a CatBoost model's are labels, which prepare hashes to codes
        X = engine.prepare(data)
    rows = (X, native_matrix(engine, data, X))
    table: dict[int, tuple[float, float]] = {}
    for s in sorted(set(sizes)):
        if _settled(table):
            log.info("calibration: %d rows and above take the decision at %d rows", s, max(table))
            break
        table[int(s)] = _measure(native_model, engine, rows, int(s), method, budget_s)
        log.info("calibration: %d rows: native %.3g ms, ONNX %.3g ms", s, *table[int(s)])
    # A change of winner is where a noisy size would mislead routing most: confirm the sizes on
    # both sides of each one with a doubled budget before bisecting between them.
    keys = sorted(table)
    for lo, hi in itertools.pairwise(keys):
        if _faster(table[lo]) != _faster(table[hi]):
            for k in (lo, hi):
                table[k] = _measure(native_model, engine, rows, k, method, 2 * budget_s, early=False)
    for _ in range(refine):
        keys = sorted(table)
        added = False
        for lo, hi in itertools.pairwise(keys):
            if _faster(table[lo]) != _faster(table[hi]):
                mid = round(math.sqrt(lo * hi))
                if lo < mid < hi and mid not in table:
                    table[mid] = _measure(native_model, engine, rows, mid, method, budget_s, early=False)
                    added = True
        if not added:
            break
    keys = sorted(table)
    cal = Calibration(
        sizes=keys,
        native_ms=[table[k][0] for k in keys],
        onnx_ms=[table[k][1] for k in keys],
        method=method,
        fingerprint=machine_fingerprint(engine),
        measured_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    )
    log.info("calibrated %s: ONNX faster at %s rows; crossovers at %s", engine.model.framework,
             [s for s, f in zip(keys, cal.log_ratio > 0, strict=False) if f], cal.crossovers)
    return cal
