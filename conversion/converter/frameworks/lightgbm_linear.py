"""LightGBM ``linear_tree=True``: the per-leaf linear models of the text model, as IR arrays.

Each tree of such a model carries, per leaf, ``leaf_const``, ``num_features`` and the leaf's
``leaf_features`` / ``leaf_coeff`` (ascending feature order). LightGBM's ``Tree::Predict``
returns ``leaf_const + sum(coeff * x)`` over those features, or the plain ``leaf_value`` when
one of them is NaN (include/LightGBM/tree.h).
"""

from __future__ import annotations

import numpy as np

from ...errors import ModelFileError
from ..tree_ir import LinearLeaves

LINEAR_FIELDS = ("leaf_const", "num_features", "leaf_features", "leaf_coeff")


def _parse(lines: list[str], dtype: type, name: str) -> np.ndarray:
    text = " ".join(lines).split()
    try:
        return np.asarray(text, dtype=dtype)
    except ValueError as exc:
        raise ModelFileError(f"LightGBM model text: field {name!r} is not numeric ({exc})") from exc


def linear_leaves(
    fields: dict[str, list[str]], n_leaves: np.ndarray, n_features: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per leaf (in the order of ``leaf_value``): constant, dense coefficients and the mask of
    features each leaf's model uses; None when the model has no linear trees."""
    flags = [int(v) for v in fields["is_linear"]]
    if not any(flags):
        return None
    if not all(flags) or len(fields["leaf_const"]) != n_leaves.size:
        raise ModelFileError("LightGBM model text: only some trees are linear; the model file looks edited")
    total = int(n_leaves.sum())
    const = _parse(fields["leaf_const"], np.float64, "leaf_const")
    counts = _parse(fields["num_features"], np.int64, "num_features")
    feats = _parse(fields["leaf_features"], np.int64, "leaf_features")
    coeff = _parse(fields["leaf_coeff"], np.float64, "leaf_coeff")
    if const.size != total or counts.size != total or feats.size != int(counts.sum()) or coeff.size != feats.size:
        raise ModelFileError("LightGBM model text: the linear leaf fields do not match the number of leaves")
    if feats.size and (feats.min() < 0 or feats.max() >= n_features):
        raise ModelFileError("LightGBM model text: a leaf's linear model uses a feature the model does not have")
    leaf = np.repeat(np.arange(total), counts)
    coef = np.zeros((total, n_features))
    uses = np.zeros((total, n_features), dtype=bool)
    if np.unique(leaf * n_features + feats).size != feats.size:
        raise ModelFileError("LightGBM model text: a leaf's linear model lists a feature twice")
    coef[leaf, feats] = coeff
    uses[leaf, feats] = True
    return const, coef, uses


def to_node_arrays(
    per_leaf: tuple[np.ndarray, np.ndarray, np.ndarray], n_split: int, order: np.ndarray, zero_band: float
) -> LinearLeaves:
    """The per-leaf arrays laid out like the IR's nodes (splits first, then leaves, reordered)."""
    const, coef, uses = per_leaf
    n_features = coef.shape[1]
    return LinearLeaves(
        const=np.concatenate([np.zeros(n_split), const])[order],
        coef=np.concatenate([np.zeros((n_split, n_features)), coef])[order],
        uses=np.concatenate([np.zeros((n_split, n_features), dtype=bool), uses])[order],
        zero_band=zero_band,
    )
