"""Tree IR with linear leaves (LightGBM ``linear_tree=True``) -> ONNX.

One opset-5 TreeEnsemble, computed in float64, returns the leaf each row reaches in every tree
(``n_targets`` = number of trees); the leaf's constant, coefficients, feature mask and plain
value are gathered from tables, and each tree's output is summed as LightGBM's
``Tree::Predict`` sums it: the constant, then ``coef * x`` feature by feature in ascending
order, then the trees one after another (two ``Scan`` loops, so the order of additions is the
native one and the result is bit-for-bit LightGBM's, overflow and cancellation included).

Why not one ensemble summing ``[const, coef...]`` vectors and a single dot product: that adds
in another order. On tests/test_linear_trees.py's hostile rows it differed from LightGBM in the
last bits on 2036 of 3560 rows (within parity's tolerance there), and where two trees give a
feature coefficients of opposite signs, x = inf is NaN natively (inf - inf) but +-inf through
a summed coefficient. The price is work and memory: ``rows x trees x features`` doubles per
call (the engine chunks rows); 200 trees x 31 leaves x 20 features took 12 ms for 100 rows
(native 8 ms) and 0.13 ms for one row (native 2.1 ms).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import ConversionRefusedError
from .emit_graph import _Graph, _head, _missing_band, output_infos
from .emit_trees import _ELEM, ONNX_OPSET, _node_arrays, _opset5_attributes
from .tree_ir import TreeEnsembleIR

__all__ = ["emit_linear"]

_F64 = np.dtype(np.float64)


def _leaf_index_ir(ir: TreeEnsembleIR) -> tuple[TreeEnsembleIR, np.ndarray, float]:
    """The same trees with leaf ``i`` (over all trees, in IR order) worth ``(i + 1) * scale``
    in target ``tree``; ``scale`` is a power of two so ids survive the float64 round trip and
    leaf weights stay at most 1 (parity's tolerance reads them as the output magnitude)."""
    leaves = np.flatnonzero(ir.is_leaf)
    scale = 2.0 ** -int(np.ceil(np.log2(leaves.size + 1)))
    n_trees = ir.n_trees
    value = np.zeros((ir.tree.size, n_trees))
    value[leaves, ir.tree[leaves]] = (np.arange(leaves.size) + 1) * scale
    return (
        replace(ir, n_targets=n_trees, value=value, base_values=np.zeros(n_trees), linear=None),
        leaves,
        scale,
    )


def _scan_sum(g: _Graph, init: str, seq: str, axis: int) -> str:
    """``init + seq[0] + seq[1] + ...`` along ``axis``, added strictly in that order."""
    acc_in = helper.make_tensor_value_info("acc_in", TensorProto.DOUBLE, None)
    item = helper.make_tensor_value_info("item", TensorProto.DOUBLE, None)
    acc_out = helper.make_tensor_value_info("acc_out", TensorProto.DOUBLE, None)
    body = helper.make_graph([helper.make_node("Add", ["acc_in", "item"], ["acc_out"])], "add_in_order",
                             [acc_in, item], [acc_out])
    return g.op("Scan", [init, seq], body=body, num_scan_inputs=1, scan_input_axes=[axis])


def emit_linear(ir: TreeEnsembleIR, *, dtype: np.dtype, ml_opset: int | None, name: str) -> onnx.ModelProto:
    """Writes the ONNX model for an IR whose leaves hold linear models (``ir.linear``)."""
    lin = ir.linear
    assert lin is not None
    if ml_opset not in (None, 5):
        raise ConversionRefusedError(
            "linear-tree models need the ai.onnx.ml opset-5 TreeEnsemble operator (float64 routing and "
            f"sums); ml opset {ml_opset} cannot compute them exactly: pass target_opset=5 or leave it unset"
        )
    k, n_trees, n_features = ir.n_targets, ir.n_trees, ir.n_features
    if n_trees % k:
        raise ConversionRefusedError(
            f"{n_trees} trees do not divide into {k} outputs; the model file looks inconsistent"
        )
    leaf_ir, leaves, scale = _leaf_index_ir(ir)
    g = _Graph(_F64)  # LightGBM routes and sums in double whatever the input type
    x = g.op("Cast", ["X"], to=TensorProto.DOUBLE) if dtype != _F64 else "X"
    routed = _missing_band(ir, g, x)
    g.nodes.append(helper.make_node("TreeEnsemble", [routed], ["leaf_ids"], domain="ai.onnx.ml", name="trees"))
    tree_pos = len(g.nodes) - 1
    ids = g.op("Mul", ["leaf_ids", g.const(np.array(1.0 / scale), "unscale")])
    idx = g.op("Sub", [g.op("Cast", [ids], to=TensorProto.INT64), g.const(np.array(1, dtype=np.int64), "one")])

    def table(values: np.ndarray, hint: str) -> str:
        return g.op("Gather", [g.const(np.ascontiguousarray(values), hint), idx], axis=0)

    # LightGBM's predictor drops |x| <= 1e-35 before the trees see the row: the linear models read 0.0.
    small = g.op("LessOrEqual", [g.op("Abs", [x]), g.const(np.array(lin.zero_band), "zero_band")])
    x_lin = g.op("Unsqueeze", [g.op("Where", [small, g.const(np.array(0.0), "zero"), x]),
                               g.const(np.array([1], dtype=np.int64), "axis1")])  # [N, 1, F]
    uses = table(lin.uses[leaves], "uses")  # [N, T, F]
    # Where, not a product with a 0/1 mask: x = NaN or inf on an unused feature must add nothing.
    terms = g.op("Where", [uses, g.op("Mul", [table(lin.coef[leaves], "coef"), x_lin]), g.const(np.array(0.0), "zero")])
    linear_out = _scan_sum(g, table(lin.const[leaves], "const"), terms, axis=2)  # [N, T]
    nan_used = g.op("And", [uses, g.op("IsNaN", [x_lin])])
    fallback = g.op("ReduceMax", [g.op("Cast", [nan_used], to=TensorProto.INT32),
                                  g.const(np.array([2], dtype=np.int64), "axis2")], keepdims=0)
    plain = ir.value[leaves, ir.tree[leaves] % k]
    per_tree = g.op("Where", [g.op("Cast", [fallback], to=TensorProto.BOOL), table(plain, "leaf_value"), linear_out])
    # Tree t adds to output t % k; LightGBM adds iteration by iteration, starting from 0.0.
    by_iter = g.op("Reshape", [per_tree, g.const(np.array([0, n_trees // k, k], dtype=np.int64), "iters")])
    n_rows = g.op("Slice", [g.op("Shape", [x]), g.const(np.array([0], dtype=np.int64), "start"),
                            g.const(np.array([1], dtype=np.int64), "stop")])
    zeros = g.op("ConstantOfShape", [g.op("Concat", [n_rows, g.const(np.array([k], dtype=np.int64), "k")], axis=0)],
                 value=helper.make_tensor("zero", TensorProto.DOUBLE, [1], [0.0]))
    raw = _scan_sum(g, zeros, by_iter, axis=1)
    outputs = _head(ir.head, ir.n_targets, g, raw, ir.base_values)
    out_infos = output_infos(g, outputs, ir.head, TensorProto.DOUBLE)
    graph = helper.make_graph(g.nodes, name, [helper.make_tensor_value_info("X", _ELEM[dtype], ["N", n_features])],
                              out_infos, initializer=g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid("ai.onnx.ml", 5)],
        producer_name="onnxgate",
    )
    model.ir_version = 10
    _opset5_attributes(leaf_ir, _node_arrays(leaf_ir, _F64), _F64, model.graph.node[tree_pos])
    return model
