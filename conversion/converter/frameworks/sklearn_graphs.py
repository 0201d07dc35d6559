"""ONNX pieces around scikit-learn models: preprocessing steps in native precision, graph
composition, and the IsolationForest score head.

Preprocessing is written here rather than by skl2onnx because skl2onnx's Scaler computes
``(x - offset) * (1 / scale)`` in the input type, while scikit-learn computes ``x - mean`` then
``/ scale`` with its own casts; the difference moves rows across a downstream split threshold
(skl2onnx docs "Issues when switching to float", skl2onnx #1046). Every node below is one IEEE
operation in the precision numpy uses, so the result is bit-identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import ConversionRefusedError

__all__ = ["Steps", "in_float32", "isolation_forest_head", "linear_regressor_graph", "prepend"]

_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


class Steps:
    """Builds a chain of elementwise nodes from graph input ``X``; ``out`` is the current tensor."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.out = "X"
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"pre_{hint}_{self._n}"

    def const(self, value: np.ndarray, hint: str) -> str:
        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        self.out = out
        return out

    def cast(self, dtype: np.dtype) -> str:
        return self.op("Cast", [self.out], to=_ELEM[np.dtype(dtype)])

    def inplace(self, op_type: str, param: np.ndarray, *, cast_param: bool) -> None:
        """numpy's ``X <op>= param`` on an array of ``self.dtype``.

        ``cast_param``: scikit-learn casts the parameter to X's dtype first (StandardScaler), so
        the operation runs in that dtype. Otherwise a float64 parameter makes numpy compute in
        float64 and round the result back into the float32 array (MinMaxScaler).
        """
        param = np.asarray(param, dtype=np.float64)
        if cast_param or self.dtype == np.float64:
            self.op(op_type, [self.out, self.const(param.astype(self.dtype), "p")])
            return
        self.cast(np.float64)
        self.op(op_type, [self.out, self.const(param, "p")])
        self.cast(self.dtype)

    def standard_scaler(self, step: Any) -> None:
        if step.with_mean:
            self.inplace("Sub", step.mean_, cast_param=True)
        if step.with_std:
            self.inplace("Div", step.scale_, cast_param=True)

    def min_max_scaler(self, step: Any) -> None:
        if step.clip:
            raise ConversionRefusedError("MinMaxScaler(clip=True) is not supported; use clip=False")
        self.inplace("Mul", step.scale_, cast_param=False)
        self.inplace("Add", step.min_, cast_param=False)

    def simple_imputer(self, step: Any) -> None:
        missing = step.missing_values
        if not (isinstance(missing, float) and np.isnan(missing)):
            raise ConversionRefusedError(
                f"SimpleImputer(missing_values={missing!r}) is not supported; only missing_values=np.nan is. "
                f"Replace {missing!r} with NaN before the pipeline and fit the imputer with the default"
            )
        if step.add_indicator:
            raise ConversionRefusedError(
                "SimpleImputer(add_indicator=True) is not supported (it changes the number of columns); use "
                "add_indicator=False and add missing-indicator columns yourself before the pipeline"
            )
        stats = np.asarray(step.statistics_, dtype=np.float64)
        if np.isnan(stats).any():
            raise ConversionRefusedError(
                "a SimpleImputer column was all-missing in training, so scikit-learn drops it at transform "
                "time; drop that column before training or pass keep_empty_features=True"
            )
        # X[mask] = statistics stores the float64 statistics rounded into X's dtype.
        fill = self.const(stats.astype(self.dtype), "fill")
        x = self.out
        self.op("Where", [self.op("IsNaN", [x]), fill, x])


def prepend(model: onnx.ModelProto, steps: Steps, *, input_name: str = "X") -> onnx.ModelProto:
    """Feeds ``model``'s input ``input_name`` from the end of ``steps``; the new graph input is
    ``X`` of the steps' dtype."""
    graph = model.graph
    if not steps.nodes:
        return model
    old = next(i for i in graph.input if i.name == input_name)
    n_features = old.type.tensor_type.shape.dim[1].dim_value
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name == input_name:
                node.input[k] = steps.out
    for out in graph.output:  # an identity model would output its input directly
        if out.name == input_name:
            raise ConversionRefusedError("the model graph outputs its input unchanged; nothing to convert")
    nodes = list(steps.nodes) + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(steps.inits)
    graph.input.remove(old)
    graph.input.insert(0, helper.make_tensor_value_info("X", _ELEM[steps.dtype], ["N", n_features]))
    return model


