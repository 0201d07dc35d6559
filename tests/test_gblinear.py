"""XGBoost booster="gblinear": margins bit for bit, as GBLinear::Pred sums them in float32."""

from __future__ import annotations

import numpy as np
import pytest

from conversion import InferenceEngine, convert
from conversion.errors import InputError
from conversion.testing import probe_batch

from .cases.base import dataset

xgb = pytest.importorskip("xgboost")


def _hostile(X: np.ndarray, dtype: str, missing: float = np.nan) -> np.ndarray:
    """Training rows, then rows sprinkled with NaN, +-0.0, subnormals, float32's extremes,
    2**24 + 1 and the missing sentinel with a step either side."""
    extra = () if np.isnan(missing) else (missing,)
    probe = probe_batch(X, {}, dtype=np.dtype(dtype), allow_nan=True, allow_inf=False, extra=extra)
    return np.vstack([X.astype(dtype), probe])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("objective", ["reg:squarederror", "binary:logitraw"])
def test_margins_are_bit_identical_on_hostile_rows(objective: str, dtype: str) -> None:
    """An identity head exposes the margin: the ordered float32 sum from bias + base_score with
    NaN cells skipped; logitraw's base score is itself a margin (ProbToMargin is the identity)."""
    X, y = dataset("binary" if objective.startswith("binary") else "regression", nan=0.1)
    booster = xgb.train({"objective": objective, "booster": "gblinear", "nthread": 1}, xgb.DMatrix(X, label=y),
                        num_boost_round=20)
    rows = _hostile(X, dtype)
    got = InferenceEngine(convert(booster, dtype=dtype)).predict(rows)
    np.testing.assert_array_equal(got, booster.predict(xgb.DMatrix(rows), output_margin=True))


def test_missing_sentinel_cells_add_nothing_and_inf_is_refused_as_natively() -> None:
    X, y = dataset("regression")
    X = X.copy()
    X[np.random.default_rng(1).random(X.shape) < 0.15] = -999.0
    model = xgb.XGBRegressor(booster="gblinear", missing=-999.0, n_estimators=20, n_jobs=1).fit(X, y)
    engine = InferenceEngine(convert(model))
    rows = _hostile(X, "float32", missing=-999.0)
    np.testing.assert_array_equal(engine.predict(rows), model.predict(rows))
    rows[0, 2] = np.inf
    with pytest.raises(xgb.core.XGBoostError, match="inf"):
        model.predict(rows)
    with pytest.raises(InputError, match="inf"):
        engine.predict(rows)
