"""Engine overhead: InferenceEngine.run vs a raw InferenceSession.run on one row, and
Predictor(policy="auto") vs the engine.

Goals: the engine at most 1.25x the raw call (asserted in the full profile), at the floor
(<= 1.0x, issue 20) recorded as ``floor_met``; the auto policy at most 1.03x the engine
(``auto_met``); its calibration at most 1 s for the XGBoost 100x6 model (``calibration_met``).
All paths use the same session (same graph, same thread), alternate in blocks within one
run, and the ratio is taken per block, so drift on the shared machine cancels. The ratio uses
the calling thread's CPU time (threads=1 runs ORT on the caller's thread), which does not count time
spent descheduled by other jobs; the wall-clock ratio is recorded beside it.

Measured on the shared 2-core AMD EPYC (load 8-9), median of 41 blocks of 200 calls,
``pytest benchmarks/test_engine_overhead.py``, main (9e30b8f) and this change run alternately in
the same hour, two runs each:

| framework | engine / raw run, before | after | auto / engine, before | after | calibration s, before | after |
|---|---|---|---|---|---|---|
| XGBoost | 0.94-0.96 | 0.89 | 1.14 | 1.01-1.02 | 0.84-1.01 | 0.82-1.00 |
| LightGBM | 0.94-0.95 | 0.88-0.89 | 1.14-1.15 | 1.01-1.02 | 0.48-0.49 | 0.46-0.47 |
| CatBoost | 0.95-0.96 | 0.89-0.90 | 1.14 | 1.02 | 0.49-0.65 | 0.43-0.45 |
| RandomForest | 1.07-1.09 | 0.98-0.99 | 1.13 | 1.01-1.03 | 9.1-9.2 | 9.0-9.4 |

The engine checks one row inline and finds NaN/inf by the row's exponent bits; the predictor
writes the engine's one-row path out, counts every call exactly and times 1 in 16
(``latency_every``; timing every call measured 1.06-1.07x the engine). A ratio moves by about
0.015 from run to run here, so both goals hold with little to spare: of 11 runs of this engine
RandomForest was at 1.009 once (0.95-0.99 otherwise; its NaN/inf check still costs about 8%
of the call), and of 16 auto figures in 4 runs of this predictor one was 1.032 (XGBoost).
docs/runtime.md has the account.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from conversion import InferenceEngine, Predictor
from conversion.bench.prepared import prepare
from conversion.bench.settings import check_goal
from conversion.bench.zoo import FRAMEWORKS, ZooSpec
from conversion.runtime.timing import WALL, cpu_clock, interleaved
from conversion.serving.calibration import calibrate

GOAL = 1.25
FLOOR_GOAL = 1.0  # issue 20: the engine at the floor of a raw session
AUTO_GOAL = 1.03  # Predictor(policy="auto") over the engine at one row
CALIBRATION_GOAL_S = 1.0  # the XGBoost 100x6 model's calibration
BLOCKS, CALLS = 41, 200


def _blocks(fns: dict[str, Callable[[], Any]]) -> dict[str, dict[str, np.ndarray]]:
    """Per-block mean ns per call of each function, wall and CPU, the order rotating per block."""
    for fn in fns.values():  # warm caches and the engine's I/O bindings
        for _ in range(CALLS):
            fn()
    return interleaved(fns, rounds=BLOCKS, reps=CALLS, clocks={**WALL, "cpu": cpu_clock(1, native_threads=False)})


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_engine_overhead_one_row(benchmark: Any, framework: str, request: pytest.FixtureRequest) -> None:
    prep = prepare(ZooSpec(framework, "synthetic", "small"))
    if prep.converted is None:
        pytest.skip(f"no ONNX model for {framework}: {prep.parity} ({prep.parity_detail[:200]})")
    engine = InferenceEngine(prep.converted, threads=1)
    session, method = engine.session, prep.method
    feed_name = session.get_inputs()[0].name
    x = np.ascontiguousarray(prep.zoo.X[:1], dtype=prep.converted.dtype)
    binding = session.io_binding()
    binding.bind_output(method)

    def raw_iobinding() -> Any:
        binding.bind_cpu_input(feed_name, x)
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    # A copy of the model: the calibration goes into its metadata, which keys the session cache.
    converted = dataclasses.replace(prep.converted, metadata=dict(prep.converted.metadata))
    start = time.perf_counter()
    calibration = calibrate(prep.zoo.model, engine, data=prep.zoo.X, method=method)
    calibration_s = time.perf_counter() - start
    converted.metadata["calibration"] = calibration.to_json()
    auto = Predictor(prep.zoo.model, converted, engine=engine)
    assert auto.calibration is not None and auto.route(1) == "onnx"

    fns = {
        "raw_run": lambda: session.run([method], {feed_name: x}),
        "engine": lambda: engine.run(method, x),
        "raw_iobinding": raw_iobinding,
        "auto": lambda: auto.run(method, x),
    }
    t = _blocks(fns)
    ratio_cpu = t["engine"]["cpu"] / t["raw_run"]["cpu"]
    auto_ratio = float(np.median(t["auto"]["cpu"] / t["engine"]["cpu"]))
    ratio_wall = t["engine"]["wall"] / t["raw_run"]["wall"]
    iob_ratio = t["raw_iobinding"]["cpu"] / t["raw_run"]["cpu"]
    benchmark.extra_info.update(
        {
            "onnxgate_kind": "engine_overhead",  # results.py reads only "latency" entries; reports may read these
            "framework": framework,
            "method": method,
            "call_path": engine.call_path,
            "goal_ratio": GOAL,
            "ratio_cpu_median": float(np.median(ratio_cpu)),
            "ratio_cpu_p90": float(np.percentile(ratio_cpu, 90)),
            "ratio_wall_median": float(np.median(ratio_wall)),
            "raw_iobinding_over_run_median": float(np.median(iob_ratio)),
            "raw_run_us": float(np.median(t["raw_run"]["wall"])) / 1e3,
            "engine_us": float(np.median(t["engine"]["wall"])) / 1e3,
            "raw_iobinding_us": float(np.median(t["raw_iobinding"]["wall"])) / 1e3,
            "floor_goal_ratio": FLOOR_GOAL,
            "auto_over_engine_median": auto_ratio,
            "auto_goal_ratio": AUTO_GOAL,
            "auto_met": auto_ratio <= AUTO_GOAL,
            "calibration_s": calibration_s,
            "crossovers": calibration.crossovers,
            "calibration_met": calibration_s <= CALIBRATION_GOAL_S if framework == "xgboost" else None,
        }
    )
    # The second goal (below 1.0x where a cheaper call path exists) is recorded, not asserted:
    # validation and the cast to the native dtype cost about as much as the path saves.
    benchmark.extra_info["cheaper_path_exists"] = bool(np.median(iob_ratio) < 0.97)
    benchmark.extra_info["below_raw"] = bool(benchmark.extra_info["ratio_cpu_median"] < 1.0)
    benchmark.extra_info["floor_met"] = bool(benchmark.extra_info["ratio_cpu_median"] <= FLOOR_GOAL)
    benchmark(engine.run, method, x)
    median = benchmark.extra_info["ratio_cpu_median"]
    benchmark.extra_info["goal_met"] = median <= GOAL
    check_goal(
        request.config,
        median <= GOAL,
        f"{framework}: engine costs {median:.2f}x a raw InferenceSession.run on one row (goal <= {GOAL}x); "
        f"call path {engine.call_path}, {benchmark.extra_info}",
    )
