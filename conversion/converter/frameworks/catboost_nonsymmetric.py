"""CatBoost ``grow_policy="Depthwise"`` / ``"Lossguide"`` trees, read from the JSON export.

Non-symmetric trees are written under ``"trees"`` as nested nodes: an interior node has
``split`` (``float_feature_index``, ``border``), ``left`` and ``right``; a leaf has ``value``
(a number, or a list with one score per target). As in symmetric trees, a row goes right when
``float32(x) > border`` (see ``catboost.py`` for NaN handling per feature).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ConversionRefusedError, ModelFileError

__all__ = ["leaf_width", "nonsymmetric_arrays"]


def _leaf_values(node: dict[str, Any]) -> list[float]:
    value = node["value"]
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def leaf_width(trees: list[dict[str, Any]]) -> int:
    """Scores per leaf (the number of model outputs), read from the first leaf."""
    if not trees:
        raise ConversionRefusedError("the model has no trees; there is nothing to convert")
    node = trees[0]
    while "split" in node:
        node = node["left"]
    return len(_leaf_values(node))


def _one_tree(root: dict[str, Any], n_targets: int, scale: float) -> tuple[list[Any], ...]:
    """Pre-order node lists of one tree: (feature index into float features, border, left,
    right, leaf values)."""
    float_feature: list[int] = []
    border: list[float] = []
    left: list[int] = []
    right: list[int] = []
    values: list[list[float]] = []
    stack: list[tuple[dict[str, Any], int, str]] = [(root, -1, "")]
    while stack:  # iterative: Lossguide trees can be deep and unbalanced
        node, parent, side = stack.pop()
        me = len(float_feature)
        if parent >= 0:
            (left if side == "left" else right)[parent] = me
        if "split" in node:
            split = node["split"]
            if split.get("split_type", "FloatFeature") != "FloatFeature":
                raise ConversionRefusedError(
                    f"the model splits on {split.get('split_type')} (categorical CTRs or one-hot features), "
                    "which ONNX tree ensembles cannot express (catboost #863); one-hot or ordinal-encode "
                    "categorical columns before training, or serve the native model"
                )
            float_feature.append(int(split["float_feature_index"]))
            border.append(float(split["border"]))
            left.append(-1)
            right.append(-1)
            values.append([0.0] * n_targets)
            stack.append((node["right"], me, "right"))
            stack.append((node["left"], me, "left"))
        else:
            leaf = _leaf_values(node)
            if len(leaf) != n_targets:
                raise ModelFileError(f"a CatBoost leaf has {len(leaf)} values, expected {n_targets}")
            float_feature.append(-1)
            border.append(0.0)
            left.append(-1)
            right.append(-1)
            values.append([v * scale for v in leaf])
    return float_feature, border, left, right, values


def nonsymmetric_arrays(trees: list[dict[str, Any]], n_targets: int, feature_of: np.ndarray,
                        nan_right: np.ndarray, scale: float) -> list[tuple[np.ndarray, ...]]:
    """Per-tree IR columns ``(node, feature, threshold, left, right, missing_left, value)``
    for ``concat_trees``."""
    out = []
    for root in trees:
        ff, border, left, right, values = _one_tree(root, n_targets, scale)
        ff_arr = np.asarray(ff, dtype=np.int64)
        interior = ff_arr >= 0
        safe = np.where(interior, ff_arr, 0)
        out.append((
            np.arange(ff_arr.size, dtype=np.int64),
            np.where(interior, feature_of[safe], -1),
            np.asarray(border, dtype=np.float64),
            np.asarray(left, dtype=np.int64),
            np.asarray(right, dtype=np.int64),
            interior & ~nan_right[safe],
            np.asarray(values, dtype=np.float64).reshape(ff_arr.size, n_targets),
        ))
    return out
