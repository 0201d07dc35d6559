"""The TreeEnsemble operator's attributes from the tree IR: threshold rounding (split_values),
NaN routing and set-membership splits, in ai.onnx.ml opset 3 or 5."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from ..errors import ConversionRefusedError
from .tree_ir import TreeEnsembleIR

__all__ = ["BRANCH_MEMBER", "DEFAULT_ML_OPSET", "MAX_TREE_DEPTH", "ONNX_OPSET", "split_values", "tree_depth"]

ONNX_OPSET = 21  # ai.onnx; supported by onnxruntime >= 1.18
DEFAULT_ML_OPSET = {np.dtype(np.float32): 3, np.dtype(np.float64): 5}
_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}
_MODE_NAMES = np.array([b"BRANCH_LEQ", b"BRANCH_LT", b"BRANCH_GTE", b"BRANCH_GT", b"BRANCH_EQ"])
BRANCH_MEMBER = 6  # opset-5 nodes_modes value of a set-membership split


def split_values(threshold: np.ndarray, cmp: str, input_cast: str, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds and modes (0 = LEQ, 1 = LT) that route every ``dtype`` input exactly as the
    native ``cast(x) <cmp> threshold`` does.

    float32 inputs: the native test holds exactly for float32 values up to ``p``, the largest
    float32 that satisfies it, so ``x <= p`` is exact whatever precision the threshold had
    (LightGBM's float64 thresholds, scikit-learn's double thresholds on float32 features).
    float64 inputs into a framework that rounds inputs to float32 first (XGBoost,
    scikit-learn, CatBoost): ``float32(x) <= p`` holds below the rounding midpoint between
    ``p`` and the next float32, and at the midpoint itself when ties round down to ``p``.
    """
    t = np.asarray(threshold, dtype=np.float64)
    if dtype == np.float64 and input_cast == "float64":
        return t, np.full(t.shape, 0 if cmp == "<=" else 1, dtype=np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):
        t32 = t.astype(np.float32)
        if cmp == "<=":
            p = np.where(t32.astype(np.float64) > t, np.nextafter(t32, np.float32(-np.inf)), t32)
        else:
            c = np.where(t32.astype(np.float64) < t, np.nextafter(t32, np.float32(np.inf)), t32)
            p = np.nextafter(c, np.float32(-np.inf))
        p = p.astype(np.float32)
        leq = np.zeros(t.shape, dtype=np.uint8)
        if dtype == np.float32:
            return p, leq
        p64 = p.astype(np.float64)
        up = np.nextafter(p, np.float32(np.inf)).astype(np.float64)
        # Past float32's largest value the next step is inf; the rounding boundary is half an ulp up.
        up = np.where(np.isinf(up) & np.isfinite(p64), p64 + (p64 - np.nextafter(p, np.float32(-np.inf))), up)
        mid = np.where(np.isfinite(p64), p64 + (up - p64) / 2, p64)
    ties_down = (p.view(np.uint32) & 1) == 0  # round-half-even keeps an even mantissa
    return mid, np.where(ties_down, leq, np.uint8(1))


# onnxruntime walks each tree recursively while it builds a session. Measured with 1.32 on an
# 8 MiB stack (benchmarks/proof/ort_deep_trees.py): a chain of 10,750 splits loads, one of
# 10,900 segfaults the process, whatever the split mode (BRANCH_MEMBER or BRANCH_LEQ) and set
# size; onnxruntime #25400, whose fix PR #25423 (1.23) removed one of the two recursions. Set
# sizes themselves do not fail: one BRANCH_MEMBER set of 2**24 members (every valid XGBoost
# category) loads and routes exactly, in 1.5 GiB. The limit keeps a quarter of the stack spare.
MAX_TREE_DEPTH = 8000


