"""The emitter's exactness rules, checked against brute force and in ONNX Runtime itself."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conversion import InferenceEngine
from conversion.converter.converted import ConvertedModel
from conversion.converter.emit_onnx import emit, split_values
from conversion.converter.tree_ir import CategoryCoding, CategorySplits, Head, TreeEnsembleIR, category_sets
from conversion.errors import ConversionRefusedError

DTYPES = [np.dtype(np.float32), np.dtype(np.float64)]


def _native_left(x: float, t: float, cmp: str, cast: str) -> bool:
    xc = np.float64(np.float32(x)) if cast == "float32" else np.float64(x)
    return bool(xc <= t) if cmp == "<=" else bool(xc < t)


def _onnx_left(x: float, value: float, mode: int, dtype: np.dtype) -> bool:
    xv, vv = dtype.type(x), dtype.type(value)
    return bool(xv <= vv) if mode == 0 else bool(xv < vv)


@st.composite
def threshold_and_x(draw: st.DrawFn) -> tuple[float, float, str, str, np.dtype]:
    with np.errstate(over="ignore"):
        return _draw_threshold_and_x(draw)


def _draw_threshold_and_x(draw: st.DrawFn) -> tuple[float, float, str, str, np.dtype]:
    dtype = draw(st.sampled_from(DTYPES))
    cast = draw(st.sampled_from(["float32", "float64"]))
    cmp = draw(st.sampled_from(["<", "<="]))
    t = draw(st.floats(allow_nan=False, allow_infinity=False, width=32 if draw(st.booleans()) else 64))
    # x on, or a few representable steps around, t in the input dtype and in float32.
    base = draw(st.sampled_from([t, float(np.float32(t)) if np.isfinite(np.float32(t)) else t]))
    x = dtype.type(base)
    for _ in range(draw(st.integers(0, 2))):
        x = np.nextafter(x, dtype.type(draw(st.sampled_from([-np.inf, np.inf]))))
    assume(np.isfinite(x) and np.isfinite(np.float32(x)))
    return t, float(x), cmp, cast, dtype


@given(threshold_and_x())
def test_rounded_threshold_routes_like_the_native_comparison(case: tuple) -> None:
    t, x, cmp, cast, dtype = case
    values, modes = split_values(np.array([t]), cmp, cast, dtype)
    assert _onnx_left(x, values[0], int(modes[0]), dtype) == _native_left(x, t, cmp, cast)


def _stump_ir(*, band: float | None = None, missing_left: bool = False, threshold: float = 0.5) -> TreeEnsembleIR:
    """One split on feature 0: left leaf 1.0, right leaf 2.0."""
    return TreeEnsembleIR(
        n_features=2,
        n_targets=1,
        tree=np.zeros(3, dtype=np.int64),
        node=np.arange(3),
        feature=np.array([0, -1, -1]),
        threshold=np.array([threshold, 0, 0]),
        left=np.array([1, -1, -1]),
        right=np.array([2, -1, -1]),
        missing_left=np.array([missing_left, False, False]),
        value=np.array([[0.0], [1.0], [2.0]]),
        base_values=np.zeros(1),
        cmp="<=",
        input_cast="float64",
        head=Head(task="regression", methods={"predict": "float64"}),
        missing_band=None if band is None else np.array([band, np.nan]),
    )


def _run(ir: TreeEnsembleIR, X: np.ndarray, dtype: np.dtype, opset: int) -> np.ndarray:
    graph = emit(ir, dtype=dtype, ml_opset=opset)
    converted = ConvertedModel(graph, "test", "regression", ir.n_features, None, {"predict": "float64"})
    # warmup=False: no call-path measurement (0.2 s of CPU) for each hypothesis example's graph
    return InferenceEngine(converted, warmup=False).predict(X)


@pytest.mark.parametrize(("dtype", "opset"), [(np.float32, 3), (np.float32, 5), (np.float64, 5)])
def test_nan_and_missing_band_routing_in_onnxruntime(dtype: type, opset: int) -> None:
    X = np.array([[np.nan, 0], [0.0, 0], [-0.0, 0], [0.25, 0], [1.0, 0], [np.inf, 0], [-np.inf, 0], [1e-36, 0]])
    # Default (missing) branch is right; 0.0 <= 0.5 would go left, a missing band around
    # zero (LightGBM zero_as_missing, |x| <= 1e-35) sends it right.
    plain = _run(_stump_ir(), X, np.dtype(dtype), opset)
    np.testing.assert_array_equal(plain, [2, 1, 1, 1, 2, 2, 1, 1])
    zero = _run(_stump_ir(band=1e-35), X, np.dtype(dtype), opset)
    np.testing.assert_array_equal(zero, [2, 2, 2, 1, 2, 2, 1, 2])
    nan_left = _run(_stump_ir(missing_left=True), X, np.dtype(dtype), opset)
    np.testing.assert_array_equal(nan_left, [1, 1, 1, 1, 2, 2, 1, 1])


@pytest.mark.parametrize("opset", [3, 5])
def test_leaf_only_tree_keeps_its_value(opset: int) -> None:
    """Stumps with no split (ORT #27533 skipped the post-transform for them)."""
    ir = TreeEnsembleIR(
        n_features=1,
        n_targets=1,
        tree=np.zeros(1, dtype=np.int64),
        node=np.zeros(1, dtype=np.int64),
        feature=np.array([-1]),
        threshold=np.zeros(1),
        left=np.array([-1]),
        right=np.array([-1]),
        missing_left=np.zeros(1, dtype=bool),
        value=np.array([[0.7]]),
        base_values=np.array([0.1]),
        cmp="<",
        input_cast="float32",
        head=Head(task="regression", post_transform="sigmoid", methods={"predict": "float64"}),
    )
    out = _run(ir, np.array([[1.0], [np.nan]]), np.dtype(np.float32), opset)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-0.8)), rtol=1e-6)


