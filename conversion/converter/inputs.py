"""Input validation shared by the engine, parity checks and the predictor.

The rules (docs/parity.md's "which inputs the guarantee covers" says the same):

- Columns. A DataFrame is matched to the model by column name when the model was trained on
  named columns: reordered when every name is there, refused (InputError listing the missing
  and unknown names) otherwise. A NumPy array, or a frame with default 0..n-1 columns, is
  positional.
- Categorical columns. A pandas categorical (or text) column of a model trained on pandas
  categories is read by its labels, as the native model reads it: each label becomes its
  position in the labels stored at conversion (``CategoryLabels``), whatever the frame's own
  category order; NaN is a missing value; a label the model was not trained on goes where the
  native model sends it (``CategoryLabels.unseen``). A numeric matrix holds codes, as
  documented; a value that cannot be a code but equals a label is refused, naming the label.
  Other text and object columns are refused, naming them.
- Values. Input becomes a 2-D array of the graph's dtype the way the native model reads it:
  integers and booleans turn into the dtype the native model turns them into (float32 for
  LightGBM, XGBoost, CatBoost and scikit-learn trees; float64 for scikit-learn's
  HistGradientBoosting, linear models, MLPs and pipelines), a DataFrame into the common type of
  its columns and float32 (as LightGBM does). A float64 value is rounded to a float32 graph only
  where the native model rounds it to float32 too (XGBoost, CatBoost, scikit-learn trees). Where
  the native model compares float64 (LightGBM, HistGradientBoosting, linear models) and the
  value is not exactly a float32, the call is refused naming the rows: the engine never changes
  an input value silently. A scikit-learn pipeline with scalers or imputers computes in its
  input's dtype, so its float32 graph takes float32 rows only. ``convert()`` picks float64
  graphs for all of these models by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .category_labels import UNSEEN, CategoryLabels
from .category_labels import listed as _listed

__all__ = ["CategoryLabels", "UNSEEN", "as_matrix", "as_rows", "column_order", "label_frame", "native_view"]

_F32 = np.dtype(np.float32)


def _is_frame(X: Any) -> bool:
    return hasattr(X, "to_numpy") and hasattr(X, "columns")


def column_order(names: Sequence[str], feature_names: Sequence[str], *, what: str) -> list[int] | None:
    """Indices putting columns ``names`` in the model's order (None: already in order), or InputError."""
    names, feature_names = list(names), list(feature_names)
    if names == feature_names:
        return None
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{what} has duplicated column names ({_listed(dup)}); rename them")
    have, want = set(names), set(feature_names)
    missing = [n for n in feature_names if n not in have]
    unknown = [n for n in names if n not in want]
    if missing or unknown:
        parts = [f"{label} {_listed(items)}" for label, items in (("missing", missing), ("unknown", unknown)) if items]
        raise InputError(
            f"{what}'s columns do not match the features the model was trained on: {'; '.join(parts)}. "
            f"Expected the columns {_listed(feature_names)} (any order); rename the columns, or pass "
            "the values without names to feed them by position"
        )
    index = {n: i for i, n in enumerate(names)}
    return [index[n] for n in feature_names]


