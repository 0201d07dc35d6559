"""A linear model summed feature by feature in float32 (XGBoost ``booster="gblinear"``) -> ONNX.

XGBoost's ``GBLinear::Pred`` (src/gbm/gblinear.cc, v3.2) computes, per row and output group,
``psum = bias[g] + base_score(0)`` then ``psum += x[f] * w[f, g]`` over the row's present
entries in feature order, all in float32; a missing entry (NaN, or ``missing=``) is absent
from the row's sparse page, so it adds nothing. A MatMul would add in another order (MLAS
blocks and fuses multiply-adds), so the graph multiplies elementwise and sums with a ``Scan``
over the features, one float32 addition at a time, skipping missing cells. The head
(sigmoid, softmax, labels) is the tree emitter's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from .emit_graph import _Graph, _head, output_infos
from .emit_trees import _ELEM, ONNX_OPSET
from .tree_ir import Head

__all__ = ["OrderedLinear", "emit_ordered_linear"]

_F32 = np.dtype(np.float32)


@dataclass(frozen=True)
class OrderedLinear:
    """``start[g] + sum_f x[f] * weights[f, g]`` in float32, in feature order, missing cells skipped."""

    weights: np.ndarray  # float32 [n_features, n_groups]
    start: np.ndarray  # float32 [n_groups]: bias + base margin, added in float32
    head: Head
    missing_value: float = float("nan")  # besides NaN, compared after the float32 cast

    @property
    def n_features(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.weights.shape[1])


def _skip_missing_sum(g: _Graph, start: str, terms: str, missing: str) -> str:
    """``start`` plus each ``terms[:, f]`` not ``missing[:, f]``, added in feature order."""
    names = ("acc_in", "term", "skip", "acc_out")
    acc_in, term, skip, acc_out = names
    body = helper.make_graph(
        [helper.make_node("Add", [acc_in, term], ["added"]),
         helper.make_node("Where", [skip, acc_in, "added"], [acc_out])],
        "add_present_in_order",
        [helper.make_tensor_value_info(acc_in, TensorProto.FLOAT, None),
         helper.make_tensor_value_info(term, TensorProto.FLOAT, None),
         helper.make_tensor_value_info(skip, TensorProto.BOOL, None)],
        [helper.make_tensor_value_info(acc_out, TensorProto.FLOAT, None)],
    )
    return g.op("Scan", [start, terms, missing], body=body, num_scan_inputs=2, scan_input_axes=[1, 1])


def emit_ordered_linear(lin: OrderedLinear, *, dtype: np.dtype, name: str = "onnxgate") -> onnx.ModelProto:
    """The ONNX model for ``lin``: input ``X`` of ``dtype``, one output per native method."""
    g = _Graph(_F32)
    x = "X" if np.dtype(dtype) == _F32 else g.op("Cast", ["X"], to=TensorProto.FLOAT)  # DMatrix reads float32
    missing = g.op("IsNaN", [x])
    if not np.isnan(lin.missing_value):
        sentinel = g.const(np.array(lin.missing_value, dtype=_F32), "missing")
        missing = g.op("Or", [missing, g.op("Equal", [x, sentinel])])
    axis2 = g.const(np.array([2], dtype=np.int64), "axis2")
    terms = g.op("Mul", [g.op("Unsqueeze", [x, axis2]), g.const(lin.weights.astype(_F32), "weights")])  # [N, F, G]
    n_rows = g.op("Slice", [g.op("Shape", [x]), g.const(np.array([0], dtype=np.int64), "start"),
                            g.const(np.array([1], dtype=np.int64), "stop")])
    shape = g.op("Concat", [n_rows, g.const(np.array([lin.n_groups], dtype=np.int64), "groups")], axis=0)
    start = g.op("Expand", [g.const(lin.start.astype(_F32), "bias"), shape])  # [N, G]
    raw = _skip_missing_sum(g, start, terms, g.op("Unsqueeze", [missing, axis2]))
    outputs = _head(lin.head, lin.n_groups, g, raw, None)
    out_infos = output_infos(g, outputs, lin.head, TensorProto.FLOAT)
    graph = helper.make_graph(g.nodes, name, [helper.make_tensor_value_info("X", _ELEM[np.dtype(dtype)],
                                                                            ["N", lin.n_features])],
                              out_infos, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="onnxgate")
    model.ir_version = 10
    return model