def test_float64_with_opset_3_is_refused() -> None:
    with pytest.raises(ConversionRefusedError, match="opset-5"):
        emit(_stump_ir(), dtype=np.float64, ml_opset=3)


# Each framework's native categorical rule, written from its source, for one split "x in S".
def _lightgbm_left(x: float, members: set[int]) -> bool:
    """LightGBM CategoricalDecision: NaN right; static_cast<int>, INT_MIN beyond int range (x86-64)."""
    if np.isnan(x) or not -(2.0**31) < x < 2.0**31:
        return False
    code = int(x)  # truncation toward zero
    return code >= 0 and code in members


def _xgboost_left(x: float, members: set[int]) -> bool:
    """XGBoost Decision on the float32 value: invalid (< 0 or >= 2**24) is no category."""
    v = np.float32(x)
    return bool(0 <= v < 2**24) and int(v) in members


def _sklearn_left(x: float, members: set[int]) -> bool:
    """HistGradientBoosting's encoder matches values exactly; anything else is unknown."""
    return x in members


_CODINGS = {
    "lightgbm": (_lightgbm_left, CategoryCoding(np.array([0]), "float64", -1.0, 2.0**31)),
    "xgboost": (_xgboost_left, CategoryCoding(np.array([0]), "float32", 0.0, 2.0**24, low_closed=True)),
    "sklearn": (_sklearn_left, CategoryCoding(np.array([0]), "float64", -1.0, 2.0**24, integers_only=True)),
}


def _set_ir(members: list[int], coding: CategoryCoding) -> TreeEnsembleIR:
    ptr, values = category_sets([np.array(members)])
    return replace(_stump_ir(), categories=CategorySplits(np.array([0, -1, -1]), ptr, values, coding))


@pytest.mark.parametrize("framework", sorted(_CODINGS))
@pytest.mark.parametrize("dtype", DTYPES)
@given(members=st.sets(st.integers(0, 70), min_size=1, max_size=40),
       xs=st.lists(st.one_of(st.integers(-3, 75).map(float), st.floats(-3, 75), st.sampled_from(
           [2.5, 3.999, -0.0, -0.5, -0.99, 1e10, -1e10, 2.0**31, 2.0**31 - 1, 2.0**24, 2.0**24 + 2, 5e-324,
            float(np.nextafter(np.float32(3), np.float32(4))), np.nan])), min_size=1, max_size=30))