def tree_depth(ir: TreeEnsembleIR) -> int:
    """The most splits on any root-to-leaf path, over all trees (level by level, O(nodes))."""
    if not ir.tree.size:
        return 0
    first = np.flatnonzero(np.r_[True, ir.tree[1:] != ir.tree[:-1]])  # where each run of a tree starts
    start = np.repeat(first, np.diff(np.r_[first, ir.tree.size]))
    if first.size == np.unique(ir.tree).size and np.array_equal(ir.node, np.arange(ir.tree.size) - start):
        # The usual layout: each tree's nodes together, node i at position i of its block.
        def at(tree: np.ndarray, node: np.ndarray) -> np.ndarray:
            return node + first[np.searchsorted(ir.tree[first], tree)]
    else:
        width = int(ir.node.max()) + 1
        key = ir.tree * width + ir.node
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]

        def at(tree: np.ndarray, node: np.ndarray) -> np.ndarray:
            return order[np.searchsorted(sorted_keys, tree * width + node)]

    roots = np.unique(ir.tree)
    frontier = at(roots, np.zeros(roots.size, dtype=np.int64))
    depth = 0
    while True:
        frontier = frontier[~ir.is_leaf[frontier]]
        if not frontier.size:
            return depth
        depth += 1
        if depth > ir.tree.size:  # a cycle: the model file is damaged
            raise ConversionRefusedError("a tree's child links form a cycle; the model file looks damaged")
        t = ir.tree[frontier]
        frontier = np.concatenate([at(t, ir.left[frontier]), at(t, ir.right[frontier])])


def _refuse_deep_trees(ir: TreeEnsembleIR) -> None:
    splits = np.bincount(ir.tree[~ir.is_leaf]) if ir.tree.size else np.zeros(1, dtype=np.int64)
    if splits.max(initial=0) <= MAX_TREE_DEPTH:
        return  # no tree has enough splits to be that deep: skip the walk (conversion speed)
    depth = tree_depth(ir)
    if depth > MAX_TREE_DEPTH:
        raise ConversionRefusedError(
            f"a tree of this model is {depth} splits deep; onnxruntime 1.32 crashes the process (segfault) loading "
            f"trees deeper than about 10,800 splits on an 8 MiB stack (onnxruntime #25400), so onnxgate refuses "
            f"trees deeper than {MAX_TREE_DEPTH}. Retrain with a max_depth (or fewer num_leaves), or serve the "
            "native model"
        )


