"""The one ONNX emitter: tree IR -> ai.onnx.ml TreeEnsemble graph.

Threshold rounding, NaN routing, base scores and post-transforms are decided here, once,
for every framework: the operator's attributes in emit_trees.py, the preludes and heads
around it in emit_graph.py, leaves with linear models in emit_linear.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
from onnx import helper

from ..errors import ConversionRefusedError
from .emit_graph import _category_codes, _Graph, _head, _missing_band, _missing_value, output_infos
from .emit_linear import emit_linear
from .emit_trees import (
    _ELEM,
    DEFAULT_ML_OPSET,
    ONNX_OPSET,
    _node_arrays,
    _opset3_attributes,
    _opset5_attributes,
    split_values,
)
from .tree_ir import TreeEnsembleIR

__all__ = ["emit", "split_values", "ONNX_OPSET", "DEFAULT_ML_OPSET"]


def emit(
    ir: TreeEnsembleIR, *, dtype: np.dtype = np.float32, ml_opset: int | None = None, name: str = "onnxgate"
) -> onnx.ModelProto:
    """Writes the ONNX model for ``ir``, with one graph output per native method."""
    dtype = np.dtype(dtype)
    if dtype not in _ELEM:
        raise ConversionRefusedError(f"dtype {dtype} is not supported; use 'float32' or 'float64'")
    has_sets = ir.categories is not None and bool((ir.categories.index >= 0).any())
    if ir.linear is not None:  # leaves with linear models: another graph shape, its own module
        if has_sets:
            raise ConversionRefusedError(
                "linear_tree together with categorical splits is not supported yet; train with linear_tree=False, "
                "or without categorical_feature (e.g. one-hot columns), or serve the native model"
            )
        return emit_linear(ir, dtype=dtype, ml_opset=ml_opset, name=name)
    requested, ml_opset = ml_opset, ml_opset or (5 if has_sets else DEFAULT_ML_OPSET[dtype])
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
    input_elem = _ELEM[dtype]
    x = "X"
    if dtype == np.float32 and ir.sum_dtype == "float64" and requested != 3:
        # Float32 inputs are float64-exact, and split_values for float64 inputs routes them
        # as the native float32(x) <= t does; the trees then sum in float64 like the native.
        dtype, ml_opset = np.dtype(np.float64), 5
    g = _Graph(dtype)
    if _ELEM[dtype] != input_elem:
        x = g.op("Cast", [x], to=_ELEM[dtype])
    x = _category_codes(ir, g, _missing_value(ir, g, _missing_band(ir, g, x)))
    op_type = "TreeEnsembleRegressor" if ml_opset == 3 else "TreeEnsemble"
    parts = _per_target(ir) if ml_opset == 5 and ir.n_targets > 1 and ir.head.label_from_raw else [ir]
    tree_nodes = []
    for k, part in enumerate(parts):
        out = "raw" if len(parts) == 1 else f"raw_{k}"
        g.nodes.append(helper.make_node(op_type, [x], [out], domain="ai.onnx.ml", name=f"trees_{k}" if k else "trees"))
        tree_nodes.append((len(g.nodes) - 1, part))
    if len(parts) > 1:
        g.op("Concat", [f"raw_{k}" for k in range(len(parts))], "raw", axis=1)
    outputs = _head(ir.head, ir.n_targets, g, "raw", ir.base_values if ml_opset == 5 else None)
    out_infos = output_infos(g, outputs, ir.head, _ELEM[dtype])
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
                categories=None if ir.categories is None else replace(ir.categories, index=ir.categories.index[keep]),
            )
        )
    return parts
