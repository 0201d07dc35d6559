"""XGBoost parity cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conversion.errors import ConversionRefusedError

from .base import Case, dataset

xgb = pytest.importorskip("xgboost")


def _clf(task: str = "binary", nan: float = 0.0, **params: Any):
    def build():
        X, y = dataset(task, nan=nan)
        return xgb.XGBClassifier(n_estimators=20, max_depth=4, n_jobs=1, **params).fit(X, y), X

    return build


def _reg(objective: str, nan: float = 0.0, **params: Any):
    def build():
        X, y = dataset("regression", nan=nan, positive=objective in ("count:poisson", "reg:gamma", "reg:tweedie"))
        if objective == "reg:logistic":
            y = (y - y.min()) / (y.max() - y.min())
        return xgb.XGBRegressor(n_estimators=20, max_depth=4, objective=objective, n_jobs=1, **params).fit(X, y), X

    return build


def _imbalanced():
    X, y = dataset("multiclass", n=900)
    keep = (y != 2) | (np.arange(y.size) % 10 == 0)  # class 2 is rare: base_score differs per class
    return xgb.XGBClassifier(n_estimators=20, max_depth=4, n_jobs=1).fit(X[keep], y[keep]), X[keep]


def _ranker():
    X, y = dataset("multiclass", classes=4)
    qid = np.repeat(np.arange(len(X) // 20), 20)
    return xgb.XGBRanker(n_estimators=20, max_depth=4, n_jobs=1).fit(X, y, qid=qid), X


def _booster(objective: str):
    def build():
        X, y = dataset("binary" if "binary" in objective else "multiclass")
        params = {"objective": objective, "max_depth": 4, "nthread": 1}
        if objective.startswith("multi"):
            params["num_class"] = 3
        return xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=15), X

    return build


def _sentinel(task: str, missing: float, **params: Any):
    """A ``missing=`` sentinel written into the training data, as in XGBoost's Higgs demo
    (-999.0) and onnxmltools' own test (0.0)."""

    def build():
        X, y = dataset(task)
        X = X.copy()
        X[np.random.default_rng(1).random(X.shape) < 0.15] = missing
        cls = xgb.XGBRegressor if task == "regression" else xgb.XGBClassifier
        return cls(n_estimators=20, max_depth=4, missing=missing, n_jobs=1, **params).fit(X, y), X

    return build


def _early_stopping():
    X, y = dataset("binary", n=900)
    model = xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.5, early_stopping_rounds=3, n_jobs=1)
    model.fit(X[:600], y[:600], eval_set=[(X[600:], y[600:])], verbose=False)
    assert model.best_iteration < 199, "the case needs early stopping to trigger"
    return model, X


def _categorical():
    X, y = dataset("binary")
    X = X.copy()
    X[:, 0] = np.abs(np.round(X[:, 0] * 2)) % 4
    import pandas as pd

    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    df["f0"] = df["f0"].astype(int).astype("category")
    return xgb.XGBClassifier(n_estimators=5, enable_categorical=True, tree_method="hist").fit(df, y), X


_SENTINEL_REFUSED = ("onnxmltools 1.16 refuses XGBoost models whose missing is not NaN (RuntimeError: Cannot "
                     "convert a XGBoost model where missing values are not nan; "
                     "onnxmltools PR #373 for #368/#371/#372)")

CASES = [
    Case("xgboost-classifier-binary", "xgboost", _clf()),
    Case("xgboost-classifier-binary-nan", "xgboost", _clf(nan=0.15)),
    Case("xgboost-classifier-multiclass", "xgboost", _clf("multiclass")),
    Case("xgboost-classifier-multiclass-nan", "xgboost", _clf("multiclass", nan=0.15)),
    Case("xgboost-classifier-imbalanced", "xgboost", _imbalanced),
    Case("xgboost-classifier-early-stopping", "xgboost", _early_stopping),
    Case("xgboost-classifier-dart", "xgboost", _clf("multiclass", booster="dart", rate_drop=0.3),
         upstream_xfail="onnxmltools 1.16 crashes on booster='dart' with KeyError 'gbtree_model_param' "
                        "(DART tree weights: xgboost #5051, m2cgen PR #132)"),
    Case("xgboost-regressor-squarederror", "xgboost", _reg("reg:squarederror")),
    Case("xgboost-regressor-squarederror-nan", "xgboost", _reg("reg:squarederror", nan=0.15)),
    Case("xgboost-regressor-logistic", "xgboost", _reg("reg:logistic"),
         upstream_xfail="onnxmltools #726: XGBRegressor(objective='reg:logistic') exported without the sigmoid "
                        "(fix PR #771 not in 1.16)"),
    Case("xgboost-regressor-poisson", "xgboost", _reg("count:poisson")),
    Case("xgboost-regressor-gamma", "xgboost", _reg("reg:gamma")),
    Case("xgboost-regressor-tweedie", "xgboost", _reg("reg:tweedie")),
    Case("xgboost-ranker-pairwise", "xgboost", _ranker,
         upstream_xfail="onnxmltools 1.16 registers no converter for XGBRanker (ValueError: No proper operator name)"),
    Case("xgboost-booster-binary-logistic", "xgboost", _booster("binary:logistic"), inf=False,
         upstream=False),  # onnxmltools turns a raw Booster into a label+probabilities classifier
    Case("xgboost-booster-multi-softprob", "xgboost", _booster("multi:softprob"), inf=False, upstream=False),
    Case("xgboost-regressor-missing-zero", "xgboost", _sentinel("regression", 0.0), edges=(0.0,),
         upstream_xfail=_SENTINEL_REFUSED),
    Case("xgboost-classifier-missing-999", "xgboost", _sentinel("binary", -999.0), edges=(-999.0,),
         upstream_xfail=_SENTINEL_REFUSED),
    Case("xgboost-classifier-multiclass-missing-999", "xgboost", _sentinel("multiclass", -999.0), edges=(-999.0,),
         upstream_xfail=_SENTINEL_REFUSED),
    Case("xgboost-classifier-multi-softmax", "xgboost", _clf("multiclass", objective="multi:softmax"),
         upstream_xfail="onnxmltools 1.16 returns the margins as probabilities for multi:softmax (onnxmltools #400)"),
    Case("xgboost-classifier-binary-hinge", "xgboost", _clf(objective="binary:hinge")),
    Case("xgboost-booster-multi-softmax", "xgboost", _booster("multi:softmax"), inf=False, upstream=False),
    Case("xgboost-booster-binary-hinge", "xgboost", _booster("binary:hinge"), inf=False, upstream=False),
    Case("xgboost-gblinear", "xgboost", _clf(booster="gblinear"),
         refused=(ConversionRefusedError, "gblinear' has no trees")),
    Case("xgboost-categorical", "xgboost", _categorical,
         refused=(ConversionRefusedError, "categorical splits")),
]
