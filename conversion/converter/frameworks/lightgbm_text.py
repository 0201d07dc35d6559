"""LightGBM's text model (``save_model``), parsed with numpy: its sections, tree fields, category bitsets and labels.

The text model has one line per tree field, so every field of every tree parses in one numpy
call; lightgbm.py turns the fields into the tree form.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np

from ...errors import ModelFileError
from ..tree_ir import CategoryCoding, CategorySplits
from .lightgbm_linear import LINEAR_FIELDS

__all__ = ["TREE_FIELDS", "categorical_splits", "incomplete_text", "pandas_labels", "text_sections", "tree_numbers"]

# The per-tree fields onnxgate reads, one line per tree in the text model.
TREE_FIELDS = ("num_leaves", "split_feature", "threshold", "decision_type", "left_child", "right_child",
               "leaf_value", "is_linear", "num_cat", "cat_boundaries", "cat_threshold", *LINEAR_FIELDS)


def tree_numbers(lines: list[str], dtype: type, expected: int, name: str) -> np.ndarray:
    """All values of one tree field over all trees, in one parse."""
    with warnings.catch_warnings():  # a malformed value stops the parse early: the size check reports it
        warnings.simplefilter("ignore", DeprecationWarning)
        arr = np.fromstring(" ".join(lines), dtype=dtype, sep=" ")
    if arr.size != expected:
        raise ModelFileError(f"LightGBM model text: field {name!r} has {arr.size} values, expected {expected}")
    return arr


def text_sections(text: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The header's key=value pairs and, per tree field, one line per tree."""
    head, sep, rest = text.partition("\nTree=")
    if not text.startswith("tree\n") or not sep:
        raise ModelFileError(
            "not a LightGBM text model (expected 'tree' on the first line and at least one 'Tree=' block)"
        )
    header: dict[str, str] = {}
    for line in head.splitlines():
        key, eq, value = line.partition("=")
        header[key] = value if eq else "1"  # bare flags such as average_output
    trees_text = rest.partition("\nend of trees")[0]
    fields: dict[str, list[str]] = {k: [] for k in TREE_FIELDS}
    # One pass over the lines (a few per tree, not per node).
    for line in trees_text.split("\n"):
        key, _, value = line.partition("=")
        if key in fields:
            fields[key].append(value)
    return header, fields


def incomplete_text(data: bytes) -> str:
    """Why ``data`` is not a whole LightGBM text model, or "" if it is. LightGBM reads trees
    at the byte offsets in ``tree_sizes`` and crashes the process (SIGSEGV) on a truncated file."""
    if not data.startswith(b"tree\n"):
        return "it does not start with 'tree' (save one with booster.save_model('model.txt'))"
    start = data.find(b"\nTree=")
    sizes_at = data.find(b"\ntree_sizes=", 0, start if start >= 0 else len(data))
    if start < 0 or sizes_at < 0:
        return "it has no trees (or no tree_sizes line)"
    line = data[sizes_at + len(b"\ntree_sizes="):data.find(b"\n", sizes_at + 1)]
    try:
        end = start + 1 + sum(int(v) for v in line.split())
    except ValueError:
        return "its tree_sizes line is not a list of integers"
    if not data.startswith(b"end of trees", end):
        return "it is truncated or edited (the trees do not end where tree_sizes says)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    return ""


# LightGBM's CategoricalDecision: NaN goes right; otherwise static_cast<int>(value), and a
# negative int goes right. Beyond int range the cast gives INT_MIN on x86-64 (cvttsd2si), so
# those go right too: the valid values are -1 < v < 2**31, truncated toward zero.
_LGB_CODING = {"cast": "float64", "low": -1.0, "high": 2.0**31, "low_closed": False}


def categorical_splits(f: dict[str, list[str]], n_leaves: np.ndarray, raw_threshold: np.ndarray,
                       is_cat: np.ndarray, feature: np.ndarray) -> CategorySplits:
    """Set-membership splits from each tree's ``cat_boundaries``/``cat_threshold`` bitsets
    (bit ``c`` of the set sends category ``c`` left); the split's threshold is its set's
    index within the tree."""
    n_cat = np.array([int(v) for v in f["num_cat"]], dtype=np.int64)
    with_cats = np.flatnonzero(n_cat)
    if len(f["cat_boundaries"]) != with_cats.size or len(f["cat_threshold"]) != with_cats.size:
        raise ModelFileError("LightGBM model text: cat_boundaries/cat_threshold lines do not match num_cat")
    bounds = [np.array(line.split(), dtype=np.int64) for line in f["cat_boundaries"]]
    words = [np.array(line.split(), dtype=np.uint32) for line in f["cat_threshold"]]
    for t, b, w in zip(with_cats, bounds, words, strict=True):
        if b.size != n_cat[t] + 1 or b[-1] != w.size:
            raise ModelFileError(f"LightGBM model text: tree {t} has inconsistent cat_boundaries")
    set_offset = np.concatenate([[0], np.cumsum(n_cat)])[:-1]  # first global set of each tree
    word_offset = np.concatenate([[0], np.cumsum([w.size for w in words])])[:-1]
    starts = np.concatenate([b[:-1] + o for b, o in zip(bounds, word_offset, strict=True)]) if words else np.zeros(0)
    all_words = np.concatenate(words) if words else np.zeros(0, dtype=np.uint32)
    n_sets = starts.size
    set_of_word = np.repeat(np.arange(n_sets), np.diff(np.append(starts, all_words.size)))
    bits = np.unpackbits(all_words.astype("<u4").view(np.uint8), bitorder="little").reshape(-1, 32)
    word, bit = np.nonzero(bits)
    owner = set_of_word[word]
    members = 32 * (word - starts[owner]) + bit
    ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=n_sets))]).astype(np.int64)
    tree_of_split = np.repeat(np.arange(n_leaves.size), n_leaves - 1)
    index = np.full(is_cat.size, -1, dtype=np.int64)
    index[is_cat] = set_offset[tree_of_split[is_cat]] + raw_threshold[is_cat].astype(np.int64)
    coding = CategoryCoding(features=np.unique(feature[is_cat]), **_LGB_CODING)
    return CategorySplits(index=index, ptr=ptr, values=members.astype(np.float64), coding=coding)


def pandas_labels(text: str, header: dict[str, str], n_features: int) -> dict[int, tuple[Any, ...]]:
    """Category labels of a model trained on a pandas DataFrame: LightGBM maps each category
    column to its ``cat.codes``, which are the float codes the ONNX model then takes."""
    _, sep, tail = text.rpartition("\npandas_categorical:")
    labels = json.loads(tail.splitlines()[0]) if sep else None
    if not labels:
        return {}
    infos = header.get("feature_infos", "").split()
    cat_features = [i for i, info in enumerate(infos[:n_features]) if info != "none" and not info.startswith("[")]
    if len(cat_features) != len(labels):  # ordered category columns used as numeric: no safe mapping
        return {}
    return {f: tuple(cats) for f, cats in zip(cat_features, labels, strict=True)}
