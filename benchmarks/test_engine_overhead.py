"""Engine overhead: InferenceEngine.run vs a raw InferenceSession.run on one row.

Goal (runtime issue): at most 1.25x the raw call (asserted), below 1.0x where a cheaper call
path than ``run`` exists (recorded in extra_info as ``below_raw``). Both
calls use the same session (same graph, same thread), alternate in blocks within one run, and
the ratio is taken per block, so drift on the shared machine cancels. The ratio uses the
calling thread's CPU time (threads=1 runs ORT on the caller's thread), which does not count
time spent descheduled by other jobs; the wall-clock ratio is recorded beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from conversion import InferenceEngine
from conversion.bench.prepared import prepare
from conversion.bench.settings import check_goal
from conversion.bench.zoo import FRAMEWORKS, ZooSpec
from conversion.runtime.timing import CPU, WALL, interleaved

GOAL = 1.25
BLOCKS, CALLS = 41, 200


def _blocks(fns: dict[str, Callable[[], Any]]) -> dict[str, dict[str, np.ndarray]]:
    """Per-block mean ns per call of each function, wall and CPU, the order rotating per block."""
    for fn in fns.values():  # warm caches and the engine's I/O bindings
        for _ in range(CALLS):
            fn()
    return interleaved(fns, rounds=BLOCKS, reps=CALLS, clocks={**WALL, **CPU})


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

    fns = {
        "raw_run": lambda: session.run([method], {feed_name: x}),
        "engine": lambda: engine.run(method, x),
        "raw_iobinding": raw_iobinding,
    }
    t = _blocks(fns)
    ratio_cpu = t["engine"]["cpu"] / t["raw_run"]["cpu"]
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
        }
    )
    # The second goal (below 1.0x where a cheaper call path exists) is recorded, not asserted:
    # validation and the cast to the native dtype cost about as much as the path saves.
    benchmark.extra_info["cheaper_path_exists"] = bool(np.median(iob_ratio) < 0.97)
    benchmark.extra_info["below_raw"] = bool(benchmark.extra_info["ratio_cpu_median"] < 1.0)
    benchmark(engine.run, method, x)
    median = benchmark.extra_info["ratio_cpu_median"]
    benchmark.extra_info["goal_met"] = median <= GOAL
    check_goal(
        request.config,
        median <= GOAL,
        f"{framework}: engine costs {median:.2f}x a raw InferenceSession.run on one row (goal <= {GOAL}x); "
        f"call path {engine.call_path}, {benchmark.extra_info}",
    )