def _frame_to_array(X: Any, feature_names: Sequence[str] | None, categories: CategoryLabels | None) -> np.ndarray:
    """A pandas (or polars) DataFrame as an array whose columns are in the model's order."""
    columns = X.columns.tolist() if hasattr(X.columns, "tolist") else list(X.columns)
    if feature_names is not None and columns != feature_names:  # the common case costs one comparison
        positional = all(type(c) is int for c in columns) and columns == list(range(len(columns)))
        if not positional:
            order = column_order([str(c) for c in columns], feature_names, what="the DataFrame")
            if order is not None:
                X = X[[columns[i] for i in order]]
    dtypes = getattr(X, "dtypes", ())
    # a categorical column's values are labels: to_numpy would give them as numbers, not codes
    arr = None if any(getattr(d, "name", "") == "category" for d in dtypes) else np.asarray(X.to_numpy())
    if arr is not None and arr.dtype.kind in "biuf" and not (categories is not None and categories.hashed):
        # LightGBM reads a frame as the common type of its columns and float32 (an int64 frame
        # becomes float64); for the other frameworks the cast to the graph dtype decides.
        return arr.astype(np.result_type(arr.dtype, _F32), copy=False)
    if not hasattr(X, "iloc"):
        # polars and others: as_rows names the dtype it cannot take
        return np.asarray(X.to_numpy()) if arr is None else arr
    # pandas gave objects: label columns, text columns, or numbers it would not merge (bool, nullable Int64)
    import pandas as pd

    labelled = categories.columns if categories is not None else {}
    numeric, coded, text = [], {}, []
    for j, (c, d) in enumerate(zip(X.columns, X.dtypes, strict=True)):
        is_category = isinstance(d, pd.CategoricalDtype)
        kind = getattr(getattr(d, "numpy_dtype", d), "kind", "O")
        if j in labelled and (is_category or kind not in "biuf" or categories.hashed):
            coded[j] = categories.codes(X.iloc[:, j], j, str(c))
        elif is_category and d.categories.dtype.kind in "biuf":
            # numeric categories without stored labels (HistGradientBoosting): the model reads the values
            coded[j] = X.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan)
        elif kind in "biuf":
            numeric.append(getattr(d, "numpy_dtype", d))
        else:
            text.append(str(c))
    if text:
        raise InputError(
            f"the DataFrame has non-numeric columns ({_listed(text)}) that the model was not trained on as "
            "pandas categories; the model takes numbers there: encode them as the model was trained before calling it"
        )
    out = np.empty(X.shape, dtype=np.result_type(*numeric, _F32))
    rest = [j for j in range(X.shape[1]) if j not in coded]
    if rest:
        out[:, rest] = X.iloc[:, rest].to_numpy(dtype=out.dtype, na_value=np.nan)
    for j, codes in coded.items():
        out[:, j] = codes
    return out


def label_frame(X: Any, feature_names: Sequence[str] | None, categories: CategoryLabels | None) -> Any | None:
    """``X`` with its columns in the model's order when it is a pandas DataFrame holding category
    labels (categorical or text columns), which the native model must read itself; else None."""
    if categories is None or not (_is_frame(X) and hasattr(X, "iloc")):
        return None
    labelled = any(getattr(d, "name", "") == "category" or getattr(d, "kind", "O") not in "biuf" for d in X.dtypes)
    if not (categories.hashed or labelled):
        return None
    columns = [str(c) for c in X.columns]
    order = column_order(columns, feature_names, what="the DataFrame") if feature_names is not None else None
    return X if order is None else X.iloc[:, order]


def native_view(X: Any, prepared: np.ndarray, *, n_features: int, feature_names: Sequence[str] | None,
                categories: CategoryLabels | None) -> Any:
    """What the native model is given for ``X``: a DataFrame of labels itself (``label_frame``),
    a CatBoost matrix's own integer labels (its codes mean nothing to CatBoost), or else the
    rows the engine prepared (codes, which the other natives read from a matrix)."""
    frame = label_frame(X, feature_names, categories)
    if frame is not None:
        return frame
    if categories is not None and categories.hashed:
        return as_rows(X, n_features=n_features, feature_names=feature_names)
    return prepared


def as_rows(
    X: Any,
    *,
    n_features: int,
    feature_names: Sequence[str] | None = None,
    categories: CategoryLabels | None = None,
) -> np.ndarray:
    """``X`` as a 2-D numeric array in the caller's own dtype, columns in the model's order,
    category labels read as codes (``categories``)."""
    frame = _is_frame(X)
    if frame:
        X = _frame_to_array(X, feature_names, categories)
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError) as exc:
        raise InputError(f"input cannot be read as a numeric array ({exc}); pass a 2-D numeric array") from exc
    if arr.dtype.kind not in "biuf":
        hint = (" (a model trained on pandas categories reads their labels from a DataFrame whose columns are "
                "categorical)" if categories is not None else "")
        raise InputError(
            f"input has dtype {arr.dtype} (strings or objects); pass numbers only, "
            f"e.g. encode categorical columns before calling the model{hint}"
        )
    if arr.ndim != 2:
        hint = " (one row? use X.reshape(1, -1))" if arr.ndim == 1 else ""
        raise InputError(f"input must be 2-D (rows x features), got {arr.ndim}-D with shape {arr.shape}{hint}")
    if arr.shape[1] != n_features:
        raise InputError(
            f"input has {arr.shape[1]} features, expected {n_features} (the model was trained on {n_features})"
        )
    if categories is not None and categories.numeric and arr.size:
        categories.refuse_labels_as_codes(arr, feature_names)
    if categories is not None and categories.hashed and not frame:
        arr = categories.hash_matrix(arr, feature_names)
    return arr


