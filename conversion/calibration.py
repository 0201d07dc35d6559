"""Where ONNX beats the native model on this machine: measured once, kept as JSON, read per call.

ONNX Runtime wins by 10-500x on one row and can lose by 14x on large batches of boosted
trees, and the crossover moves with framework, model and machine. So the routing table is
measured: both paths at batch sizes 1, 4, ..., 65 536, refined where the winner changes, and
a batch between two measured sizes is routed by interpolating log(native/onnx) in log(rows).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import platform
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import onnxruntime as ort

from .converted import ConvertedModel
from .engine import InferenceEngine
from .latency import measure_latency_improvement
from .parity import summarize_trees

__all__ = ["Calibration", "calibrate", "machine_fingerprint", "probe_rows", "DEFAULT_SIZES"]

log = logging.getLogger(__name__)

DEFAULT_SIZES: tuple[int, ...] = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536)
_FORMAT = 1


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
    return X.astype(converted.dtype)


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


def _measure(native_model: Any, engine: InferenceEngine, X: np.ndarray, size: int, method: str,
             budget_s: float) -> tuple[float, float]:
    first = measure_latency_improvement(native_model, engine, X, 1, batch_sizes=[size], method=method, warmup=1)
    pair_s = (first["native_avg_ms"] + first["onnx_avg_ms"]) / 1e3
    runs = int(min(31, max(3, budget_s / max(pair_s, 1e-9))))
    res = measure_latency_improvement(native_model, engine, X, runs, batch_sizes=[size], method=method, warmup=1)
    # The minimum of several medians would be steadier, but one median per size is enough to
    # rank two paths that differ by more than the 10% routing goal.
    return max(res["native_p50_ms"], 1e-9), max(res["onnx_p50_ms"], 1e-9)


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
    X = engine.prepare(data) if data is not None else probe_rows(engine.model)
    if X.shape[0] == 0:
        X = probe_rows(engine.model)
    table = {int(s): _measure(native_model, engine, X, int(s), method, budget_s) for s in sorted(set(sizes))}
    for _ in range(refine):
        keys = sorted(table)
        added = False
        for lo, hi in zip(keys, keys[1:]):
            if (table[lo][0] > table[lo][1]) != (table[hi][0] > table[hi][1]):
                mid = int(round(math.sqrt(lo * hi)))
                if lo < mid < hi and mid not in table:
                    table[mid] = _measure(native_model, engine, X, mid, method, budget_s)
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
        measured_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
    log.info("calibrated %s: ONNX faster at %s rows; crossovers at %s", engine.model.framework,
             [s for s, f in zip(keys, cal.log_ratio > 0) if f], cal.crossovers)
    return cal
