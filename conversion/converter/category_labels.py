"""Category labels -> the codes an ONNX model takes, the way each native model reads its labels.

A model trained on pandas categorical columns reads a DataFrame by label, not by the frame's
own category codes: XGBoost (>= 3.1) and LightGBM re-code the frame against the categories
they stored in training, and HistGradientBoosting's encoder matches values. Its ONNX model
takes a label's position in the trained list as a float code, so the input layer maps labels
through the list stored in the model's metadata (``categories``) before anything else.

What the natives do with a label they were not trained on (measured on xgboost 3.2,
lightgbm 4.7, scikit-learn 1.9; ``unseen`` in the metadata):

- ``missing`` (LightGBM's ``set_categories``, scikit-learn's encoder): a missing value.
- ``next`` (XGBoost): XGBoost looks the label up by binary search in its sorted training
  labels and takes the label found there without checking it is equal, so an unseen label
  is read as the next larger trained label; beyond the largest it raises "Found a category
  not in the training set". It reads a frame's text categories from their joined UTF-8 cut
  at character counts (``_xgboost_read``: a non-ASCII category shifts the ones after it), and
  compares bytes as signed chars; so a non-ASCII training label is refused at conversion.
  No upstream issue found. XGBoost also refuses float-typed categories and NUL characters.

- ``hash`` (CatBoost one-hot features): CatBoost hashes a value's text (an integer's decimal
  digits, a string's UTF-8; ``cityhash.py``) and compares the hash with each one-hot split's.
  The stored "labels" are those hashes, and a value's code is its hash's position among
  them, -1 (no split matches) for any other value. CatBoost refuses floats, booleans'
  texts differ from Python's, and NaN/None, so those are refused; and since CatBoost reads a
  number in a matrix as that label, so does onnxgate: a CatBoost matrix holds integer labels.

NaN (and None) is a missing value in all of them but CatBoost, which refuses it.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from .cityhash import catboost_hash

__all__ = ["CategoryLabels", "UNSEEN", "integer_labels", "listed"]

_F32 = np.dtype(np.float32)
_SHOWN = 5  # rows or names listed in an error before "and N more"


def listed(items: Sequence[Any]) -> str:
    shown = ", ".join(repr(i) for i in items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


UNSEEN = ("missing", "next", "hash")


def _key(label: Any) -> tuple[int, Any]:
    """How the natives compare labels: text by its characters, numbers (and bools) by value;
    a number never equals a text."""
    if isinstance(label, str | bytes):
        return (1, label if isinstance(label, str) else label.decode("utf-8", "replace"))
    if isinstance(label, bool | np.bool_ | int | np.integer | float | np.floating):
        return (0, float(label))
    return (2, str(label))


def _sort_key(key: tuple[int, Any]) -> tuple[int, Any]:
    """XGBoost's order: text as bytes compared as signed chars."""
    if key[0] != 1:
        return key
    raw = key[1].encode("utf-8", "surrogateescape")
    return (1, tuple(b - 256 if b >= 0x80 else b for b in raw))


def _xgboost_read(cats: list[Any]) -> list[Any]:
    """The labels XGBoost (3.2) reads from a frame's text categories: it joins their UTF-8 and
    cuts the buffer at character counts, not byte counts, so a non-ASCII category shifts every
    later one. ASCII categories read as themselves."""
    if not cats or not all(isinstance(c, str) for c in cats) or all(c.isascii() for c in cats):
        return cats
    buffer = "".join(cats).encode("utf-8")
    out, at = [], 0
    for c in cats:
        out.append(buffer[at:at + len(c)].decode("utf-8", "surrogateescape"))
        at += len(c)
    return out


def _is_missing(label: Any) -> bool:
    return label is None or (isinstance(label, float | np.floating) and math.isnan(label))


