"""The graph around a tree ensemble: input preludes (missing band and sentinel, category
codes) and output heads (post-transforms, labels, the native methods)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .emit_trees import _ELEM
from .tree_ir import Head, TreeEnsembleIR


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


def _head(head: Head, n_targets: int, g: _Graph, raw: str,
          base: np.ndarray | None) -> list[tuple[str, list[str | int]]]:
    """Adds the nodes from raw scores (``base`` added first unless None) to each native
    method's output; returns (name, shape)."""
    if base is not None and np.any(base != 0):
        raw = g.op("Add", [raw, g.const(base.astype(g.dtype), "base")])
    if head.scale != 1.0:
        raw = g.op("Mul", [raw, g.const(np.array(head.scale, dtype=g.dtype), "scale")])
    if head.divisor != 1.0:
        raw = g.op("Div", [raw, g.const(np.array(head.divisor, dtype=g.dtype), "divisor")])
    outputs: list[tuple[str, list[str | int]]] = []
    methods = head.methods
    if head.task != "classification":
        if n_targets > 1 and head.post_transform != "argmax":  # e.g. a raw multi:softprob Booster returns (N, k)
            g.op("Identity", [_post(g, raw, head.post_transform)], "predict")
            shape: list[str | int] = ["N", n_targets]
        else:
            g.op("Reshape", [_post(g, raw, head.post_transform), g.flat()], "predict")
            shape = ["N"]
        return [("predict", shape), *_same_as_predict(g, methods, shape)]
    if "decision_function" in methods:
        if n_targets == 1:
            g.op("Reshape", [raw, g.flat()], "decision_function")
            outputs.append(("decision_function", ["N"]))
        else:
            g.op("Identity", [raw], "decision_function")
            outputs.append(("decision_function", ["N", n_targets]))
    assert head.classes is not None
    if head.output_classes:
        return outputs + _multi_output_labels(g, _post(g, raw, head.post_transform), head)
    n_classes = len(head.classes)
    proba = _post(g, raw, head.post_transform)
    if n_targets == 1 and n_classes == 2:
        one = g.const(np.array(1.0, dtype=g.dtype), "one")
        proba = g.op("Concat", [g.op("Sub", [one, proba]), proba], axis=1)
    g.op("Identity", [proba], "predict_proba")
    if "predict_proba" in methods:
        outputs.append(("predict_proba", ["N", n_classes]))
    label_idx = _raw_label(g, raw, n_targets) if head.label_from_raw else g.op("ArgMax", [proba], axis=1, keepdims=0)
    g.op("Gather", [g.const(_label_tensor(head.classes), "classes"), label_idx], "predict", axis=0)
    outputs.append(("predict", ["N"]))
    return outputs


def _multi_output_labels(g: _Graph, proba: str, head: Head) -> list[tuple[str, list[str | int]]]:
    """A multi-output classifier: every output's probabilities side by side in one
    ``predict_proba`` (the engine splits it into the native list of arrays), and ``predict``
    as (N, n_outputs) labels, each the first most probable class of its output."""
    assert head.classes is not None
    g.op("Identity", [proba], "predict_proba")
    picks, start = [], 0
    for k in head.output_classes:
        part = g.op("Slice", [proba, g.const(np.array([start], dtype=np.int64), "start"),
                              g.const(np.array([start + k], dtype=np.int64), "stop"),
                              g.const(np.array([1], dtype=np.int64), "axis")])
        pick = g.op("ArgMax", [part], axis=1, keepdims=1)
        picks.append(g.op("Add", [pick, g.const(np.array(start, dtype=np.int64), "offset")]) if start else pick)
        start += k
    index = g.op("Concat", picks, axis=1)
    g.op("Gather", [g.const(_label_tensor(head.classes), "classes"), index], "predict", axis=0)
    return [("predict_proba", ["N", start]), ("predict", ["N", len(head.output_classes)])]


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


_SCORE_ELEM = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}


def output_infos(g: _Graph, outputs: list[tuple[str, list]], head: Head, elem: int) -> list[onnx.ValueInfoProto]:
    """The graph outputs ``_head`` made: a classifier's labels of their own type, scores of the
    native method's float type. Where that is not ``elem``, a Cast ends the graph (float32 to
    float64 is exact; the other way rounds as the native float32 result does): ONNX Runtime
    casts a one-row output for almost nothing, where the engine's ``astype`` cost 15% of the call."""
    infos = []
    for out_name, shape in outputs:
        kind = _SCORE_ELEM.get(head.methods.get(out_name, ""), elem)
        if out_name == "predict" and head.task == "classification":
            kind = _LABEL_ELEM[_label_tensor(head.classes).dtype.kind]
        elif kind != elem:
            _cast_output(g, out_name, kind)
        infos.append(helper.make_tensor_value_info(out_name, kind, shape))
    return infos


def _cast_output(g: _Graph, name: str, to: int) -> None:
    """Renames the node output ``name`` and casts it back to ``name`` right after its node
    (nodes stay in topological order: later nodes may read ``name``)."""
    pos = next(i for i, n in enumerate(g.nodes) if name in n.output)
    node, scores = g.nodes[pos], f"{name}_scores"
    node.output[list(node.output).index(name)] = scores
    g.nodes.insert(pos + 1, helper.make_node("Cast", [scores], [name], to=to))
