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


def _options(rows: list[Record]) -> tuple[list[dict[str, Any]], str] | None:
    exact = [r for r in rows if _exact(r)]
    if len(rows) < 2 or not exact:
        return None
    # speedup(a, b) is a's time over b's; the fastest exact path has the largest speedup over any other
    fastest = max(exact, key=lambda r: speedup(rows[0], r))
    paths = sorted(({"label": r.label, "runtime": r.runtime, "p50": r.p50, "exact": _exact(r),
                     "relative": speedup(r, fastest),
                     "parity_detail": r.parity_detail if r.runtime == "peer" else "",
                     "build_s": {"peer": r.compile_s, "onnx": r.conversion_s}.get(r.runtime)}
                    for r in rows), key=lambda p: p["relative"])
    return paths, fastest.label


def serving_options(latency: list[Record]) -> list[dict[str, Any]]:
    """One model's paths per batch size and thread count: ``{"batch", "threads", "paths": [{label, p50,
    relative, exact, ...}], "fastest"}``, ``relative`` being a path's time over the fastest exact path's.

    On one thread every path is compared (the native rows on the model's own threads, which the zoo
    sets to one). Where the full profile also timed the fastest native call on several threads
    (threads at scale, from 4096 rows), the native and ONNX rows on that many threads are compared
    by their p50, wall time: what several threads buy is latency."""
    groups: dict[tuple[int, int], list[Record]] = defaultdict(list)
    for r in latency:
        if r.runtime == "onnx" and r.provider not in (None, "CPUExecutionProvider"):
            continue
        groups[(r.batch_size, r.threads or 1)].append(r)
    out = []
    for (batch, threads), rows in sorted(groups.items()):
        if threads > 1 and not any(r.runtime == "native" for r in rows):
            continue  # several threads but only ONNX measured on them: nothing to compare with
        options = _options(rows)
        if options is not None:
            out.append({"batch": batch, "threads": threads, "paths": options[0], "fastest": options[1]})
    return out
