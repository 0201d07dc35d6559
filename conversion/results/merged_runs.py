"""The blocks of one side of `onnxgate gate --against`, measured in one job, as one results file.

The blocks of a side alternate with the other side's (base, head, head, base, ...), so each block
saw the machine in a different state; pooling their rounds gives both sides the same mix of states.
Per benchmark, the per-round fields are concatenated in block order, the summary statistics become
the medians of the blocks', and instruction counts (which do not move with load) come from the
block that counted them. The result is an ordinary results file: the gate and the report read it
like any other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from statistics import median
from typing import Any

from conversion.atomic import write_text_atomic
from conversion.errors import ResultsError
from conversion.results.benchmark_runs import ROUND_FIELDS, read_json_object

__all__ = ["merge_block_files"]

# extra_info fields that the merged row takes as the median of its blocks'.
_MEDIAN_INFO = ("reference_cpu_s", "wait_s", "session_s", "first_call_s", "peak_rss_mb")
_MEDIAN_STATS = ("min", "max", "mean", "stddev", "median", "p50", "p90", "p99", "iqr", "q1", "q3", "ops")


def _median_of(values: list[Any]) -> Any:
    known = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return median(known) if known else None


def _merged(benches: list[dict[str, Any]]) -> dict[str, Any]:
    first = json.loads(json.dumps(benches[0]))  # a deep copy: the blocks stay as they were read
    infos = [b.get("extra_info") or {} for b in benches]
    info = first.setdefault("extra_info", {})
    for key in ROUND_FIELDS:
        if any(key in i for i in infos):
            info[key] = [x for i in infos for x in (i.get(key) or [])]
    for key in _MEDIAN_INFO:
        if key in info:
            info[key] = _median_of([i.get(key) for i in infos])
    counted = next((i for i in infos if i.get("counts")), None)
    if counted is not None:
        info["counts"] = counted["counts"]
        if "counts_meta" in counted:
            info["counts_meta"] = counted["counts_meta"]
    failed = next((i for i in infos if i.get("parity") not in (None, "passed", "unknown")), None)
    if failed is not None:  # a parity failure in any block is the row's parity
        info["parity"], info["parity_detail"] = failed.get("parity"), failed.get("parity_detail", "")
    stats = first.setdefault("stats", {})
    all_stats = [b.get("stats") or {} for b in benches]
    for key in _MEDIAN_STATS:
        if key in stats:
            stats[key] = _median_of([s.get(key) for s in all_stats])
    stats["rounds"] = sum(int(s.get("rounds") or 0) for s in all_stats)
    stats.pop("data", None)
    return first


def merge_block_files(paths: Sequence[Path], target: Path) -> Path:
    """Writes the blocks' results files as one file ``target`` (atomically) and returns it.

    ResultsError if they come from different machines: blocks run in one job, on one machine."""
    if not paths:
        raise ResultsError("no benchmark blocks to merge: every block of this side failed to write results")
    docs = [read_json_object(p) for p in paths]
    machines = {str(((d.get("machine_info") or {}).get("onnxgate") or {}).get("machine_id")) for d in docs}
    if len(machines) > 1:
        raise ResultsError(f"the blocks {', '.join(map(str, paths))} come from different machines "
                           f"({', '.join(sorted(machines))}); the blocks of one gate run in one job on one machine")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        for bench in doc.get("benchmarks") or []:
            if isinstance(bench, dict):
                by_name.setdefault(str(bench.get("fullname") or bench.get("name")), []).append(bench)
    merged = dict(docs[0])
    merged["benchmarks"] = [_merged(benches) for benches in by_name.values()]
    merged["onnxgate_blocks"] = [str(p) for p in paths]
    return write_text_atomic(target, json.dumps(merged, indent=1) + "\n")
