"""CatBoost's oblivious (``grow_policy="SymmetricTree"``, the default) trees as tree-form arrays.

Every level of an oblivious tree tests one split, ``x > border`` on the float32 input, and the
leaf index has bit ``i`` set when split ``i`` holds. Each tree is expanded here into an explicit
complete binary tree, vectorised over all trees of one depth. One-hot categorical splits become
one-member category sets on the value's code. catboost.py reads the JSON and builds the head.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ConversionRefusedError
from ..tree_ir import CategoryCoding, CategorySplits, category_sets

__all__ = ["oblivious_arrays", "one_hot_features", "one_hot_splits"]


def oblivious_arrays(trees: list[dict[str, Any]], n_targets: int, split_of: Any,
                     scale: float) -> tuple[np.ndarray, ...]:
    """Per-node IR arrays for all trees, built one tree depth at a time, and per node the
    one-hot category code it tests (-1 on float splits and leaves).

    A depth-``d`` tree becomes a heap-ordered complete binary tree (children of ``k`` are
    ``2k+1`` left and ``2k+2`` right). The root tests split ``d-1`` and level ``l`` split
    ``d-1-l``, so the path bits read from the root are CatBoost's leaf index, most significant
    bit first, and leaf ``j`` sits at heap position ``2**d - 1 + j``. ``split_of(split)`` gives
    ``(input column, border, NaN goes right, one-hot code or -1)``; a one-hot split sets its bit
    (goes right) when the value's code is the split's.
    """
    depths = np.array([len(t["splits"]) for t in trees], dtype=np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    for d in np.unique(depths).tolist():
        ids = np.flatnonzero(depths == d)
        group = [trees[i] for i in ids]
        n_leaves, n_nodes = 1 << d, (2 << d) - 1
        # One padding column (feature 0, border 0) that leaves index, so depth 0 needs no special case.
        info = np.zeros((ids.size, d + 1, 4))
        info[:, d, 3] = -1
        if d:
            info[:, :d] = [[split_of(s) for s in t["splits"]] for t in group]
        leaves = np.array([t["leaf_values"] for t in group], dtype=np.float64)
        if leaves.shape[1] != n_leaves * n_targets:
            raise ConversionRefusedError(
                f"a depth-{d} CatBoost tree has {leaves.shape[1]} leaf values, expected {n_leaves} x {n_targets}; "
                "the model file looks inconsistent"
            )
        heap = np.arange(n_nodes, dtype=np.int64)
        interior = heap < n_leaves - 1
        level = np.floor(np.log2(heap + 1)).astype(np.int64)
        split_of_node = np.where(interior, d - 1 - level, d)  # column into info
        n_trees = ids.size
        node_info = info[:, split_of_node]  # (trees, nodes, 4)
        feature = np.where(interior, node_info[..., 0].astype(np.int64), -1)
        threshold = np.where(interior, node_info[..., 1], 0.0)
        code = np.where(interior, node_info[..., 3], -1.0)
        onehot = code >= 0
        missing_left = interior & ~node_info[..., 2].astype(bool) & ~onehot
        # a one-hot node's "member" (the IR's left) is CatBoost's set bit (right): swap the children
        left = np.where(interior, np.where(onehot, 2 * heap + 2, 2 * heap + 1), -1)
        right = np.where(interior, np.where(onehot, 2 * heap + 1, 2 * heap + 2), -1)
        value = np.zeros((n_trees, n_nodes, n_targets))
        value[:, n_leaves - 1 :, :] = leaves.reshape(n_trees, n_leaves, n_targets) * scale
        tree = np.repeat(ids, n_nodes)
        parts.append((tree, np.tile(heap, n_trees), feature.ravel(), threshold.ravel(),
                      left.ravel(), right.ravel(), missing_left.ravel(),
                      value.reshape(-1, n_targets), code.ravel()))
    cols = [np.concatenate([p[k] for p in parts]) for k in range(9)]
    order = np.argsort(cols[0], kind="stable")  # keep CatBoost's tree order
    return tuple(c[order] for c in cols)


def one_hot_features(doc: dict[str, Any]) -> dict[int, tuple[int, list[int]]]:
    """Per categorical feature index: its input column and the hashes of its one-hot values
    (a value's position in that list is the code the ONNX model takes)."""
    return {int(c["feature_index"]): (int(c["flat_feature_index"]), [int(v) for v in c.get("values", [])])
            for c in doc["features_info"].get("categorical_features", [])}


def one_hot_splits(code: np.ndarray, one_hot: dict[int, tuple[int, list[int]]]) -> CategorySplits:
    """One-hot nodes as one-member sets on the code column (the input layer hashes each value
    and takes its position among the model's one-hot hashes, -1 for none: inputs.py)."""
    index = np.full(code.size, -1, dtype=np.int64)
    nodes = np.flatnonzero(code >= 0)
    index[nodes] = np.arange(nodes.size)
    ptr, values = category_sets([np.array([code[n]]) for n in nodes])
    columns = np.array(sorted(c for c, _ in one_hot.values()), dtype=np.int64)
    # codes are whole numbers >= -1 by construction; -1 (no one-hot value) is in no set
    coding = CategoryCoding(features=columns, cast="float32", low=0.0, high=2.0**24, low_closed=True)
    return CategorySplits(index=index, ptr=ptr, values=values, coding=coding)
