"""Prove the counts verdict (``python -m benchmarks.prove_gate --counts``): detection and false alarms.

Every run is one valgrind process counting the XGBoost small model (native, engine and raw
ONNX Runtime at each batch size), exactly as ``onnxgate bench --counts`` counts it. Cases:

- ``unchanged``: the code as it is; ``busy``: the same while other processes spin on every core;
- ``ort+5%`` / ``ort+25%``: every ``InferenceSession.run`` does that much more work, the way an
  onnxruntime upgrade would look: a wrapper adds deterministic native work (a numpy reduction
  on the calling thread) sized to the fraction of the raw call's instructions measured in
  the first unchanged run at that batch size;
- ``bigger``: the same XGBoost model trained with more trees (prove_gate's time case).

False-alarm trials: every ordered pair of unchanged/busy runs, per benchmark (row x path).
Detection trials: every (slowed run, unchanged or busy run) pair, per benchmark; a trial is
detected when the gate's own count rule (``CountRegression``) flags that row.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["analyse", "inject_ort_work", "main", "more_trees_calls", "render", "run_cases", "work_calls"]

log = logging.getLogger("onnxgate.prove_counts")

MODEL = "xgboost-synthetic-small"
ONNX_PATHS = ("engine", "onnxruntime")
_BUFFER = 1 << 22  # float64 elements: enough for 25% of a 4096-row call


# --- hooks run inside the valgrind worker -------------------------------------------------

def work_calls(batches: Sequence[int], paths: Sequence[str]) -> list[tuple[int, str, Any]]:
    """The injected work alone, ``batch`` = number of elements: calibrates instructions per element."""
    import numpy as np

    buf = np.ones(_BUFFER)
    views = {k: buf[:k] for k in batches}
    return [(k, "work", lambda v=views[k]: np.add.reduce(v)) for k in batches]


def inject_ort_work(fraction: float, raw_instructions: dict[str, float], per_element: float,
                    fixed: float) -> None:
    """Wraps InferenceSession.run so each call also does ``fraction`` x its measured instructions."""
    import numpy as np
    import onnxruntime as ort

    buf = np.ones(_BUFFER)
    views = {int(rows): buf[: max(0, min(_BUFFER, round((fraction * ir - fixed) / per_element)))]
             for rows, ir in raw_instructions.items()}
    original = ort.InferenceSession.run
    add_reduce = np.add.reduce

    def run(self: Any, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        out = original(self, output_names, input_feed, run_options)
        view = views.get(next(iter(input_feed.values())).shape[0])
        if view is not None:
            add_reduce(view)
        return out

    ort.InferenceSession.run = run


def more_trees_calls(batches: Sequence[int], paths: Sequence[str], *,
                     trees: dict[str, int]) -> list[tuple[int, str, Any]]:
    """The engine and raw session of the same XGBoost model trained with more trees (``{batch: trees}``)."""
    from benchmarks.counts import model_calls
    from benchmarks.prove_gate import _models

    prep, _, converted = _models([trees[str(b)] for b in batches])
    onnx_paths = [p for p in paths if p != "native"]
    return [c for b in batches for c in model_calls(prep, converted[trees[str(b)]], [b], onnx_paths)]


# --- the parent ---------------------------------------------------------------------------

def _spinners(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _count(batches: Sequence[int], hooks: dict[str, Any] | None = None,
           paths: Sequence[str] = ("native", *ONNX_PATHS)) -> dict[str, Any]:
    from benchmarks.counts import count_model

    return count_model(MODEL, batches, paths=paths, hooks=hooks)["per_call"]


def run_cases(batches: Sequence[int], *, runs: int, busy_runs: int, slow_runs: int,
              trees: dict[int, int]) -> dict[str, list[dict[str, Any]]]:
    """Counts every case; returns ``{case: [per_call, ...]}``. Runs one at a time (fair to the spinners)."""
    out: dict[str, list[dict[str, Any]]] = {"unchanged": [], "busy": [], "ort+5%": [], "ort+25%": [], "bigger": []}
    log.info("%d unchanged runs, two at a time", runs)
    with ThreadPoolExecutor(max_workers=2) as pool:
        out["unchanged"] = list(pool.map(lambda _: _count(batches), range(runs)))
    spin = _spinners(os.cpu_count() or 1)
    try:
        log.info("%d busy runs, two at a time, beside %d spinning processes", busy_runs, len(spin))
        with ThreadPoolExecutor(max_workers=2) as pool:
            out["busy"] = list(pool.map(lambda _: _count(batches), range(busy_runs)))
    finally:
        for p in spin:
            p.kill()
            p.wait()
    cal = _count([1000, 200_000], {"maker": {"call": "benchmarks.prove_counts:work_calls"}}, paths=["work"])
    per_element = (cal["200000"]["work"]["instructions"] - cal["1000"]["work"]["instructions"]) / 199_000
    fixed = cal["1000"]["work"]["instructions"] - 1000 * per_element
    log.info("injected work: %.3f instructions per element + %.0f per call", per_element, fixed)
    raw = {b: out["unchanged"][0][b]["onnxruntime"]["instructions"] for b in out["unchanged"][0]}
    jobs: list[tuple[str, dict[str, Any]]] = []
    for fraction in (0.05, 0.25):
        hooks = {"setup": [{"call": "benchmarks.prove_counts:inject_ort_work",
                            "kwargs": {"fraction": fraction, "raw_instructions": raw, "per_element": per_element,
                                       "fixed": fixed}}]}
        jobs += [(f"ort+{fraction:.0%}", hooks)] * slow_runs
    bigger = {"maker": {"call": "benchmarks.prove_counts:more_trees_calls",
                        "kwargs": {"trees": {str(b): trees[b] for b in batches}}}}
    jobs += [("bigger", bigger)] * slow_runs
    log.info("%d slowed runs, two at a time", len(jobs))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for (case, _), counted in zip(jobs, pool.map(lambda j: _count(batches, j[1], paths=ONNX_PATHS), jobs),
                                      strict=True):
            out[case].append(counted)
    return out


def _record(per_call: dict[str, Any], batch: str, path: str) -> Any:
    from benchmarks.prove_gate import Config  # a Record shaped like the suite's
    from benchmarks.prove_gate import _record as time_record

    raw = {"target_wall": [1.0], "target_cpu": [1.0], "partner_wall": {"native": [1.0], "reference": [1.0]},
           "partner_cpu": {"native": [1.0], "reference": [1.0]}}  # times play no part in the count rule
    rec = time_record(Config("native" if path == "native" else "onnx", int(batch), None if path == "native" else 1),
                      raw)
    return dataclasses.replace(rec, counts={path: per_call[batch][path]} if path in per_call.get(batch, {}) else {})


def analyse(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """False alarms and detections of the gate's count rule, per case, batch and path."""
    from benchmarks.gate import CountRegression

    rule = CountRegression()
    quiet = runs["unchanged"] + runs["busy"]
    benches = sorted({(b, p) for r in quiet for b, paths in r.items() for p in paths}, key=lambda x: (int(x[0]), x[1]))
    rows: dict[str, dict[str, Any]] = {}
    for b, p in benches:
        name = f"b{b}-{p}"
        unchanged = [_record(r, b, p) for r in quiet]
        pairs = list(itertools.permutations(range(len(unchanged)), 2))
        spread = max((abs(unchanged[j].counts[p]["instructions"] / unchanged[i].counts[p]["instructions"] - 1)
                      for i, j in pairs), default=0.0)
        row: dict[str, Any] = {"false_alarms": sum(bool(rule.fails(unchanged[j], unchanged[i])) for i, j in pairs),
                               "unchanged_trials": len(pairs), "spread": spread,
                               "busy_vs_quiet": max((abs(_record(x, b, p).counts[p]["instructions"]
                                                         / _record(y, b, p).counts[p]["instructions"] - 1)
                                                     for x in runs["busy"] for y in runs["unchanged"]), default=None)}
        for case in ("ort+5%", "ort+25%", "bigger"):
            slow = [_record(r, b, p) for r in runs[case] if p in r.get(b, {})]
            if not slow:
                continue
            base_ir = unchanged[0].counts[p]["instructions"]
            row[case] = {"detected": sum(bool(rule.fails(s, u)) for s in slow for u in unchanged),
                         "trials": len(slow) * len(unchanged),
                         "effect": min(s.counts[p]["instructions"] for s in slow) / base_ir - 1}
        rows[name] = row
    cases = ("ort+5%", "ort+25%", "bigger")
    total = {case: [sum(r[case]["detected"] for r in rows.values() if case in r),
                    sum(r[case]["trials"] for r in rows.values() if case in r)] for case in cases}
    return {"per_benchmark": rows, "detections": total,
            "false_alarms": [sum(r["false_alarms"] for r in rows.values()),
                             sum(r["unchanged_trials"] for r in rows.values())],
            "max_spread": max(r["spread"] for r in rows.values())}


