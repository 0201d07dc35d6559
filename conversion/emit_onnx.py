"""The one ONNX emitter: tree IR -> ai.onnx.ml TreeEnsemble graph.

Threshold rounding, NaN routing, base scores and post-transforms are decided here, once,
for every framework.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from .errors import ConversionRefusedError
from .tree_ir import TreeEnsembleIR

__all__ = ["emit", "split_values", "ONNX_OPSET", "DEFAULT_ML_OPSET"]

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


def _node_arrays(ir: TreeEnsembleIR, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Per-node arrays in ONNX terms."""
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


class _Graph:
    """Collects nodes and constants for the head that follows the tree ensemble."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self._n = 0

    def const(self, value: np.ndarray, hint: str = "c") -> str:
        self._n += 1
        name = f"{hint}_{self._n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def flat(self) -> str:
        """The shape [-1], for outputs that are 1-D natively."""
        return self.const(np.array([-1], dtype=np.int64), "flat")

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: object) -> str:
        self._n += 1
        out = output or f"{op_type.lower()}_{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _missing_band(ir: TreeEnsembleIR, g: _Graph) -> str:
    """Turns inputs inside a feature's missing band into NaN ahead of the trees; returns the
    tree input. A rewrite of the input, not extra split nodes: those would share children,
    which the opset-5 TreeEnsemble in ONNX Runtime rejects."""
    band = ir.missing_band
    if band is None or not (band >= 0).any():
        return "X"
    mask = g.op("LessOrEqual", [g.op("Abs", ["X"]), g.const(band.astype(g.dtype), "band")])
    return g.op("Where", [mask, g.const(np.array(np.nan, dtype=g.dtype), "nan"), "X"], "X_banded")


def _category_codes(ir: TreeEnsembleIR, g: _Graph, x: str) -> str:
    """Turns the categorical columns into the codes the native model reads (see
    CategoryCoding) ahead of the trees; returns the tree input. Whole-matrix ops under a
    column mask, like the missing band: no gather/scatter of columns."""
    if ir.categories is None:
        return x
    coding = ir.categories.coding
    xc = x
    if coding.cast == "float32" and g.dtype == np.float64:
        xc = g.op("Cast", [x], to=TensorProto.FLOAT)
    cdt = np.float32 if coding.cast == "float32" or g.dtype == np.float32 else np.float64
    low = g.const(np.array(coding.low, dtype=cdt), "cat_low")
    above = g.op("GreaterOrEqual" if coding.low_closed else "Greater", [xc, low])
    below = g.op("Less", [xc, g.const(np.array(coding.high, dtype=cdt), "cat_high")])
    # Truncation toward zero on the valid range: values in (-1, 0) truncate to 0.
    code = g.op("Floor", [g.op("Max", [xc, g.const(np.array(0.0, dtype=cdt), "zero")])])
    valid = g.op("And", [above, below])
    if coding.integers_only:
        valid = g.op("And", [valid, g.op("Equal", [code, xc])])
    if xc != x:
        code = g.op("Cast", [code], to=_ELEM[g.dtype])
    minus_one = g.const(np.array(-1.0, dtype=g.dtype), "no_category")
    coded = g.op("Where", [valid, code, minus_one])
    coded = g.op("Where", [g.op("IsNaN", [x]), x, coded])
    mask = np.zeros(ir.n_features, dtype=bool)
    mask[coding.features] = True
    return g.op("Where", [g.const(mask, "categorical_columns"), coded, x], "X_coded")


_POST_OPS = {"identity": None, "sigmoid": "Sigmoid", "sigmoid_ovr": "Sigmoid", "exp": "Exp"}


def _post(g: _Graph, raw: str, post: str) -> str:
    if post == "softmax":
        return g.op("Softmax", [raw], axis=-1)
    op = _POST_OPS[post]
    return g.op(op, [raw]) if op else raw


def _head(ir: TreeEnsembleIR, g: _Graph, raw: str, base_in_graph: bool) -> list[tuple[str, list[str | int]]]:
    """Adds the nodes from raw scores to each native method's output; returns (name, shape)."""
    head = ir.head
    if base_in_graph and np.any(ir.base_values != 0):
        raw = g.op("Add", [raw, g.const(ir.base_values.astype(g.dtype), "base")])
    if head.scale != 1.0:
        raw = g.op("Mul", [raw, g.const(np.array(head.scale, dtype=g.dtype), "scale")])
    outputs: list[tuple[str, list[str | int]]] = []
    methods = head.methods
    if head.task != "classification":
        if ir.n_targets > 1:  # e.g. a raw multi:softprob Booster returns (N, k)
            g.op("Identity", [_post(g, raw, head.post_transform)], "predict")
            return [("predict", ["N", ir.n_targets])]
        g.op("Reshape", [_post(g, raw, head.post_transform), g.flat()], "predict")
        return [("predict", ["N"])]
    if "decision_function" in methods:
        if ir.n_targets == 1:
            g.op("Reshape", [raw, g.flat()], "decision_function")
            outputs.append(("decision_function", ["N"]))
        else:
            g.op("Identity", [raw], "decision_function")
            outputs.append(("decision_function", ["N", ir.n_targets]))
    assert head.classes is not None
    n_classes = len(head.classes)
    proba = _post(g, raw, head.post_transform)
    if ir.n_targets == 1 and n_classes == 2:
        one = g.const(np.array(1.0, dtype=g.dtype), "one")
        proba = g.op("Concat", [g.op("Sub", [one, proba]), proba], axis=1)
    g.op("Identity", [proba], "predict_proba")
    if "predict_proba" in methods:
        outputs.append(("predict_proba", ["N", n_classes]))
    label_idx = g.op("ArgMax", [proba], axis=1, keepdims=0)
    g.op("Gather", [g.const(_label_tensor(head.classes), "classes"), label_idx], "predict", axis=0)
    outputs.append(("predict", ["N"]))
    return outputs


