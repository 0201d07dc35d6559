"""Small synthetic results files for the report tests: no training, no timing, deterministic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conversion.results.benchmark_runs import Record
from conversion.results.run_results import RunResult, save_run

BATCHES = (1, 16, 256, 4096)


def manifest(machine_id: str, cpu: str = "Test CPU", ort: str = "1.32.0") -> dict[str, Any]:
    machine = {"cpu_model": cpu, "cpu_count": 2, "arch": "x86_64", "system": "Linux"}
    return {"machine_id": machine_id, "machine": machine,
            "software": {"onnxruntime": ort, "xgboost": "3.2.0", "providers_available": ["CPUExecutionProvider"]},
            "commit": "abc1234"}


def latency_rows(model: str, framework: str, *, onnx_scale: float = 1.0) -> list[Record]:
    """ONNX wins at small batches and loses at large ones, so there is a crossover to mark."""
    rows = []
    for b in BATCHES:
        native = 2e-4 + b * 2e-6
        onnx = (2e-5 + b * 4e-6) * onnx_scale
        for runtime, p50, threads in (("native", native, None), ("onnx", onnx, 1), ("onnx", onnx * 0.8, 2)):
            provider = None if runtime == "native" else "CPUExecutionProvider"
            rows.append(Record(
                framework=framework, model=model, size="small", dataset="synthetic", batch_size=b, runtime=runtime,
                provider=provider, threads=threads, p50=p50, p90=p50 * 1.2, p99=p50 * 1.6, mean=p50 * 1.1,
                min=p50 * 0.9, stddev=p50 * 0.1, rounds=20, rows_per_s=b / p50, parity="passed", parity_detail="",
                conversion_s=0.1, onnx_bytes=90_000, session_s=0.02, first_call_s=0.001, peak_rss_mb=None,
                ratio_kind="onnx/native", ratio_rounds=(1.0,) * 20, name=f"test_latency[{model}-{b}]", group="g"))
    return rows


def parity_cells(model: str, framework: str) -> list[dict[str, Any]]:
    base = {"model": model, "framework": framework, "dataset": "synthetic", "reason": "", "issue": None}
    return [
        {**base, "path": "onnxgate", "data_kind": "clean", "status": "exact", "n_rows": 100, "mismatched_rows": 0},
        {**base, "path": "onnxgate", "data_kind": "nan", "status": "exact", "n_rows": 100, "mismatched_rows": 0},
        {**base, "path": "upstream", "data_kind": "clean", "status": "wrong", "n_rows": 100, "mismatched_rows": 7,
         "max_abs_error": 0.25, "cause": "threshold_ulp",
         "issue": {"url": "https://github.com/onnx/onnxmltools/issues/732", "why": "base_score vector"}},
        {**base, "path": "upstream", "data_kind": "nan", "status": "refused", "reason": "<b>NaN</b> not supported"},
    ]


ZOO_PAIR = (("xgboost-synthetic-small", "xgboost"), ("lightgbm-synthetic-small", "lightgbm"))


def run_result(path: Path, machine_id: str, created: str, *, onnx_scale: float = 1.0, cpu: str = "Test CPU",
               models: tuple[tuple[str, str], ...] = ZOO_PAIR, scales: dict[str, float] | None = None) -> Path:
    """``models``: (name, framework) pairs; ``scales``: ONNX time factor per model (default ``onnx_scale``)."""
    scales = scales or {}
    result = RunResult(
        source=str(path), created=created, manifest=manifest(machine_id, cpu), profile="quick",
        models=[{"name": m, "framework": f, "dataset": "synthetic", "conversion_seconds": 0.05, "onnx_bytes": 150_000,
                 "session_seconds": 0.01, "first_call_seconds": 0.002} for m, f in models],
        parity=[c for m, f in models for c in parity_cells(m, f)],
        latency=[r for m, f in models for r in latency_rows(m, f, onnx_scale=scales.get(m, onnx_scale))],
        notes=["synthetic test data"],
    )
    return save_run(result, path)


BENCH_FIELDS = ("framework", "model", "size", "dataset", "batch_size", "runtime", "provider", "threads", "parity",
                "parity_detail", "conversion_s", "onnx_bytes", "session_s", "first_call_s", "ratio_kind")


def bench_result(path: Path, machine_id: str, created: str) -> Path:
    """A results file in the benchmarks' schema (what `onnxgate bench` writes)."""
    benches = []
    for row in latency_rows("catboost-synthetic-small", "catboost"):
        stats = {"min": row.min, "max": row.p99, "mean": row.mean, "stddev": row.stddev, "rounds": row.rounds,
                 "median": row.p50, "p50": row.p50, "p90": row.p90, "p99": row.p99}
        extra = {"onnxgate_kind": "latency", **{k: getattr(row, k) for k in BENCH_FIELDS},
                 "ratio_rounds": list(row.ratio_rounds)}
        benches.append({"name": f"test_latency[{row.model}-{row.label}-{row.batch_size}]", "group": "g",
                        "stats": stats, "extra_info": extra})
    doc = {"onnxgate_schema": 1, "onnxgate_profile": "quick", "datetime": created,
           "machine_info": {"onnxgate": manifest(machine_id)}, "commit_info": {"id": "def5678", "dirty": False},
           "benchmarks": benches}
    path.write_text(json.dumps(doc))
    return path


USER_PYPROJECT = """\
[project]
name = "scoring-service"
version = "0.1.0"

[tool.onnxgate]
batch_sizes = [1, 32, 512]
threads = [1]

[tool.onnxgate.models.fraud]
path = "models/fraud.ubj"
data = "data/rows.npy"

[tool.onnxgate.models.churn]
path = "models/churn.txt"
data = "data/rows.npy"

[tool.onnxgate.models.risk]
path = "models/risk.cbm"
data = "data/rows.npy"

[tool.onnxgate.models.score]
path = "models/score.skops"
data = "data/rows.npy"
"""


def user_repo(root: Path, *, churn_trees: int = 40) -> Path:
    """A user's repository of four real models, one per framework, listed in its pyproject.toml.

    The scikit-learn model is a StandardScaler + LogisticRegression pipeline: it refuses NaN, and
    skl2onnx converts it to a float32 graph while scikit-learn computes in float64. Call again
    with another ``churn_trees`` to retrain churn under the same name.
    """
    import catboost
    import lightgbm as lgb
    import numpy as np
    import skops.io
    import xgboost as xgb
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(USER_PYPROJECT)
    X, y = make_classification(n_samples=2000, n_features=10, random_state=0)
    lgb.LGBMClassifier(n_estimators=churn_trees, num_leaves=15, verbose=-1, n_jobs=1).fit(X, y).booster_.save_model(
        root / "models/churn.txt")
    if (root / "models/fraud.ubj").exists():
        return root
    xgb.XGBClassifier(n_estimators=40, max_depth=4, n_jobs=1).fit(X, y).save_model(root / "models/fraud.ubj")
    catboost.CatBoostRegressor(iterations=40, depth=4, verbose=False, thread_count=1, allow_writing_files=False).fit(
        X, X[:, 0] + y).save_model(str(root / "models/risk.cbm"))
    skops.io.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), root / "models/score.skops")
    np.save(root / "data/rows.npy", X[:300])
    return root