def _refuse_rounding(arr: np.ndarray, out: np.ndarray, native_floats: np.dtype) -> None:
    """Refuses values the cast to the graph dtype changed, for a native model that compares
    in ``native_floats`` (finer than the graph): it would see the value the graph cannot."""
    with np.errstate(invalid="ignore"):
        changed = (out != arr) & ~np.isnan(arr)
    if not changed.any():
        return
    rows, cols = np.nonzero(changed)
    r, c = int(rows[0]), int(cols[0])
    bad_rows = np.unique(rows).tolist()
    raise InputError(
        f"rows {_listed(bad_rows)} hold values that {out.dtype} cannot represent exactly (row {r}, column {c}: "
        f"{arr[r, c]!r} would become {float(out[r, c])!r}); the native model compares them in {native_floats}, so "
        f"this {out.dtype} ONNX model could take another branch. Convert with dtype='{native_floats}' "
        f"(convert()'s default for this model), or round the data to {out.dtype} yourself if that is what you mean"
    )


def as_matrix(
    X: Any,
    *,
    n_features: int,
    dtype: np.dtype,
    allow_nan: bool = True,
    allow_inf: bool = True,
    finite_max: float = np.inf,
    finite_columns: Sequence[int] = (),
    feature_names: Sequence[str] | None = None,
    native_input: tuple[np.dtype, np.dtype, bool] = (_F32, _F32, False),
    categories: CategoryLabels | None = None,
) -> np.ndarray:
    """Returns ``X`` as a C-contiguous ``(n_rows, n_features)`` array of ``dtype``, or raises InputError.

    ``native_input``: the dtypes the native model reads float64 values and integers in, and
    whether its arithmetic follows the input's dtype.
    """
    arr = as_rows(X, n_features=n_features, feature_names=feature_names, categories=categories)
    native_floats, native_integers, follows_input = native_input
    if arr.dtype.kind in "biu":
        arr = arr.astype(native_integers)  # the value the native model computes with
    out = np.ascontiguousarray(arr, dtype=dtype)
    narrowed = out.size and arr.dtype.itemsize > out.dtype.itemsize
    if narrowed and follows_input:
        raise InputError(
            f"this model computes in the dtype of its input: natively a {arr.dtype} row is scaled in {arr.dtype}, "
            f"which this {out.dtype} ONNX model cannot reproduce. Convert with dtype='{native_floats}' (convert()'s "
            f"default for this model), or pass {out.dtype} rows"
        )
    if narrowed and native_floats.itemsize > out.dtype.itemsize:
        _refuse_rounding(arr, out, native_floats)
    if out.size:
        if not allow_nan and np.isnan(out).any():
            raise InputError("input contains NaN and this model does not accept missing values; impute them first")
        # finite_max: a framework that rounds inputs to float32 before rejecting inf (XGBoost's
        # DMatrix) rejects everything beyond float32's range too.
        if not allow_inf and (np.abs(out) > min(finite_max, np.finfo(out.dtype).max)).any():
            beyond = f" or beyond {finite_max:.4g}" if np.isfinite(finite_max) else ""
            raise InputError(
                f"input contains +-inf{beyond}, which the native model rejects; clip or replace those values first"
            )
        if len(finite_columns) and np.isinf(out[:, finite_columns]).any():
            cols = [int(c) for c in np.asarray(finite_columns)[np.isinf(out[:, finite_columns]).any(axis=0)]]
            raise InputError(
                f"input contains +-inf in column(s) {cols}, which the native model rejects there (its categorical "
                "columns); replace those values with NaN (a missing category) first"
            )
    return out
