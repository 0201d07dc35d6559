"""Where the work went: the origins and ONNX ops of a row that grew most between two runs.

Two records of the same row are compared on what the results files hold about the inside of a
call (conversion/bench):

- ``counts[path]["origin:NAME"]``: instructions per call by origin, from callgrind's per-object
  costs (callgrind_objects.py): onnxruntime, numpy, the framework's native library, python (the
  interpreter and onnxgate's own code), other;
- ``op_us``: microseconds per call by ONNX op type, from onnxruntime's profiler (measure.py).

An origin is named when it grew by more than the spread between processes counting the same call
(figures.COUNT_SPREAD of the call's instructions): +4 instructions of the interpreter beside +712,657
of onnxruntime is a re-count, not work. Ops are compared by their share of the profiled op time,
not by microseconds: the profiler times wall clock in each run's own process, so a baseline
recorded on a busier machine read TreeEnsembleRegressor 29,438 us per call at 4096 rows under
onnxruntime 1.22.0 and 22,045 us under 1.23.0, which does 32% more instructions. Shares cancel
the load; the op holding most of the time is named first, since a growth of onnxruntime's work
that large can only be in it.

The gate attaches the result to each regressed row (``Change.where``).
"""

from __future__ import annotations

from conversion.results.benchmark_runs import Record
from conversion.results.gate.figures import COUNT_SPREAD

__all__ = ["TOP", "where"]

TOP = 3  # how many origins (and ops) to name
# An op other than the dominant one is named when its share of the op time rose by this much
# (10 points): between two runs of the same code (onnxruntime 1.22.0, XGBoost small, quick
# profile) an op's share moved by up to 4.1 points at one row, one thread (5.3 with two threads).
OP_SHARE_RISE = 0.10
# The op holding most of the op time is named even at an unchanged share: a growth of onnxruntime's
# work can only be mostly in it.
HOLDS_MOST = 0.5
_PATH_LABEL = {"native": "native call", "engine": "engine call", "onnxruntime": "raw session"}


def _grown(before: dict[str, float], after: dict[str, float], prefix: str) -> list[tuple[str, float, float]]:
    """(name, before, after) of every key with ``prefix`` that grew, most grown first."""
    names = {k for k in (*before, *after) if k.startswith(prefix)}
    rows = [(k[len(prefix):], before.get(k, 0.0), after.get(k, 0.0)) for k in names]
    return sorted((r for r in rows if r[2] > r[1]), key=lambda r: r[1] - r[2])


def _rel(before: float, after: float) -> str:
    return f" ({after / before - 1:+.0%})" if before > 0 else " (new)"


def _origins(current: Record, baseline: Record, top: int) -> list[str]:

    # The user's own call: the engine on ONNX rows (its split includes the raw session's), else native.
    for path in ("engine", "native", "onnxruntime"):
        if path in current.counts and path in baseline.counts:
            floor = COUNT_SPREAD * float(baseline.counts[path].get("instructions") or 0.0)
            grown = [g for g in _grown(baseline.counts[path], current.counts[path], "origin:") if g[2] - g[1] > floor]
            return [f"{name} {after - before:+,.0f} instructions/call{_rel(before, after)}, {_PATH_LABEL[path]}"
                    for name, before, after in grown[:top]]
    return []


def _shares(op_us: dict[str, float]) -> dict[str, float]:
    total = sum(op_us.values())
    return {op: us / total for op, us in op_us.items()} if total > 0 else {}


def _ops(current: Record, baseline: Record, top: int) -> list[str]:
    """The op holding most of the op time, then ops whose share rose materially; else that the work grew
    evenly. A minor op at an unchanged share ("op Where 22% (baseline 22%)") is not where the work went."""
    now, before = _shares(current.op_us), _shares(baseline.op_us)
    if not now or not before:
        return []
    ranked = sorted(now, key=lambda op: (-now[op], op))
    named = [op for op in ranked if now[op] - before.get(op, 0.0) >= OP_SHARE_RISE]
    if now[ranked[0]] >= HOLDS_MOST and ranked[0] not in named:
        named.insert(0, ranked[0])
    if not named:
        return [f"ops: the work grew evenly (no op's share of the op time rose {OP_SHARE_RISE * 100:.0f} points; "
                f"largest op {ranked[0]} {now[ranked[0]]:.0%}), onnxruntime profiler"]
    return [f"op {op} {now[op]:.0%} of the op time (baseline {before.get(op, 0.0):.0%}), onnxruntime profiler"
            for op in named[:top]]


def where(current: Record, baseline: Record, *, top: int = TOP) -> tuple[str, ...]:
    """Lines naming the origins that grew most and the ops holding the time; () when nothing is recorded."""
    return (*_origins(current, baseline, top), *_ops(current, baseline, top))