def _node_arrays(ir: TreeEnsembleIR, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Per-node arrays in ONNX terms."""
    _refuse_deep_trees(ir)
    values, modes = split_values(ir.threshold, ir.cmp, ir.input_cast, dtype)
    leaf = ir.is_leaf
    a = {
        "tree": ir.tree.astype(np.int64),
        "node": ir.node.astype(np.int64),
        "feature": np.where(leaf, 0, ir.feature).astype(np.int64),
        "value": np.where(leaf, 0, values),
        "mode": np.where(leaf, 255, modes).astype(np.uint8),
        "true": np.where(leaf, 0, ir.left).astype(np.int64),
        "false": np.where(leaf, 0, ir.right).astype(np.int64),
        "missing": (ir.missing_left & ~leaf).astype(np.int64),
        "weights": ir.value,
    }
    if ir.categories is not None:
        member = ir.categories.index >= 0
        a["mode"] = np.where(member & ~leaf, np.uint8(BRANCH_MEMBER), a["mode"]).astype(np.uint8)
        a["value"] = np.where(member, 0, a["value"])
        a["cat"] = np.where(leaf, -1, ir.categories.index).astype(np.int64)
    return a


def _membership_values(ir: TreeEnsembleIR, cat: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The opset-5 ``membership_values``: the set of each BRANCH_MEMBER node, in node order,
    each followed by a NaN delimiter. Members ``dtype`` cannot hold exactly are dropped: no
    input of that dtype equals them, and rounding one would admit a neighbour."""
    cs = ir.categories
    assert cs is not None
    sets = cat[cat >= 0]
    sizes = cs.ptr[sets + 1] - cs.ptr[sets]
    # Positions of every member of every set, in order, then one NaN slot after each set.
    starts = np.repeat(cs.ptr[sets] - np.cumsum(np.concatenate([[0], sizes[:-1]])), sizes)
    members = cs.values[starts + np.arange(int(sizes.sum()))]
    exact = members.astype(dtype).astype(np.float64) == members
    owner = np.repeat(np.arange(sets.size), sizes)
    members, owner = members[exact], owner[exact]
    out = np.full(members.size + sets.size, np.nan)
    slot = np.arange(members.size) + owner  # each earlier set adds its NaN delimiter
    out[slot] = members
    return out.astype(dtype)


def _ints(name: str, values: np.ndarray, node: onnx.NodeProto | None = None) -> AttributeProto:
    """An INTS attribute; built inside ``node`` when given, which spares copying large lists."""
    attr = node.attribute.add() if node is not None else AttributeProto()
    attr.name, attr.type = name, AttributeProto.INTS
    attr.ints.extend(np.asarray(values, dtype=np.int64).tolist())
    return attr


def _floats(name: str, values: np.ndarray, node: onnx.NodeProto | None = None) -> AttributeProto:
    attr = node.attribute.add() if node is not None else AttributeProto()
    attr.name, attr.type = name, AttributeProto.FLOATS
    attr.floats.extend(np.asarray(values, dtype=np.float32).tolist())
    return attr


def _strings(name: str, values: np.ndarray, node: onnx.NodeProto) -> AttributeProto:
    attr = node.attribute.add()
    attr.name, attr.type = name, AttributeProto.STRINGS
    attr.strings.extend(values.tolist())  # bytes already: helper.make_attribute re-encodes item by item
    return attr


def _tensor(name: str, values: np.ndarray) -> AttributeProto:
    return helper.make_attribute(name, numpy_helper.from_array(np.ascontiguousarray(values), name))


def _opset3_attributes(ir: TreeEnsembleIR, a: dict[str, np.ndarray], dtype: np.dtype, node: onnx.NodeProto) -> None:
    is_leaf = a["mode"] == 255
    leaf_idx, target = np.nonzero(a["weights"] * is_leaf[:, None])
    # A leaf whose every target is zero still needs one entry so the runtime sees a leaf.
    has_entry = np.zeros(is_leaf.size, dtype=bool)
    has_entry[leaf_idx] = True
    empty = np.flatnonzero(is_leaf & ~has_entry)
    leaf_idx = np.concatenate([leaf_idx, empty])
    target = np.concatenate([target, np.zeros(empty.size, dtype=np.int64)])
    modes = np.where(is_leaf, b"LEAF", _MODE_NAMES[np.minimum(a["mode"], 4)])
    node.attribute.extend(
        [
            helper.make_attribute("aggregate_function", "SUM"),
            helper.make_attribute("n_targets", ir.n_targets),
            helper.make_attribute("post_transform", "NONE"),
        ]
    )
    # Built in place: hundreds of thousands of nodes make copying attributes cost a second.
    _ints("nodes_treeids", a["tree"], node)
    _ints("nodes_nodeids", a["node"], node)
    _ints("nodes_featureids", a["feature"], node)
    _strings("nodes_modes", modes, node)
    _ints("nodes_truenodeids", a["true"], node)
    _ints("nodes_falsenodeids", a["false"], node)
    _ints("nodes_missing_value_tracks_true", a["missing"], node)
    _ints("target_treeids", a["tree"][leaf_idx], node)
    _ints("target_nodeids", a["node"][leaf_idx], node)
    _ints("target_ids", target, node)
    _floats("nodes_values", a["value"], node)
    _floats("target_weights", a["weights"][leaf_idx, target], node)
    _floats("base_values", ir.base_values, node)


def _opset5_attributes(ir: TreeEnsembleIR, a: dict[str, np.ndarray], dtype: np.dtype, node: onnx.NodeProto) -> None:
    is_leaf = a["mode"] == 255
    if (np.count_nonzero(a["weights"][is_leaf], axis=1) > 1).any():
        a = _one_target_per_tree(a, ir.n_targets)
        is_leaf = a["mode"] == 255
    # Global positions: interior nodes and leaves are numbered separately in opset 5.
    key = a["tree"] * (int(a["node"].max()) + 1) + a["node"]
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]

    def locate(tree: np.ndarray, node: np.ndarray) -> np.ndarray:
        return order[np.searchsorted(sorted_keys, tree * (int(a["node"].max()) + 1) + node)]

    interior = np.flatnonzero(~is_leaf)
    leaves = np.flatnonzero(is_leaf)
    pos = np.empty(key.size, dtype=np.int64)
    pos[interior] = np.arange(interior.size)
    pos[leaves] = np.arange(leaves.size)
    roots = locate(np.arange(int(a["tree"].max()) + 1), np.zeros(int(a["tree"].max()) + 1, dtype=np.int64))
    # A tree that is a single leaf gets a dummy split whose both branches reach that leaf.
    stump_roots = roots[is_leaf[roots]]
    true_idx = locate(a["tree"][interior], a["true"][interior])
    false_idx = locate(a["tree"][interior], a["false"][interior])
    feats, splits = a["feature"][interior], a["value"][interior]
    modes, missing = a["mode"][interior], a["missing"][interior]
    cat = a["cat"][interior] if "cat" in a else None
    true_pos, false_pos = pos[true_idx], pos[false_idx]
    true_leaf, false_leaf = is_leaf[true_idx], is_leaf[false_idx]
    n_int = interior.size
    tree_roots = np.where(is_leaf[roots], 0, pos[roots])
    tree_roots[is_leaf[roots]] = n_int + np.arange(stump_roots.size)
    feats = np.concatenate([feats, np.zeros(stump_roots.size, dtype=np.int64)])
    splits = np.concatenate([splits, np.zeros(stump_roots.size)])
    modes = np.concatenate([modes, np.zeros(stump_roots.size, dtype=np.uint8)])
    missing = np.concatenate([missing, np.zeros(stump_roots.size, dtype=np.int64)])
    true_pos = np.concatenate([true_pos, pos[stump_roots]])
    false_pos = np.concatenate([false_pos, pos[stump_roots]])
    true_leaf = np.concatenate([true_leaf, np.ones(stump_roots.size, dtype=bool)])
    false_leaf = np.concatenate([false_leaf, np.ones(stump_roots.size, dtype=bool)])
    if cat is not None:
        cat = np.concatenate([cat, np.full(stump_roots.size, -1, dtype=np.int64)])
    leaf_w = a["weights"][leaves]
    leaf_target = np.argmax(np.abs(leaf_w) > 0, axis=1)
    node.attribute.extend(
        [
            helper.make_attribute("aggregate_function", 1),
            helper.make_attribute("n_targets", ir.n_targets),
            helper.make_attribute("post_transform", 0),
            _ints("tree_roots", tree_roots),
            _ints("nodes_featureids", feats),
            _tensor("nodes_splits", splits.astype(dtype)),
            _tensor("nodes_modes", modes.astype(np.uint8)),
            _ints("nodes_truenodeids", true_pos),
            _ints("nodes_falsenodeids", false_pos),
            _ints("nodes_trueleafs", true_leaf),
            _ints("nodes_falseleafs", false_leaf),
            _ints("nodes_missing_value_tracks_true", missing),
            _ints("leaf_targetids", leaf_target),
            _tensor("leaf_weights", leaf_w[np.arange(leaves.size), leaf_target].astype(dtype)),
        ]
    )
    if cat is not None and (cat >= 0).any():
        node.attribute.append(_tensor("membership_values", _membership_values(ir, cat, dtype)))


def _one_target_per_tree(a: dict[str, np.ndarray], n_targets: int) -> dict[str, np.ndarray]:
    """Opset 5 leaves carry one weight each; repeat each tree once per target."""
    n_trees = int(a["tree"].max()) + 1
    parts = []
    for k in range(n_targets):
        part = dict(a)
        part["tree"] = a["tree"] + k * n_trees
        w = np.zeros_like(a["weights"])
        w[:, k] = a["weights"][:, k]
        part["weights"] = w
        parts.append(part)
    return {key: np.concatenate([p[key] for p in parts]) for key in a}

