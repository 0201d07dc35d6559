"""The one speedup: a native path's time over ONNX's, per model and batch size.

Every figure users quote (the report's verdict, heatmap and crossover, `onnxgate run --json`,
the line `onnxgate bench` ends with) divides the same two numbers. Where both rows ran on one
thread and carry their interleaved ratios to the fixed reference model (interleave.py), the
speedup is ``median(native/reference) / median(onnx/reference)``: CPU time, each row timed
round by round against the same reference on the same rows, so load that comes and goes
between the two rows cancels. Otherwise (a row from an old run.json, several threads) it is
the ratio of the two rows' p50s.
"""

from __future__ import annotations

import math

from conversion.results.benchmark_runs import Record

__all__ = ["best_native", "speedup"]


def _one_thread(rec: Record) -> bool:
    return (rec.threads or 1) == 1


def speedup(native: Record, onnx: Record) -> float:
    """``native`` time / ``onnx`` time: above 1, ONNX is faster."""
    if native.ref_ratio_p50 and onnx.ref_ratio_p50 and _one_thread(native) and _one_thread(onnx):
        return native.ref_ratio_p50 / onnx.ref_ratio_p50
    return native.p50 / onnx.p50 if onnx.p50 > 0 else math.inf


def best_native(natives: list[Record]) -> Record | None:
    """The faster native path (the wrapper's call or the adapter's fastest), by the speedup's own measure."""
    if not natives:
        return None
    if all(n.ref_ratio_p50 for n in natives):
        return min(natives, key=lambda n: n.ref_ratio_p50 or math.inf)
    return min(natives, key=lambda n: n.p50)
