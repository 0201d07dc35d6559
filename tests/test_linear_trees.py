"""LightGBM linear_tree=True: the ONNX graph adds what LightGBM adds, in LightGBM's order, so the
outputs are bit-identical on the rows where a summed-coefficient graph would go wrong."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from conversion import InferenceEngine, convert
from conversion.errors import ConversionRefusedError

from .cases.base import dataset

lgb = pytest.importorskip("lightgbm")


@cache
def _model() -> tuple[object, np.ndarray]:
    X, y = dataset("regression", nan=0.1)
    model = lgb.LGBMRegressor(n_estimators=15, num_leaves=6, linear_tree=True, n_jobs=1, verbose=-1,
                              deterministic=True).fit(X, y)
    return model, X


def _linear_features(model: object) -> list[int]:
    """The features some leaf's linear model uses."""
    used: set[int] = set()
    for tree in model.booster_.dump_model()["tree_info"]:  # type: ignore[attr-defined]
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "leaf_index" in node:
                used.update(node.get("leaf_features", []))
            else:
                stack += [node["left_child"], node["right_child"]]
    return sorted(used)


def _hostile_rows(model: object, X: np.ndarray) -> np.ndarray:
    """Training rows with one cell replaced by a value where the order of additions, the NaN
    fallback or a 0 * inf product decide the result."""
    specials = [np.nan, np.inf, -np.inf, 1e30, -1e30, float(np.finfo(np.float32).max),
                float(np.finfo(np.float64).max), -float(np.finfo(np.float64).max), 1e-36, -0.0, 5e-324]
    rows = []
    base = X[:40].copy()
    base[np.isnan(base)] = 0.5
    for f in range(X.shape[1]):
        for v in specials:
            r = base.copy()
            r[:, f] = v
            rows.append(r)
    used = _linear_features(model)
    assert len(used) >= 2, "the model needs leaves with linear models on several features"
    # Infinities of both signs on two used features: LightGBM gets NaN where a tree uses both.
    r = base.copy()
    r[:, used[0]], r[:, used[1]] = np.inf, -np.inf
    rows.append(r)
    return np.vstack(rows)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_outputs_are_bit_identical_on_hostile_rows(dtype: str) -> None:
    model, X = _model()
    with np.errstate(over="ignore"):  # float64's max is inf in float32, on purpose
        rows = _hostile_rows(model, X).astype(dtype)
    native = model.predict(rows)
    ours = InferenceEngine(convert(model, dtype=dtype)).predict(rows)
    assert np.isnan(native).any() and np.isinf(native).any(), "the rows must reach NaN and inf natively"
    np.testing.assert_array_equal(ours, native)  # NaN where native is NaN, every other value exact


def test_nan_on_a_used_feature_falls_back_to_the_leaf_value() -> None:
    model, X = _model()
    f = _linear_features(model)[0]
    rows = X[:50].copy()
    rows[np.isnan(rows)] = 0.5
    rows[:, f] = np.nan
    native = model.predict(rows)
    assert np.isfinite(native).all(), "LightGBM returns the plain leaf value, not NaN"
    np.testing.assert_array_equal(InferenceEngine(convert(model, dtype="float64")).predict(rows), native)


def test_opset_3_is_refused_with_the_way_out() -> None:
    model, _ = _model()
    with pytest.raises(ConversionRefusedError, match=r"opset-5 TreeEnsemble.*pass target_opset=5"):
        convert(model, target_opset=3)
