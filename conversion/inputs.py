"""Input validation shared by the engine, parity checks and the predictor.

The casting rule: input is turned into a 2-D array of the model's dtype (float32 unless the
model was converted with dtype="float64"). Integers, booleans and float64 values are rounded
to the nearest value of that dtype, which is what XGBoost, scikit-learn trees and CatBoost do
internally. Python lists go through numpy; pandas DataFrames are taken in column order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["as_matrix"]


def as_matrix(
    X: Any,
    *,
    n_features: int,
    dtype: np.dtype,
    allow_nan: bool = True,
    allow_inf: bool = True,
    finite_max: float = np.inf,
) -> np.ndarray:
    """Returns ``X`` as a C-contiguous ``(n_rows, n_features)`` array of ``dtype``, or raises InputError."""
    if hasattr(X, "to_numpy") and hasattr(X, "columns"):  # pandas / polars DataFrame
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError) as exc:
        raise InputError(f"input cannot be read as a numeric array ({exc}); pass a 2-D numeric array") from exc
    if arr.dtype.kind not in "biuf":
        raise InputError(
            f"input has dtype {arr.dtype} (strings or objects); pass numbers only, "
            "e.g. encode categorical columns before calling the model"
        )
    if arr.ndim != 2:
        hint = " (one row? use X.reshape(1, -1))" if arr.ndim == 1 else ""
        raise InputError(f"input must be 2-D (rows x features), got {arr.ndim}-D with shape {arr.shape}{hint}")
    if arr.shape[1] != n_features:
        raise InputError(
            f"input has {arr.shape[1]} features, expected {n_features} (the model was trained on {n_features})"
        )
    out = np.ascontiguousarray(arr, dtype=dtype)
    if arr.dtype.kind == "f" and out.size:
        if not allow_nan and np.isnan(out).any():
            raise InputError("input contains NaN and this model does not accept missing values; impute them first")
        # finite_max: a framework that rounds inputs to float32 before rejecting inf (XGBoost's
        # DMatrix) rejects everything beyond float32's range too.
        if not allow_inf and (np.abs(out) > min(finite_max, np.finfo(out.dtype).max)).any():
            beyond = f" or beyond {finite_max:.4g}" if np.isfinite(finite_max) else ""
            raise InputError(
                f"input contains +-inf{beyond}, which the native model rejects; clip or replace those values first"
            )
    return out