def _label_tensor(classes: np.ndarray) -> np.ndarray:
    if classes.dtype.kind in "OUS":
        return classes.astype(object).astype(str).astype(object)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    return classes.astype(np.float64)


_LABEL_ELEM = {"O": TensorProto.STRING, "i": TensorProto.INT64, "f": TensorProto.DOUBLE}


def emit(
    ir: TreeEnsembleIR, *, dtype: np.dtype = np.float32, ml_opset: int | None = None, name: str = "onnxgate"
) -> onnx.ModelProto:
    """Writes the ONNX model for ``ir``, with one graph output per native method."""
    dtype = np.dtype(dtype)
    if dtype not in _ELEM:
        raise ConversionRefusedError(f"dtype {dtype} is not supported; use 'float32' or 'float64'")
    has_sets = ir.categories is not None and bool((ir.categories.index >= 0).any())
    ml_opset = ml_opset or (5 if has_sets else DEFAULT_ML_OPSET[dtype])
    if ml_opset == 3 and has_sets:
        raise ConversionRefusedError(
            "the model has categorical (set-membership) splits, which need the ai.onnx.ml opset-5 "
            "TreeEnsemble operator (BRANCH_MEMBER); pass target_opset=5 or leave it unset"
        )
    if ml_opset not in (3, 5):
        raise ConversionRefusedError(f"ai.onnx.ml opset {ml_opset} is not supported; use 3 or 5")
    if ml_opset == 3 and dtype == np.float64:
        raise ConversionRefusedError(
            "float64 needs the ai.onnx.ml opset-5 TreeEnsemble operator: opset 3 returns float32 "
            "scores whatever the input type; pass target_opset=5 or dtype='float32'"
        )
    arrays = _node_arrays(ir, dtype)
    g = _Graph(dtype)
    x = _category_codes(ir, g, _missing_band(ir, g))
    op_type = "TreeEnsembleRegressor" if ml_opset == 3 else "TreeEnsemble"
    g.nodes.append(helper.make_node(op_type, [x], ["raw"], domain="ai.onnx.ml", name="trees"))
    tree_pos = len(g.nodes) - 1
    outputs = _head(ir, g, "raw", base_in_graph=ml_opset == 5)
    elem = _ELEM[dtype]
    out_infos = []
    for out_name, shape in outputs:
        out_elem = elem
        if out_name == "predict" and ir.head.task == "classification":
            out_elem = _LABEL_ELEM[_label_tensor(ir.head.classes).dtype.kind]
        out_infos.append(helper.make_tensor_value_info(out_name, out_elem, shape))
    graph = helper.make_graph(
        g.nodes,
        name,
        [helper.make_tensor_value_info("X", elem, ["N", ir.n_features])],
        out_infos,
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid("ai.onnx.ml", ml_opset)],
        producer_name="onnxgate",
    )
    model.ir_version = 10
    # Attributes go straight into the model's own node: make_graph and make_model copy their
    # nodes, which for hundreds of thousands of tree nodes costs more than building them.
    fill = _opset3_attributes if ml_opset == 3 else _opset5_attributes
    fill(ir, arrays, dtype, model.graph.node[tree_pos])
    return model
