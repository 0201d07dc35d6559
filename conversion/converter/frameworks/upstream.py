"""Shared plumbing for the public converters' path (onnxmltools, skl2onnx, CatBoost's exporter).

Their graphs name outputs ``label`` / ``probabilities`` / ``variable``; onnxgate's convention
is one output per native method. ``adopt_outputs`` maps one onto the other so the same
engine and parity check run both paths.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

__all__ = ["adopt_outputs"]


def adopt_outputs(
    model: onnx.ModelProto, mapping: dict[str, str], *, flatten: frozenset[str] = frozenset(),
    side_by_side: frozenset[str] = frozenset(),
) -> onnx.ModelProto:
    """Renames graph outputs ``old -> method``; methods in ``flatten`` are reshaped to 1-D
    (upstream regressors return (N, 1) where natives return (N,)); methods in ``side_by_side``
    go from (n_outputs, N, k) to (N, n_outputs * k), onnxgate's form of a multi-output
    classifier's probabilities (skl2onnx's multilabel trees return the former)."""
    graph = model.graph
    if not any(op.domain in ("", "ai.onnx") for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", 15))  # for the Identity/Reshape added here
    old = {o.name: o for o in graph.output}
    missing = [name for name in mapping if name not in old]
    if missing:
        raise ValueError(f"upstream graph lacks outputs {missing}; it has {list(old)}")
    new_outputs = []
    for src, method in mapping.items():
        elem = old[src].type.tensor_type.elem_type
        if method in side_by_side:
            shape_name = f"{method}_shape"
            graph.initializer.append(helper.make_tensor(shape_name, TensorProto.INT64, [2], [0, -1]))
            graph.node.append(helper.make_node("Transpose", [src], [f"{method}_by_row"], perm=[1, 0, 2]))
            graph.node.append(helper.make_node("Reshape", [f"{method}_by_row", shape_name], [method]))
            new_outputs.append(helper.make_tensor_value_info(method, elem, ["N", None]))
        elif method in flatten:
            shape_name = f"{method}_shape"
            graph.initializer.append(helper.make_tensor(shape_name, TensorProto.INT64, [1], [-1]))
            graph.node.append(helper.make_node("Reshape", [src, shape_name], [method]))
            new_outputs.append(helper.make_tensor_value_info(method, elem, ["N"]))
        else:
            graph.node.append(helper.make_node("Identity", [src], [method]))
            dims = [d.dim_value or d.dim_param or None for d in old[src].type.tensor_type.shape.dim]
            new_outputs.append(helper.make_tensor_value_info(method, elem, dims or None))
    del graph.output[:]
    graph.output.extend(new_outputs)
    return model
