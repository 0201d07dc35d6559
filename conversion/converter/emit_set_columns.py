"""An older-onnxruntime form of categorical set splits: each set becomes a 0/1 column computed
ahead of the trees, and its split a plain ``x <= 0.5`` on that column.

onnxruntime 1.21-1.24.2 builds BRANCH_MEMBER sets (and legacy BRANCH_EQ chains, which it
merges into sets) in O(n²) at load time (#27391), but loads opset-5 TreeEnsemble with only
threshold splits in milliseconds. The column is looked up in a table per categorical input
(one row per code up to the largest member, a last row for every other value), so membership
is decided exactly for every float: a value that is not a whole number in range, ±inf and -1
read the last row (not a member), and NaN stays NaN so the split's missing direction applies.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ConversionRefusedError
from .emit_trees import BRANCH_MEMBER

__all__ = ["MAX_TABLE_CELLS", "has_set_splits", "sets_as_columns"]

MAX_TABLE_CELLS = 1 << 24  # lookup-table entries per categorical input: 64 MiB of float32
_LEQ = 0


def _attrs(node: onnx.NodeProto) -> dict[str, onnx.AttributeProto]:
    return {a.name: a for a in node.attribute}


def has_set_splits(model: onnx.ModelProto) -> bool:
    return any("membership_values" in _attrs(n) for n in model.graph.node if n.op_type == "TreeEnsemble")


def _sets(members: np.ndarray) -> list[np.ndarray]:
    """membership_values -> one array per BRANCH_MEMBER node, in node order (NaN-delimited)."""
    ends = np.flatnonzero(np.isnan(members))
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [members[s:e] for s, e in zip(starts, ends, strict=True)]


def _rewrite(node: onnx.NodeProto, width: int, x: str, prefix: str) -> tuple[list[onnx.NodeProto], list[TensorProto]]:
    """Rewrites ``node`` in place to split on indicator columns; returns the nodes and constants
    computing them."""
    attrs = _attrs(node)
    modes = numpy_helper.to_array(attrs["nodes_modes"].t).copy()
    splits = numpy_helper.to_array(attrs["nodes_splits"].t).copy()
    feats = np.array(attrs["nodes_featureids"].ints, dtype=np.int64)
    member_nodes = np.flatnonzero(modes == BRANCH_MEMBER)
    sets = _sets(numpy_helper.to_array(attrs["membership_values"].t).astype(np.float64))
    dtype = splits.dtype
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = []
    columns = [x]
    column = width
    for f in np.unique(feats[member_nodes]):
        mine = member_nodes[feats[member_nodes] == f]
        values = np.concatenate([sets[np.searchsorted(member_nodes, i)] for i in mine])
        if values.size and ((values < 0).any() or (values != np.floor(values)).any()):
            raise ConversionRefusedError(f"feature {f} has a category set with members that are not whole "
                                         "numbers >= 0; its sets cannot be written as lookup columns")
        top = int(values.max()) if values.size else 0
        if (top + 2) * mine.size > MAX_TABLE_CELLS:
            raise ConversionRefusedError(
                f"feature {f}'s category sets would need a lookup table of {(top + 2) * mine.size} entries "
                f"(codes up to {top}, {mine.size} splits; at most {MAX_TABLE_CELLS})")
        table = np.ones((top + 2, mine.size), dtype=dtype)  # 1: not a member; the last row: any other value
        for k, i in enumerate(mine):
            table[sets[np.searchsorted(member_nodes, i)].astype(np.int64), k] = 0
        name = f"{prefix}_f{f}"

        def const(value: np.ndarray, hint: str, name: str = name) -> str:
            inits.append(numpy_helper.from_array(np.asarray(value), f"{name}_{hint}"))
            return f"{name}_{hint}"

        def op(op_type: str, inputs: list[str], hint: str, name: str = name, **kw: object) -> str:
            nodes.append(helper.make_node(op_type, inputs, [f"{name}_{hint}"], **kw))
            return f"{name}_{hint}"

        col = op("Gather", [x, const(np.array([f], dtype=np.int64), "index")], "col", axis=1)
        whole = op("Equal", [op("Floor", [col], "floor"), col], "whole")
        in_range = op("And", [op("GreaterOrEqual", [col, const(np.array(0, dtype=dtype), "zero")], "ge"),
                              op("LessOrEqual", [col, const(np.array(top, dtype=dtype), "top")], "le")], "range")
        row = op("Where", [op("And", [whole, in_range], "valid"), col, const(np.array(top + 1, dtype=dtype), "other")],
                 "row")
        flat = op("Reshape", [op("Cast", [row], "rowi", to=TensorProto.INT64), const(np.array([-1]), "flat")], "rows")
        looked = op("Gather", [const(table, "table"), flat], "looked", axis=0)
        columns.append(op("Where", [op("IsNaN", [col], "nan"), const(np.array(np.nan, dtype=dtype), "nanv"), looked],
                          "member"))
        feats[mine] = column + np.arange(mine.size)
        column += mine.size
    modes[member_nodes] = _LEQ  # member -> 0 <= 0.5 -> the true branch, as BRANCH_MEMBER
    splits[member_nodes] = 0.5
    out = f"{prefix}_X"
    nodes.append(helper.make_node("Concat", columns, [out], axis=1))
    keep = [a for a in node.attribute if a.name not in ("membership_values", "nodes_modes", "nodes_splits",
                                                         "nodes_featureids")]
    del node.attribute[:]
    node.attribute.extend(keep)
    node.attribute.extend([helper.make_attribute("nodes_featureids", feats.tolist()),
                           helper.make_attribute("nodes_modes", numpy_helper.from_array(modes, "nodes_modes")),
                           helper.make_attribute("nodes_splits", numpy_helper.from_array(splits, "nodes_splits"))])
    node.input[0] = out
    return nodes, inits


def sets_as_columns(model: onnx.ModelProto, n_features: int) -> onnx.ModelProto:
    """A copy of ``model`` whose TreeEnsemble nodes have no set splits (see the module doc)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    nodes: list[onnx.NodeProto] = []
    for k, node in enumerate(out.graph.node):
        if node.op_type == "TreeEnsemble" and "membership_values" in _attrs(node):
            prelude, consts = _rewrite(node, n_features, node.input[0], f"sets{k}")
            nodes += prelude  # ahead of the tree node that reads them
            out.graph.initializer.extend(consts)
        nodes.append(node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out