def isolation_forest_head(model: onnx.ModelProto, denominator: float, offset: float) -> None:
    """Replaces the summed path lengths ``predict`` with IsolationForest's three outputs.

    score_samples = -2 ** (-(depths / denominator)); decision_function = score_samples - offset_;
    predict = -1 where decision_function < 0 else 1, the order scikit-learn computes them in.
    The score is computed in float64 whatever the input type, as scikit-learn does.
    """
    graph = model.graph
    dtype = np.float64
    elem = TensorProto.DOUBLE
    for node in graph.node:
        for k, name in enumerate(node.output):
            if name == "predict":
                node.output[k] = "path_lengths"
    del graph.output[:]

    def const(value: Any, name: str, dt: Any = dtype) -> str:
        graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dt), name))
        return name

    denominator_is_zero = denominator == 0.0  # one training sample: scikit-learn sets the ratio to 1
    nodes = [helper.make_node("Cast", ["path_lengths"], ["if_lengths"], to=TensorProto.DOUBLE)]
    if denominator_is_zero:
        ratio = const(np.ones(1), "if_one")
        nodes.append(helper.make_node("Mul", ["if_lengths", const(0.0, "if_zero")], ["if_zeros"]))
        nodes.append(helper.make_node("Add", ["if_zeros", ratio], ["if_ratio"]))
    else:
        nodes.append(helper.make_node("Div", ["if_lengths", const(denominator, "if_denominator")], ["if_ratio"]))
    nodes += [
        helper.make_node("Neg", ["if_ratio"], ["if_neg_ratio"]),
        helper.make_node("Pow", [const(2.0, "if_two"), "if_neg_ratio"], ["if_scores"]),
        helper.make_node("Neg", ["if_scores"], ["score_samples"]),
        helper.make_node("Sub", ["score_samples", const(offset, "if_offset")], ["decision_function"]),
        helper.make_node("Less", ["decision_function", const(0.0, "if_zero_cmp")], ["if_outlier"]),
        helper.make_node(
            "Where", ["if_outlier", const(-1, "if_minus_one", np.int64), const(1, "if_plus_one", np.int64)], ["predict"]
        ),
    ]
    graph.node.extend(nodes)
    graph.output.extend(
        [
            helper.make_tensor_value_info("predict", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("decision_function", elem, ["N"]),
            helper.make_tensor_value_info("score_samples", elem, ["N"]),
        ]
    )


def linear_regressor_graph(model: Any) -> onnx.ModelProto:
    """``X @ coef_ + intercept_`` (``coef_.T`` for several targets) in float64, as
    ``LinearModel._decision_function`` computes it for float64 coefficients (the caller retypes
    it for float32 ones, see ``in_float32``). Written here, not by skl2onnx, which fails on
    ``fit_intercept=False`` (a float ``intercept_``: "'float' object has no attribute
    'reshape'") and flattens several targets into one column."""
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    n_features = int(model.n_features_in_)
    weights = coef if coef.ndim == 1 else coef.T
    steps = Steps(np.float64)
    x = steps.out
    nodes = [helper.make_node("MatMul", [x, "coef"], ["scores"]), helper.make_node("Add", ["scores", "intercept"],
                                                                                     ["predict"])]
    shape: list[str | int] = ["N"] if coef.ndim == 1 else ["N", coef.shape[0]]
    graph = helper.make_graph(
        nodes, "linear_regressor", [helper.make_tensor_value_info("X", TensorProto.DOUBLE, ["N", n_features])],
        [helper.make_tensor_value_info("predict", TensorProto.DOUBLE, shape)],
        initializer=[numpy_helper.from_array(weights, "coef"), numpy_helper.from_array(intercept, "intercept")],
    )
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="onnxgate")
    out.ir_version = 10
    return out


def in_float32(graph: onnx.ModelProto, *, round_constants: bool = False) -> onnx.ModelProto:
    """The same graph computing in float32: double inputs, outputs, constants and casts
    become float. Used for skl2onnx's double graphs of models whose weights are float32
    (so every constant converts exactly); refuses an operator it does not know how to retype.
    ``round_constants``: round float64 constants to float32 instead of refusing them (for the
    lossy variants of variants.py, which say they are not exact).
    """
    retypable = {"MatMul", "Gemm", "Add", "Sub", "Mul", "Div", "Reshape", "ArgMax", "Sigmoid", "Softmax",
                 "Relu", "Tanh", "Abs", "ArrayFeatureExtractor", "Cast", "ReduceSum", "Concat", "Identity",
                 "Gather", "Squeeze", "Unsqueeze", "Flatten", "Exp", "Log", "Neg", "Max", "Min"}
    g = graph.graph
    unknown = sorted({n.op_type for n in g.node} - retypable)
    if unknown:
        raise ConversionRefusedError(
            f"onnxgate cannot run this float32 model's graph in float32 (operators {', '.join(unknown)}); "
            "convert with dtype='float64' or fit the model on float64 data"
        )
    for init in g.initializer:
        if init.data_type == TensorProto.DOUBLE:
            values = numpy_helper.to_array(init)
            if not round_constants and not np.array_equal(values.astype(np.float32).astype(np.float64), values,
                                                          equal_nan=True):
                raise ConversionRefusedError(
                    "a constant of this float32 model is not float32-exact; convert with dtype='float64'"
                )
            init.CopyFrom(numpy_helper.from_array(values.astype(np.float32), init.name))
    for node in g.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.DOUBLE:
                attr.i = TensorProto.FLOAT
    for info in [*g.input, *g.output, *g.value_info]:
        if info.type.tensor_type.elem_type == TensorProto.DOUBLE:
            info.type.tensor_type.elem_type = TensorProto.FLOAT
    return graph
