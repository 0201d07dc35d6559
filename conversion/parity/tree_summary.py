"""What parity reads from an ONNX tree graph: tree count, a bound on the summed output, split points.

The tolerance scales with the first two; the split points explain a mismatching row (a value
within an ulp of a threshold) and give the rows that exercise every branch (model_files.rows_for),
and the routing calibration places its batch sizes by them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = ["TreeSummary", "summarize_trees"]


@dataclass(frozen=True)
class TreeSummary:
    """What parity needs from an ONNX tree model: tree count, output magnitude, split points."""

    n_trees: int = 0
    magnitude: float = 1.0
    splits: dict[int, np.ndarray] = field(default_factory=dict)
    # Per feature, the members of its set-membership (categorical) splits.
    categories: dict[int, np.ndarray] = field(default_factory=dict)


def _tree_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.domain == "ai.onnx.ml" and n.op_type.startswith("TreeEnsemble")]


def summarize_trees(model: onnx.ModelProto) -> TreeSummary:
    """Tree count, a bound on the summed output, and sorted split thresholds per feature.

    A graph may hold one ensemble per target (summed independently, then concatenated): the
    count and the bound are those of the largest one, the split points those of all.
    """
    nodes = _tree_nodes(model)
    if not nodes:
        return TreeSummary()
    base = 0.0
    for init in model.graph.initializer:  # a base score added after the trees
        if init.name.startswith("base"):
            base = max(base, float(np.abs(numpy_helper.to_array(init)).max()))
    n_trees, magnitude, by_feature = 0, 0.0, {}
    categories: dict[int, np.ndarray] = {}
    for node in nodes:
        count, weight, node_base, feats, values, interior, members = _one_ensemble(node)
        n_trees = max(n_trees, count)
        magnitude = max(magnitude, count * weight + max(base, node_base))
        for f in np.unique(feats[interior]):
            by_feature.setdefault(int(f), []).append(values[interior & (feats == f)])
        for f, m in members.items():
            categories[f] = np.union1d(categories.get(f, np.zeros(0)), m)
    splits = {f: np.unique(np.concatenate(v)) for f, v in by_feature.items()}
    return TreeSummary(n_trees, max(magnitude, 1.0), splits, categories)


def _one_ensemble(
    node: onnx.NodeProto,
) -> tuple[int, float, float, np.ndarray, np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """Tree count, largest |leaf|, |base|, per-node features, split values, threshold-split mask,
    and per feature the members of its set-membership (categorical) splits."""
    attrs = {a.name: a for a in node.attribute}

    def floats(name: str) -> np.ndarray:
        if name + "_as_tensor" in attrs:
            return numpy_helper.to_array(attrs[name + "_as_tensor"].t).astype(np.float64)
        return np.asarray(attrs[name].floats, dtype=np.float64) if name in attrs else np.zeros(1)

    feats = np.asarray(attrs["nodes_featureids"].ints, dtype=np.int64)
    if node.op_type == "TreeEnsemble":
        values = numpy_helper.to_array(attrs["nodes_splits"].t).astype(np.float64)
        weights = numpy_helper.to_array(attrs["leaf_weights"].t).astype(np.float64)
        n_trees = len(attrs["tree_roots"].ints)
        interior = np.ones(feats.size, dtype=bool)
        base = 0.0
    else:
        values = floats("nodes_values")
        weights = (
            floats("target_weights")
            if "target_weights" in attrs or "target_weights_as_tensor" in attrs
            else floats("class_weights")
        )
        n_trees = len(set(attrs["nodes_treeids"].ints))
        interior = np.asarray(attrs["nodes_modes"].strings) != b"LEAF"
        base = float(np.abs(floats("base_values")).max())
    categories: dict[int, np.ndarray] = {}
    if node.op_type == "TreeEnsemble" and "membership_values" in attrs:
        member = numpy_helper.to_array(attrs["nodes_modes"].t) == 6  # BRANCH_MEMBER
        sets = np.split(numpy_helper.to_array(attrs["membership_values"].t).astype(np.float64),
                        np.flatnonzero(np.isnan(numpy_helper.to_array(attrs["membership_values"].t))) + 1)
        for f, members in zip(feats[member], sets, strict=False):
            categories[int(f)] = np.union1d(categories.get(int(f), np.zeros(0)), members[~np.isnan(members)])
        interior = interior & ~member
    return n_trees, float(np.abs(weights).max(initial=0.0)), base, feats, values, interior, categories
