"""The one ONNX emitter: tree IR -> ai.onnx.ml TreeEnsemble graph.

Threshold rounding, NaN routing, base scores and post-transforms are decided here, once,
for every framework.
"""

from __future__ import annotations

from dataclasses import replace

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
    return a


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


def _missing_band(ir: TreeEnsembleIR, g: _Graph, x: str) -> str:
    """Turns inputs inside a feature's missing band into NaN ahead of the trees; returns the
    tree input. A rewrite of the input, not extra split nodes: those would share children,
    which the opset-5 TreeEnsemble in ONNX Runtime rejects."""
    band = ir.missing_band
    if band is None or not (band >= 0).any():
        return x
    mask = g.op("LessOrEqual", [g.op("Abs", [x]), g.const(band.astype(g.dtype), "band")])
    return g.op("Where", [mask, g.const(np.array(np.nan, dtype=g.dtype), "nan"), x], "X_banded")


def _missing_value(ir: TreeEnsembleIR, g: _Graph, x: str) -> str:
    """Turns inputs equal to the model's missing sentinel into NaN ahead of the trees.

    XGBoost's DMatrix treats a cell as missing when ``float32(x) == missing`` or x is NaN, so
    with ``missing=0.0`` both +0.0 and -0.0 are missing, and a float64 input that rounds to the
    sentinel is too. The comparison is made in the precision the framework reads inputs in.
    """
    m = ir.missing_value
    if np.isnan(m):
        return x
    cast = np.dtype(ir.input_cast)
    seen = x if cast == g.dtype else g.op("Cast", [x], to=_ELEM[cast])
    hit = g.op("Equal", [seen, g.const(np.array(m, dtype=cast), "missing")])
    return g.op("Where", [hit, g.const(np.array(np.nan, dtype=g.dtype), "nan"), x], "X_missing")


_POST_OPS = {"identity": None, "sigmoid": "Sigmoid", "sigmoid_ovr": "Sigmoid", "exp": "Exp"}


def _post(g: _Graph, raw: str, post: str) -> str:
    if post == "softmax":
        return g.op("Softmax", [raw], axis=-1)
    if post == "sigmoid_2x":  # doubling is exact, so this is expit(2 * raw) as scikit-learn computes it
        return g.op("Sigmoid", [g.op("Add", [raw, raw])])
    if post == "hinge":  # XGBoost's HingeObj: margin > 0 ? 1 : 0, NaN margins give 0
        return g.op("Cast", [g.op("Greater", [raw, g.const(np.array(0, dtype=g.dtype), "zero")])], to=_ELEM[g.dtype])
    if post == "argmax":  # XGBoost's softmax PredTransform: std::max_element, the first maximum
        return g.op("Cast", [g.op("ArgMax", [raw], axis=1, keepdims=1)], to=_ELEM[g.dtype])
    op = _POST_OPS[post]
    return g.op(op, [raw]) if op else raw


def _raw_label(g: _Graph, raw: str, n_targets: int) -> str:
    """Class index from raw scores: raw >= 0 for one column, else the first maximum."""
    if n_targets == 1:
        ge = g.op("GreaterOrEqual", [raw, g.const(np.array(0, dtype=g.dtype), "zero")])
        return g.op("Reshape", [g.op("Cast", [ge], to=TensorProto.INT64), g.flat()])
    return g.op("ArgMax", [raw], axis=1, keepdims=0)


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
        if ir.n_targets > 1 and head.post_transform != "argmax":  # e.g. a raw multi:softprob Booster returns (N, k)
            g.op("Identity", [_post(g, raw, head.post_transform)], "predict")
            shape: list[str | int] = ["N", ir.n_targets]
        else:
            g.op("Reshape", [_post(g, raw, head.post_transform), g.flat()], "predict")
            shape = ["N"]
        return [("predict", shape), *_same_as_predict(g, methods, shape)]
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
    label_idx = _raw_label(g, raw, ir.n_targets) if head.label_from_raw else g.op("ArgMax", [proba], axis=1, keepdims=0)
    g.op("Gather", [g.const(_label_tensor(head.classes), "classes"), label_idx], "predict", axis=0)
    outputs.append(("predict", ["N"]))
    return outputs