@dataclass(frozen=True)
class CategoryLabels:
    """Per categorical input column, the labels in code order, and where unseen labels go."""

    columns: Mapping[int, tuple[Any, ...]]
    unseen: str = "missing"
    framework: str = "native"
    _hash_index: dict[int, dict[int, float]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> CategoryLabels | None:
        text = metadata.get("categories")
        if not text:
            return None
        columns = {int(f): tuple(labels) for f, labels in json.loads(text).items()}
        # A model converted before the labels kept their type stored every label as text.
        unseen = metadata.get("category_unseen", "legacy")
        return cls(columns, unseen, metadata.get("framework", "native"))

    def metadata(self) -> dict[str, str]:
        return {"categories": json.dumps({str(f): list(v) for f, v in sorted(self.columns.items())}),
                "category_unseen": self.unseen}

    @property
    def numeric(self) -> dict[int, tuple[Any, ...]]:
        """The columns whose labels are numbers (a number in a matrix could be meant as one)."""
        if self.hashed:
            return {}
        return {f: v for f, v in self.columns.items() if any(_key(x)[0] == 0 for x in v)}

    @property
    def hashed(self) -> bool:
        """Whether every input, a matrix too, holds labels (CatBoost): see ``hash`` above."""
        return self.unseen == "hash"

    def hash_matrix(self, arr: np.ndarray, names: Sequence[str] | None) -> np.ndarray:
        """A CatBoost matrix: its categorical columns' integer labels as codes."""
        out = np.array(arr, dtype=np.result_type(arr.dtype, _F32), copy=True)
        for f in self.columns:
            col = np.asarray(arr[:, f], dtype=np.float64)
            with np.errstate(invalid="ignore"):  # CatBoost takes integers as a C long (int64)
                bad = ~np.isfinite(col) | (col != np.round(col)) | (col < -(2.0**63)) | (col >= 2.0**63)
            name = names[f] if names else f"column {f}"
            if bad.any():
                raise InputError(
                    f"{name!r} is a categorical feature and holds {float(col[bad][0])!r}; CatBoost reads a number "
                    "there as "
                    "an integer label (an int64) and refuses other values ('cat_features must be integer or "
                    "string'). Pass integers, or a DataFrame with the labels"
                )
            out[:, f] = self.codes(col.astype(np.int64), f, name)
        return out

    def draw_labels(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``X`` with each hashed (CatBoost) column holding integer labels instead (in place):
        synthetic rows for a model that reads labels from a matrix, whose native model refuses
        any other number there. A non-hashed model's ``X`` is returned untouched."""
        if self.hashed:
            for f, hashes in self.columns.items():
                X[:, f] = integer_labels(rng, X.shape[0], hashes)
        return X

    def _hash_code(self, label: Any, f: int, name: str) -> float:
        if isinstance(label, bool | np.bool_) or not isinstance(label, str | bytes | int | np.integer):
            raise InputError(
                f"column {name!r} holds {label!r} ({type(label).__name__}); CatBoost takes integers or strings as "
                "categorical values (it refuses floats and NaN, and hashes booleans as other text than "
                "onnxgate can reproduce). Pass the labels it was trained on, as text or integers"
            )
        if not isinstance(label, str | bytes) and not -(2**63) <= int(label) < 2**63:
            raise InputError(f"column {name!r} holds the integer {label}, beyond int64; CatBoost refuses it "
                             "('Python int too large to convert to C long')")
        text = label if isinstance(label, str | bytes) else str(int(label))
        hashes = self._hash_index.setdefault(f, {h: float(i) for i, h in enumerate(self.columns[f])})
        return hashes.get(catboost_hash(text), -1.0)

    def codes(self, column: Any, f: int, name: str) -> np.ndarray:
        """A pandas categorical or text column's labels (or a list of labels, None for missing)
        as float codes (NaN: missing)."""
        if self.unseen == "legacy":
            raise InputError(
                f"column {name!r} holds category labels, but this ONNX model was converted by an older onnxgate "
                "that stored its labels as text only; convert the model again to feed it labels"
            )
        if getattr(getattr(column, "dtype", None), "name", "") == "category":
            cats, codes = column.cat.categories, column.cat.codes.to_numpy()
            if self.unseen == "next" and cats.dtype.kind == "f":
                raise InputError(
                    f"column {name!r} has float categories ({listed(list(cats))}); {self.framework} refuses "
                    "category labels of a floating point dtype. Use the labels it was trained on (integers or text)"
                )
        else:  # a text column: its distinct values are the categories
            seen: dict[Any, int] = {}
            values = column.tolist() if hasattr(column, "tolist") else list(column)
            codes = np.array([-1 if _is_missing(v) else seen.setdefault(v, len(seen)) for v in values],
                             dtype=np.int64)
            cats = list(seen)
        if self.hashed and (np.asarray(codes) < 0).any():
            raise InputError(f"column {name!r} holds a missing value; CatBoost refuses NaN and None in a "
                             "categorical feature. Fill them with a label (e.g. the text 'nan') first")
        labels = self.columns[f]
        position = {_key(x): float(i) for i, x in enumerate(labels)}
        cats = list(cats)
        read = _xgboost_read(cats) if self.unseen == "next" else cats
        table = np.full(len(cats) + 1, np.nan)  # code -1 (missing) reads the last entry
        for j, label in enumerate(read):
            if _is_missing(label):
                continue
            if self.hashed:
                table[j] = self._hash_code(label, f, name)
                continue
            if self.unseen == "next" and isinstance(label, str) and "\x00" in label:
                raise InputError(f"column {name!r} holds the label {label!r}, with a NUL character, which "
                                 f"{self.framework} refuses (an AssertionError in its DataFrame reader); remove it")
            code = position.get(_key(label))
            table[j] = code if code is not None else self._unseen(label, labels, name, shown=cats[j])
        return table[codes]

    def _unseen(self, label: Any, labels: tuple[Any, ...], name: str, shown: Any) -> float:
        if self.unseen == "missing":
            return math.nan
        ordered = sorted(range(len(labels)), key=lambda i: _sort_key(_key(labels[i])))
        keys = [_sort_key(_key(labels[i])) for i in ordered]
        want = _sort_key(_key(label))
        at = bisect.bisect_left(keys, want) if all(k[0] == want[0] for k in keys) else len(keys)
        if at == len(keys):
            raise InputError(
                f"column {name!r} holds the label {shown!r}, which the model was not trained on and which sorts "
                f"after every trained label; {self.framework} refuses it ('Found a category not in the training "
                f"set'). Trained labels: {listed(list(labels))}"
            )
        return float(ordered[at])  # what XGBoost reads: the next larger trained label

    def refuse_labels_as_codes(self, arr: np.ndarray, names: Sequence[str] | None) -> None:
        """A numeric matrix holds codes; a value that cannot be one but equals a label is the
        mistake of passing labels where codes belong, so it is refused, naming the label."""
        for f, labels in self.numeric.items():
            col = np.asarray(arr[:, f], dtype=np.float64)
            with np.errstate(invalid="ignore"):
                odd = (col < 0) | (col >= len(labels)) | (col != np.floor(col))
            if not odd.any():
                continue
            known = {_key(x)[1] for x in labels if _key(x)[0] == 0}
            hits = [v for v in col[odd].tolist() if v in known]  # the first in row order
            if hits:
                name = names[f] if names else f"column {f}"
                v = hits[0]
                raise InputError(
                    f"{name!r} holds {v:g}, which is one of the model's category labels ({listed(list(labels))}) "
                    f"but not a category code: a numeric matrix holds codes, 0 to {len(labels) - 1}, the label's "
                    f"position in that list. Pass a DataFrame whose column is categorical (the labels are then read "
                    f"as the native model reads them), or pass the code {labels.index(_as_label(v, labels))}"
                )


# The integers searched for a CatBoost column's trained labels: its hashes cannot be undone, and
# integer labels are mostly small (codes 0..k-1).
_LABEL_SEARCH = 1024


def integer_labels(rng: np.random.Generator, n: int, hashes: Sequence[int] = ()) -> np.ndarray:
    """``n`` integer labels for a CatBoost categorical column (as floats): drawn from the
    integers below 1024 whose hash is one of ``hashes`` (a one-hot column's trained values) plus
    one integer of none of them, so rows take every one-hot path; 0..15 where none is known
    (a CTR column, whose hashes the model does not keep, or text labels)."""
    known = set(hashes)
    seen = [i for i in range(_LABEL_SEARCH) if catboost_hash(str(i)) in known] if known else []
    if seen:
        seen.append(next(i for i in range(_LABEL_SEARCH, 2 * _LABEL_SEARCH) if catboost_hash(str(i)) not in known))
    pool = np.array(seen or range(16), dtype=np.float64)
    return pool[rng.integers(0, pool.size, size=n)]


def _as_label(v: float, labels: tuple[Any, ...]) -> Any:
    return next(x for x in labels if _key(x) == (0, v))
