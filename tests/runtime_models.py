"""Small fitted models per framework for the runtime tests (engine, predictor, registry, seed API).

A framework that is not installed is skipped by ``pytest.importorskip``; one whose adapter is
still a stub is skipped with the adapter's own "not implemented" reason, so both show in -ra
and the tests start running the day the adapter lands.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest

from conversion import ConvertedModel, UnsupportedModelError, convert
from conversion.converter.frameworks import framework_names

FRAMEWORKS = framework_names()
N_FEATURES = 6


@cache
def data(task: str = "classification") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, N_FEATURES)).astype(np.float32)
    if task == "classification":
        y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] > 0).astype(np.int64)
    else:
        y = (2 * X[:, 0] - X[:, 3] + 0.1 * rng.normal(size=400)).astype(np.float64)
    return X, y


def _fit(framework: str, task: str) -> Any:
    X, y = data(task)
    clf = task == "classification"
    if framework == "xgboost":
        xgb = pytest.importorskip("xgboost")
        cls = xgb.XGBClassifier if clf else xgb.XGBRegressor
        return cls(n_estimators=8, max_depth=3, n_jobs=1, random_state=0).fit(X, y)
    if framework == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        cls = lgb.LGBMClassifier if clf else lgb.LGBMRegressor
        return cls(n_estimators=8, num_leaves=7, n_jobs=1, verbose=-1, random_state=0).fit(X, y)
    if framework == "catboost":
        cb = pytest.importorskip("catboost")
        cls = cb.CatBoostClassifier if clf else cb.CatBoostRegressor
        return cls(iterations=8, depth=3, thread_count=1, verbose=False, random_seed=0,
                   allow_writing_files=False).fit(X, y)
    if framework == "sklearn":
        ensemble = pytest.importorskip("sklearn.ensemble")
        cls = ensemble.RandomForestClassifier if clf else ensemble.RandomForestRegressor
        return cls(n_estimators=5, max_depth=4, n_jobs=1, random_state=0).fit(X, y)
    raise KeyError(framework)


_models: dict[tuple[str, str], tuple[Any, ConvertedModel]] = {}


def fitted(framework: str, task: str = "classification") -> tuple[Any, ConvertedModel]:
    """(native model, converted model), trained once per process; skips if the adapter is a stub."""
    key = (framework, task)
    if key not in _models:
        model = _fit(framework, task)
        try:
            converted = convert(model)
        except UnsupportedModelError as exc:
            if "not implemented" in str(exc):
                pytest.skip(f"{framework} adapter not ready: {exc}")
            raise
        _models[key] = (model, converted)
    model, converted = _models[key]
    # A fresh copy: predictors write their calibration into converted.metadata.
    copy = ConvertedModel(converted.onnx, converted.framework, converted.task, converted.n_features,
                          converted.classes, dict(converted.methods), dict(converted.metadata))
    return model, copy
