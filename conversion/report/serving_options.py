"""The report's "other ways to serve this model": per batch size, every path measured, fastest first.

The wrapper's call, the adapter's fastest native call, the best ONNX path and each compiled peer
(bench/peers.py), ranked by the one time measure speedups use (results/speedups.py). A peer
whose answers differ from the wrapper's beyond summation rounding is listed as not exact and
never named the fastest.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from conversion.results.benchmark_runs import Record
from conversion.results.speedups import speedup

__all__ = ["NO_PEERS", "serving_options"]

NO_PEERS = ("No compiled peer was measured: pip install 'onnxgate[peers]' (lleaves, Treelite with TL2cgen) "
            "and run again to rank them here.")


def _exact(rec: Record) -> bool:
    return rec.runtime != "peer" or rec.parity == "passed"


def serving_options(latency: list[Record]) -> list[dict[str, Any]]:
    """One model's paths per batch size: ``{"batch", "paths": [{label, p50, relative, exact, ...}], "fastest"}``.

    ``relative`` is each path's time over the fastest exact path's (1.0 for it); one-thread rows only,
    so every path is compared on the same single core."""
    by_batch: dict[int, list[Record]] = defaultdict(list)
    for r in latency:
        if (r.threads or 1) == 1 and (r.runtime != "onnx" or r.provider in (None, "CPUExecutionProvider")):
            by_batch[r.batch_size].append(r)
    out = []
    for batch in sorted(by_batch):
        rows = by_batch[batch]
        exact = [r for r in rows if _exact(r)]
        if len(rows) < 2 or not exact:
            continue
        # speedup(a, b) is a's time over b's; the fastest exact path has the largest speedup over any other
        fastest = max(exact, key=lambda r: speedup(rows[0], r))
        paths = sorted(({"label": r.label, "runtime": r.runtime, "p50": r.p50, "exact": _exact(r),
                         "relative": speedup(r, fastest), "parity_detail": r.parity_detail if r.runtime == "peer"
                         else "", "build_s": r.compile_s if r.runtime == "peer" else
                         (r.conversion_s if r.runtime == "onnx" else None)} for r in rows),
                       key=lambda p: p["relative"])
        out.append({"batch": batch, "paths": paths, "fastest": fastest.label})
    return out
