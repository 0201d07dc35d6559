"""Auto-routing: Predictor(policy="auto") against the faster of native (the adapter's fastest call,
Adapter.fast_native) and ONNX, 1..65 536 rows.

Goal (runtime issue): within 10% of the faster path at every batch size, for all four
frameworks. Per framework the Predictor calibrates once (timed, reported), then at each batch
size the native model, the ONNX engine and the routed predictor run in rotating order on the
same rows, single-threaded, timed by the process's CPU clock (immune to the time other
jobs on the shared machine take from us; the process's, since a native library may hand part of a
call to a thread of its own). The asserted ratio is routed / min(native, ONNX)
with the predictor pinned to each path as the comparison, so the figure judges the routing
decision; the ratio against the bare calls (which adds the predictor's own per-call cost) is
recorded beside it. Sizes off the calibration grid (3, 100, 700, 3 000, 10 000, 40 000)
check the interpolation between measured sizes. The full profile (``--onnxgate-profile
full``) measures all 13 sizes; the default quick profile, which CI runs, measures 1, 256 and
4 096 rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from conversion import ConvertedModel, Predictor
from conversion.bench.prepared import prepare
from conversion.bench.settings import check_goal, settings_of
from conversion.bench.zoo import FRAMEWORKS, ZooSpec
from conversion.converter.frameworks import adapter_named
from conversion.runtime.latency import cyclic_rows
from conversion.runtime.timing import cpu_clock, interleaved

GOAL = 1.10
SIZES = (1, 3, 16, 100, 256, 700, 1024, 3000, 4096, 10_000, 16_384, 40_000, 65_536)
QUICK_SIZES = (1, 256, 4096)  # the quick profile's batch sizes (conversion/bench/cases.py)
BUDGET_S = 1.2  # per batch size, for all paths together


def _rounds(fns: dict[str, Callable[[], Any]], budget_s: float) -> dict[str, float]:
    """CPU ms per call of each function (20th percentile of rounds), in rotating order."""
    names = list(fns)
    clock = cpu_clock(1, native_threads=True)
    t0 = clock()
    for fn in fns.values():
        fn()
    one_round = (clock() - t0) / 1e9
    rounds = int(min(41, max(5, budget_s / max(one_round, 1e-9))))
    reps = int(max(1, min(200, 2e-3 / max(one_round / len(names), 1e-9))))  # >= ~2 ms per timing
    times = interleaved(fns, rounds=rounds, reps=reps, clocks={"cpu": clock})
    # The 20th percentile, not the median: on this 2-core machine other jobs share the cores
    # (and their caches), which inflates even CPU time; the low quantile is the steadier
    # estimate of each path's own cost, and all paths are judged by the same statistic.
    return {n: float(np.percentile(v["cpu"], 20)) / 1e6 for n, v in times.items()}


def _copy(converted: ConvertedModel) -> ConvertedModel:
    return ConvertedModel(converted.onnx, converted.framework, converted.task, converted.n_features,
                          converted.classes, dict(converted.methods), dict(converted.metadata))


def _plan(request: pytest.FixtureRequest, framework: str) -> tuple[tuple[int, ...], float]:
    """(batch sizes, budget per size) for this run; the quick profile keeps within CI's budget."""
    settings = settings_of(request.config)
    if framework not in settings.frameworks:
        pytest.skip(f"{framework} not selected by --onnxgate-frameworks")
    if settings.profile.name == "quick":
        return QUICK_SIZES, BUDGET_S / 2
    return SIZES, BUDGET_S


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_auto_routing_is_within_10pct_of_the_faster_path(
    benchmark: Any, framework: str, request: pytest.FixtureRequest
) -> None:
    sizes, budget_s = _plan(request, framework)
    quick = sizes == QUICK_SIZES
    prep = prepare(ZooSpec(framework, "synthetic", "small"))
    if prep.converted is None:
        pytest.skip(f"no ONNX model for {framework}: {prep.parity} ({prep.parity_detail[:200]})")
    model, method, X = prep.zoo.model, prep.method, prep.zoo.X
    converted = _copy(prep.converted)
    start = time.perf_counter()
    auto = Predictor(model, converted, threads=1, calibration_data=X)
    calibration_s = time.perf_counter() - start
    pinned = {p: Predictor(model, converted, policy=p, engine=auto.engine) for p in ("onnx", "native")}
    adapter, engine = adapter_named(framework), auto.engine
    # The bare native side is the adapter's fastest call, the one Predictor serves natively (issue 30).
    fast_call = adapter.fast_native(model, method).call
    fast = (lambda Xb: lambda: fast_call(Xb)) if fast_call else None
    rows = []
    for n in sizes:
        Xb = engine.prepare(cyclic_rows(X, n))
        fns = {
            "native": fast(Xb) if fast else adapter.native_call(model, method, Xb),
            "onnx": lambda Xb=Xb: engine.run(method, Xb),
            "pinned_native": lambda Xb=Xb: pinned["native"].run(method, Xb),
            "pinned_onnx": lambda Xb=Xb: pinned["onnx"].run(method, Xb),
            "routed": lambda Xb=Xb: auto.run(method, Xb),
        }
        t = _rounds(fns, budget_s)
        ratio = t["routed"] / max(min(t["pinned_native"], t["pinned_onnx"]), 1e-9)
        if ratio > GOAL:  # one re-measurement: a single noisy median must not decide
            t = _rounds(fns, 2 * budget_s)
            ratio = t["routed"] / max(min(t["pinned_native"], t["pinned_onnx"]), 1e-9)
        rows.append({
            "rows": n,
            "route": auto.route(n),
            "faster": "onnx" if t["onnx"] < t["native"] else "native",
            "native_ms": t["native"],
            "onnx_ms": t["onnx"],
            "routed_ms": t["routed"],
            "speedup_native_over_onnx": t["native"] / max(t["onnx"], 1e-9),
            "ratio_vs_faster_pinned": ratio,
            "ratio_vs_faster_bare": t["routed"] / max(min(t["native"], t["onnx"]), 1e-9),
        })
    # The quick profile cannot afford the rounds that resolve near-ties, so there only sizes
    # where one path is clearly (>25%) faster are judged; the full profile judges every size.
    judged = [r for r in rows
              if not quick or max(r["native_ms"], r["onnx_ms"]) > 1.25 * min(r["native_ms"], r["onnx_ms"])]
    worst = max(judged or rows, key=lambda r: r["ratio_vs_faster_pinned"])
    benchmark.extra_info.update({
        "onnxgate_kind": "routing",  # results.py reads only "latency" entries; reports may read these
        "framework": framework,
        "model": prep.zoo.name,
        "method": method,
        "goal_ratio": GOAL,
        "judged_sizes": [r["rows"] for r in judged],
        "calibration_s": calibration_s,
        "crossovers": auto.calibration.crossovers if auto.calibration else [],
        "max_ratio_vs_faster_pinned": worst["ratio_vs_faster_pinned"],
        "max_ratio_vs_faster_bare": max(r["ratio_vs_faster_bare"] for r in rows),
        "rows": rows,
    })
    x1 = engine.prepare(X[:1])
    benchmark(auto.run, method, x1)
    benchmark.extra_info["goal_met"] = worst["ratio_vs_faster_pinned"] <= GOAL
    check_goal(
        request.config,
        benchmark.extra_info["goal_met"],
        f"{framework}: auto-routing is {worst['ratio_vs_faster_pinned']:.2f}x the faster path at "
        f"{worst['rows']} rows (goal <= {GOAL}x): {json.dumps(worst)}",
    )