def test_set_splits_route_like_the_native_rule(framework: str, dtype: np.dtype, members: set[int],
                                               xs: list[float]) -> None:
    """Every value (non-integers, negatives, huge, NaN) lands where the native rule sends it,
    though ONNX Runtime's BRANCH_MEMBER itself truncates non-integers for larger sets."""
    native_left, coding = _CODINGS[framework]
    X = np.zeros((len(xs), 2), dtype=dtype)
    X[:, 0] = xs
    out = _run(_set_ir(sorted(members), coding), X, dtype, 5)
    expected = [1.0 if native_left(float(x), members) else 2.0 for x in X[:, 0]]
    np.testing.assert_array_equal(out, expected)


def test_set_splits_refuse_opset_3() -> None:
    with pytest.raises(ConversionRefusedError, match="BRANCH_MEMBER"):
        emit(_set_ir([1, 2], _CODINGS["lightgbm"][1]), dtype=np.float32, ml_opset=3)


def _chain_ir(depth: int) -> TreeEnsembleIR:
    """One tree of ``depth`` splits in a chain: split d sends x <= d to leaf d, the rest on."""
    splits, leaves = np.arange(depth), depth + np.arange(depth + 1)
    return TreeEnsembleIR(
        n_features=1, n_targets=1, tree=np.zeros(2 * depth + 1, dtype=np.int64), node=np.arange(2 * depth + 1),
        feature=np.r_[np.zeros(depth, dtype=np.int64), np.full(depth + 1, -1)],
        threshold=np.r_[splits.astype(np.float64), np.zeros(depth + 1)],
        left=np.r_[leaves[:-1], np.full(depth + 1, -1)], right=np.r_[splits[1:], leaves[-1], np.full(depth + 1, -1)],
        missing_left=np.zeros(2 * depth + 1, dtype=bool), value=np.r_[np.zeros(depth), np.arange(depth + 1.0)][:, None],
        base_values=np.zeros(1), cmp="<=", input_cast="float64",
        head=Head(task="regression", methods={"predict": "float64"}),
    )


def test_trees_deeper_than_onnxruntime_loads_are_refused_before_they_crash_it() -> None:
    """onnxruntime 1.32 segfaults building a session for a chain of ~10,900 splits
    (benchmarks/proof/ort_deep_trees.py); the emitter refuses past MAX_TREE_DEPTH, and a
    tree at the limit still loads and routes."""
    from conversion.converter.emit_trees import MAX_TREE_DEPTH

    X = np.array([[0.0], [MAX_TREE_DEPTH - 1.0], [1e9]])
    np.testing.assert_array_equal(_run(_chain_ir(MAX_TREE_DEPTH), X, np.dtype(np.float64), 5),
                                  [0, MAX_TREE_DEPTH - 1, MAX_TREE_DEPTH])
    with pytest.raises(ConversionRefusedError, match=r"8001 splits deep.*onnxruntime #25400.*max_depth"):
        emit(_chain_ir(MAX_TREE_DEPTH + 1), dtype=np.float64)


def test_tree_depth_does_not_depend_on_how_nodes_are_laid_out() -> None:
    from conversion.converter.emit_trees import tree_depth

    chain = _chain_ir(7)
    two = replace(chain, tree=np.r_[chain.tree, chain.tree[:3] + 1], node=np.r_[chain.node, [0, 1, 2]],
                  feature=np.r_[chain.feature, [0, -1, -1]], threshold=np.r_[chain.threshold, [0.0, 0, 0]],
                  left=np.r_[chain.left, [1, -1, -1]], right=np.r_[chain.right, [2, -1, -1]],
                  missing_left=np.r_[chain.missing_left, [False] * 3], value=np.r_[chain.value, np.zeros((3, 1))])
    shuffled = np.random.default_rng(0).permutation(two.tree.size)  # trees interleaved, nodes out of order
    fields = ("tree", "node", "feature", "threshold", "left", "right", "missing_left", "value")
    assert tree_depth(two) == tree_depth(replace(two, **{f: getattr(two, f)[shuffled] for f in fields})) == 7
