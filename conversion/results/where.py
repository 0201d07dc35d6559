"""Where the work went: the origins and ONNX ops of a row that grew most between two runs.

Two records of the same row are compared on what the results files hold about the inside of a
call (conversion/bench):

- ``counts[path]["origin:NAME"]``: instructions per call by origin, from callgrind's per-object
  costs (callgrind_objects.py): onnxruntime, numpy, the framework's native library, python (the
  interpreter and onnxgate's own code), other;
- ``op_us``: microseconds per call by ONNX op type, from onnxruntime's profiler (measure.py).

The gate attaches the result to each regressed row (``Change.where``).
"""

from __future__ import annotations

from conversion.results.benchmark_runs import Record

__all__ = ["TOP", "where"]

TOP = 3  # how many origins (and ops) to name
_PATH_LABEL = {"native": "native call", "engine": "engine call", "onnxruntime": "raw session"}


def _grown(before: dict[str, float], after: dict[str, float], prefix: str) -> list[tuple[str, float, float]]:
    """(name, before, after) of every key with ``prefix`` that grew, most grown first."""
    names = {k for k in (*before, *after) if k.startswith(prefix)}
    rows = [(k[len(prefix):], before.get(k, 0.0), after.get(k, 0.0)) for k in names]
    return sorted((r for r in rows if r[2] > r[1]), key=lambda r: r[1] - r[2])


def _rel(before: float, after: float) -> str:
    return f" ({after / before - 1:+.0%})" if before > 0 else " (new)"


def where(current: Record, baseline: Record, *, top: int = TOP) -> tuple[str, ...]:
    """Lines naming the origins and ops that grew most, with their deltas; () when nothing is recorded."""
    lines: list[str] = []
    # The user's own call: the engine on ONNX rows (its split includes the raw session's), else native.
    for path in ("engine", "native", "onnxruntime"):
        if path in current.counts and path in baseline.counts:
            grown = _grown(baseline.counts[path], current.counts[path], "origin:")
            lines += [f"{name} {after - before:+,.0f} instructions/call{_rel(before, after)}, {_PATH_LABEL[path]}"
                      for name, before, after in grown[:top]]
            break
    ops = _grown({f"op:{k}": v for k, v in baseline.op_us.items()}, {f"op:{k}": v for k, v in current.op_us.items()},
                 "op:")
    lines += [f"op {name} {after - before:+.1f} us/call{_rel(before, after)}, onnxruntime profiler"
              for name, before, after in ops[:top]]
    return tuple(lines)
