"""What the float64 LightGBM graph (convert()'s default, exact on float64 rows) costs over float32.

LightGBM compares float64 inputs with float64 thresholds, so only a float64 graph answers
float64 rows exactly. Both graphs of the same zoo model run in raw ONNX Runtime sessions
(one intra-op thread) on the same rows, interleaved, at one row and 10 000 rows; the ratio is
taken per round on the calling thread's CPU time. Measured on the 2-core machine: 1.01x at one
row, 1.00x at 10 000 rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from conversion import convert
from conversion.bench.settings import check_goal
from conversion.bench.zoo import ZooSpec, build
from conversion.runtime.timing import cpu_clock, interleaved

GOAL = 1.10  # a float64 graph may cost at most 10% more than the float32 one
ROUNDS = 41


def _session(model: Any, dtype: str) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(convert(model, dtype=dtype).to_bytes(), so, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("rows", [1, 10_000])
def test_lightgbm_float64_graph_cost(benchmark: Any, rows: int, request: pytest.FixtureRequest) -> None:
    zoo = build(ZooSpec("lightgbm", "synthetic", "small"))
    sessions = {dt: _session(zoo.model, dt) for dt in ("float32", "float64")}
    batch = zoo.X[np.random.default_rng(rows).integers(0, zoo.X.shape[0], rows)]
    feeds = {dt: {s.get_inputs()[0].name: np.ascontiguousarray(batch, dtype=dt)} for dt, s in sessions.items()}
    method = sessions["float32"].get_outputs()[-1].name
    fns = {dt: (lambda dt=dt: sessions[dt].run([method], feeds[dt])) for dt in sessions}
    reps = 200 if rows == 1 else 1
    for fn in fns.values():
        for _ in range(reps):
            fn()
    t = interleaved(fns, rounds=ROUNDS, reps=reps, clocks={"cpu": cpu_clock(1, native_threads=False)})
    ratio = t["float64"]["cpu"] / t["float32"]["cpu"]
    median = float(np.median(ratio))
    benchmark.extra_info.update(
        {
            "onnxgate_kind": "float64_graph_cost",
            "framework": "lightgbm",
            "rows": rows,
            "float32_us": float(np.median(t["float32"]["cpu"])) / 1e3,
            "float64_us": float(np.median(t["float64"]["cpu"])) / 1e3,
            "ratio_cpu_median": median,
            "ratio_cpu_p10_p90": [float(v) for v in np.percentile(ratio, [10, 90])],
            "goal_ratio": GOAL,
            "goal_met": median <= GOAL,
        }
    )
    benchmark(fns["float64"])
    check_goal(request.config, median <= GOAL,
               f"the float64 LightGBM graph costs {median:.2f}x the float32 one at {rows} rows (goal <= {GOAL}x)")