def main(args: Any) -> int:
    """prove_gate's ``--counts`` mode (its arguments: batches, runs, json, raw, from_raw, trees)."""
    if args.from_raw:
        runs = json.loads(args.from_raw.read_text())["runs"]
    else:
        batches = [int(b) for b in args.batches.split(",")]
        trees = {int(b): int(t) for b, t in (x.split(":") for x in args.trees.split(","))}
        runs = run_cases(batches, runs=args.runs, busy_runs=args.runs, slow_runs=args.slow_runs, trees=trees)
        if args.raw:
            args.raw.write_text(json.dumps({"runs": runs}))
    summary = analyse(runs)
    print(render(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


def render(summary: dict[str, Any]) -> str:
    lines = [f"{'benchmark':<16} {'spread':>7} {'false alarms':>12}  "
             + "  ".join(f"{c + ' effect / detected':>26}" for c in ("ort+5%", "ort+25%", "bigger"))]
    for name, r in summary["per_benchmark"].items():
        cells = [f"{r[c]['effect']:+.1%} {r[c]['detected']:>4}/{r[c]['trials']:<4}" if c in r else "-"
                 for c in ("ort+5%", "ort+25%", "bigger")]
        lines.append(f"{name:<16} {r['spread']:>7.3%} {r['false_alarms']:>5}/{r['unchanged_trials']:<6}  "
                     + "  ".join(f"{c:>26}" for c in cells))
    fa, n = summary["false_alarms"]
    lines.append(f"false alarms: {fa}/{n}; largest run-to-run spread: {summary['max_spread']:.3%}")
    lines += [f"detected {case}: {d}/{t}" for case, (d, t) in summary["detections"].items()]
    return "\n".join(lines)