def _same_as_predict(g: _Graph, methods: dict[str, str], shape: list[str | int]) -> list[tuple[str, list[str | int]]]:
    """Other native methods that return what predict returns (an LGBMClassifier with a
    callable objective answers raw scores from both predict and predict_proba)."""
    others = [m for m in methods if m != "predict"]
    for m in others:
        g.op("Identity", ["predict"], m)
    return [(m, shape) for m in others]


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
    if ir.linear is not None:  # leaves with linear models: another graph shape, its own module
        from .emit_linear import emit_linear

        return emit_linear(ir, dtype=dtype, ml_opset=ml_opset, name=name)
    requested, ml_opset = ml_opset, ml_opset or DEFAULT_ML_OPSET[dtype]
    if ml_opset not in (3, 5):
        raise ConversionRefusedError(f"ai.onnx.ml opset {ml_opset} is not supported; use 3 or 5")
    if ml_opset == 3 and dtype == np.float64:
        raise ConversionRefusedError(
            "float64 needs the ai.onnx.ml opset-5 TreeEnsemble operator: opset 3 returns float32 "
            "scores whatever the input type; pass target_opset=5 or dtype='float32'"
        )
    input_elem = _ELEM[dtype]
    x = "X"
    if dtype == np.float32 and ir.sum_dtype == "float64" and requested != 3:
        # Float32 inputs are float64-exact, and split_values for float64 inputs routes them
        # as the native float32(x) <= t does; the trees then sum in float64 like the native.
        dtype, ml_opset = np.dtype(np.float64), 5
    g = _Graph(dtype)
    if _ELEM[dtype] != input_elem:
        x = g.op("Cast", [x], to=_ELEM[dtype])
    x = _missing_value(ir, g, _missing_band(ir, g, x))
    op_type = "TreeEnsembleRegressor" if ml_opset == 3 else "TreeEnsemble"
    parts = _per_target(ir) if ml_opset == 5 and ir.n_targets > 1 and ir.head.label_from_raw else [ir]
    tree_nodes = []
    for k, part in enumerate(parts):
        out = "raw" if len(parts) == 1 else f"raw_{k}"
        g.nodes.append(helper.make_node(op_type, [x], [out], domain="ai.onnx.ml", name=f"trees_{k}" if k else "trees"))
        tree_nodes.append((len(g.nodes) - 1, part))
    if len(parts) > 1:
        g.op("Concat", [f"raw_{k}" for k in range(len(parts))], "raw", axis=1)
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
        [helper.make_tensor_value_info("X", input_elem, ["N", ir.n_features])],
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
    for pos, part in tree_nodes:
        fill(part, _node_arrays(part, dtype), dtype, model.graph.node[pos])
    return model


def _per_target(ir: TreeEnsembleIR) -> list[TreeEnsembleIR]:
    """One single-target ensemble per target, each holding the trees that score it.

    ONNX Runtime sums a single-target ensemble in tree order whatever its thread count, but a
    multi-target one evaluated on one row with more trees than its parallel threshold is
    split into per-thread partial sums merged in completion order: two classes whose native
    scores tie exactly (the same leaves added in the same order) can then come out an ulp
    apart, and the label would depend on the thread count.
    """
    parts = []
    for k in range(ir.n_targets):
        used = np.unique(ir.tree[ir.is_leaf & (ir.value[:, k] != 0)])
        keep = np.isin(ir.tree, used) if used.size else ir.tree == 0
        tree = np.unique(ir.tree[keep], return_inverse=True)[1].astype(np.int64)
        parts.append(
            replace(
                ir,
                n_targets=1,
                tree=tree,
                node=ir.node[keep],
                feature=ir.feature[keep],
                threshold=ir.threshold[keep],
                left=ir.left[keep],
                right=ir.right[keep],
                missing_left=ir.missing_left[keep],
                value=ir.value[keep, k : k + 1],
                base_values=ir.base_values[k : k + 1],
            )
        )
    return parts
