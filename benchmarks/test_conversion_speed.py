"""Conversion speed (issue 2 §5): large tree ensembles, onnxgate next to onnxmltools.

The LightGBM model is the issue's 500-tree, 127-leaf, 3-class LGBMClassifier (onnxmltools
takes about 6 s on it; the target is under 1 s); the XGBoost model is 500 rounds at depth 8
with 3 classes. Each pair is checked to compute the same thing before it is timed: onnxgate
must pass check_parity, and both graphs must agree on rows that sit on no split threshold
(onnxmltools rounds LightGBM's float64 thresholds to float32, which flips rows *on* them).

The categorical LightGBM model (issue 12) is 500 trees with 3 categorical features of 100
categories each; its held-out rows are integer codes, on which onnxmltools' BRANCH_EQ
chains agree with LightGBM.

Run: ``.venv/bin/pytest benchmarks/test_conversion_speed.py --benchmark-group-by=param:framework``.
Training the two models takes a minute or two; each conversion is timed a few rounds,
onnxmltools' once or twice because it is slow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest

from conversion import InferenceEngine, check_parity, convert
from conversion.parity.tree_summary import summarize_trees
from conversion.runtime.timing import cpu_clock

FRAMEWORKS = ("lightgbm", "xgboost", "lightgbm-categorical")


@dataclass(frozen=True)
class Large:
    model: Any
    X: np.ndarray  # held-out rows, float32
    n_features: int
    description: str


@cache
def _data(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    # Label noise keeps the gradients from vanishing, so all 500 rounds grow full-size trees.
    X, y = make_classification(n_samples=n_rows, n_features=10, n_informative=8, n_classes=3, flip_y=0.2,
                               random_state=0)
    return X.astype(np.float32), y


@cache
def _large(framework: str) -> Large:
    X, y = _data(3000)
    train, held_out = slice(0, 2500), slice(2500, None)
    if framework == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        model = lgb.LGBMClassifier(n_estimators=500, num_leaves=127, min_child_samples=2, min_child_weight=0.0,
                                   max_bin=63, n_jobs=2, verbose=-1).fit(X[train], y[train])
        leaves = model.booster_.num_trees(), model.booster_.dump_model(num_iteration=1)["tree_info"][0]["num_leaves"]
        description = f"LGBMClassifier: {leaves[0]} trees (500 rounds x 3 classes), {leaves[1]} leaves in tree 0"
    elif framework == "lightgbm-categorical":
        # Issue 12: 500 trees, 3 categorical features of 100 categories each (set splits).
        lgb = pytest.importorskip("lightgbm")
        rng = np.random.default_rng(0)
        X = X.copy()
        X[:, :3] = rng.integers(0, 100, size=(X.shape[0], 3))
        y = ((y + (X[:, 0] % 7 < 3) + (X[:, 1] % 5 < 2)) % 3 == 0).astype(int)
        model = lgb.LGBMClassifier(n_estimators=500, num_leaves=31, max_cat_to_onehot=4, min_data_per_group=10,
                                   cat_smooth=1.0, n_jobs=2, verbose=-1)
        model.fit(X[train], y[train], categorical_feature=[0, 1, 2])
        description = f"LGBMClassifier: {model.booster_.num_trees()} trees, 3 categorical features x 100 categories"
    else:
        xgb = pytest.importorskip("xgboost")
        model = xgb.XGBClassifier(n_estimators=500, max_depth=8, tree_method="hist", max_bin=64,
                                  n_jobs=2).fit(X[train], y[train])
        description = "XGBClassifier: 1500 trees (500 rounds x 3 classes), depth 8"
    return Large(model, X[held_out], X.shape[1], description)


def _onnxmltools(framework: str, model: Any, n_features: int) -> Any:
    onnxmltools = pytest.importorskip("onnxmltools")
    from onnxmltools.convert.common.data_types import FloatTensorType

    is_lgb = framework.startswith("lightgbm")
    to_onnx = onnxmltools.convert_lightgbm if is_lgb else onnxmltools.convert_xgboost
    kwargs = {"zipmap": False} if is_lgb else {}
    return to_onnx(model, initial_types=[("X", FloatTensorType([None, n_features]))], target_opset=15, **kwargs)


def _with_cpu_time(fn: Callable[..., Any], cpu: list[float]) -> Callable[..., Any]:
    """``fn``, also recording the CPU seconds of each call: on a shared machine wall time
    includes waiting for a core, CPU time does not. The process's: a framework may convert on its threads."""
    clock = cpu_clock(None, native_threads=True)

    def run(*args: Any) -> Any:
        start = clock()
        try:
            return fn(*args)
        finally:
            cpu.append((clock() - start) / 1e9)

    return run


def _off_threshold_rows(X: np.ndarray, splits: dict[int, np.ndarray]) -> np.ndarray:
    """Rows farther than a few float32 ulps from every split point of every feature."""
    keep = np.ones(X.shape[0], dtype=bool)
    for f, t in splits.items():
        i = np.clip(np.searchsorted(t, X[:, f]), 1, max(t.size - 1, 1))
        nearest = np.minimum(np.abs(X[:, f] - t[i - 1]), np.abs(X[:, f] - t[np.minimum(i, t.size - 1)]))
        keep &= nearest > 4 * np.spacing(np.abs(X[:, f]).astype(np.float32))
    return X[keep]


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_onnxgate_conversion_speed(benchmark: Any, framework: str) -> None:
    large = _large(framework)
    cpu: list[float] = []
    converted = benchmark.pedantic(_with_cpu_time(convert, cpu), args=(large.model,), rounds=5, iterations=1,
                                   warmup_rounds=1)
    benchmark.extra_info.update(converter="onnxgate", model=large.description, cpu_seconds_min=min(cpu))
    report = check_parity(large.model, converted, large.X)
    assert report.passed, str(report)


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_onnxmltools_conversion_speed(benchmark: Any, framework: str) -> None:
    large = _large(framework)
    cpu: list[float] = []
    theirs = benchmark.pedantic(_with_cpu_time(_onnxmltools, cpu), args=(framework, large.model, large.n_features),
                                rounds=2, iterations=1)
    benchmark.extra_info.update(converter="onnxmltools", model=large.description, cpu_seconds_min=min(cpu))
    ours = convert(large.model)
    X = _off_threshold_rows(large.X, summarize_trees(ours.onnx).splits)
    assert X.shape[0] > 0.9 * large.X.shape[0], "the check needs most held-out rows"
    import onnxruntime as ort

    session = ort.InferenceSession(theirs.SerializeToString(), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {"X": X})
    engine = InferenceEngine(ours)
    np.testing.assert_array_equal(engine.predict(X), label)
    # Both sum the same float32 leaf values over 1500 trees; only the summation order may differ.
    np.testing.assert_allclose(engine.predict_proba(X), proba, rtol=0, atol=1e-5)
