"""XGBoost parity cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .base import Case, categorical_dataset, dataset

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


def _booster(objective: str, **extra: Any):
    def build():
        X, y = dataset("binary" if "binary" in objective else "multiclass")
        params = {"objective": objective, "max_depth": 4, "nthread": 1, **extra}
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


def _categorical(task: str = "binary", onehot: int = 1, nan: float = 0.0):
    """Pandas category columns 0 and 3; ``max_cat_to_onehot`` above the column's categories
    gives one-hot splits, 1 gives partition splits."""

    def build():
        import pandas as pd

        X, y = categorical_dataset("regression" if task == "regression" else task, nan=nan)
        df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        for col, n in (("f0", 30), ("f3", 6)):
            codes = np.nan_to_num(X[:, int(col[1:])], nan=-1).astype(int)  # -1: a missing category
            df[col] = pd.Categorical.from_codes(codes, [f"{col}_{i}" for i in range(n)])
        cls = xgb.XGBRegressor if task == "regression" else xgb.XGBClassifier
        model = cls(n_estimators=10, max_depth=4, enable_categorical=True, tree_method="hist",
                    max_cat_to_onehot=onehot, n_jobs=1)
        return model.fit(df, y), X

    return build


def _categorical_booster():
    """A raw Booster trained on a DMatrix with feature_types: it reads the float codes."""
    X, y = categorical_dataset("binary")
    dtrain = xgb.DMatrix(X, y, feature_types=["c", "q", "q", "c", "q"], enable_categorical=True)
    params = {"objective": "binary:logistic", "max_depth": 4, "tree_method": "hist", "nthread": 1}
    return xgb.train(params, dtrain, num_boost_round=10), X


_CATEGORICAL_XFAIL = ("onnxmltools 1.16 compares XGBoost categories as raw floats with BRANCH_EQ, without XGBoost's "
                      "float32 truncation to int and invalid-category rule (onnxmltools PR #734, fix of codes in "
                      "open PR #773)")

_GBLINEAR_XFAIL = ("onnxmltools 1.16 has no gblinear converter: it reads trees and crashes with KeyError "
                   "'gbtree_model_param' (onnxmltools #628, open)")

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
    # A logitraw base_score is a margin (LogisticRaw::ProbToMargin is the identity); xgboost 2.1 fits a
    # negative one by default, which a logit would clamp to -13.8 (found by nox -s lowest).
    Case("xgboost-booster-binary-logitraw", "xgboost", _booster("binary:logitraw"), inf=False, upstream=False),
    # booster="gblinear": a float32 linear model; its wrappers predict through a DMatrix, which rejects inf.
    Case("xgboost-gblinear-classifier-binary-nan", "xgboost", _clf(nan=0.15, booster="gblinear"), inf=False,
         upstream_xfail=_GBLINEAR_XFAIL),
    Case("xgboost-gblinear-classifier-multiclass", "xgboost", _clf("multiclass", booster="gblinear"), inf=False,
         upstream_xfail=_GBLINEAR_XFAIL),
    Case("xgboost-gblinear-regressor-nan", "xgboost", _reg("reg:squarederror", nan=0.15, booster="gblinear"),
         inf=False, upstream_xfail=_GBLINEAR_XFAIL),
    Case("xgboost-gblinear-classifier-missing-999", "xgboost", _sentinel("binary", -999.0, booster="gblinear"),
         inf=False, edges=(-999.0,), upstream_xfail=_GBLINEAR_XFAIL),
    Case("xgboost-gblinear-booster-multi-softprob", "xgboost", _booster("multi:softprob", booster="gblinear"),
         inf=False, upstream=False),
    Case("xgboost-classifier-categorical", "xgboost", _categorical(), upstream_xfail=_CATEGORICAL_XFAIL),
    Case("xgboost-classifier-categorical-onehot", "xgboost", _categorical(onehot=64),
         upstream_xfail=_CATEGORICAL_XFAIL),
    Case("xgboost-classifier-categorical-nan", "xgboost", _categorical(nan=0.1), upstream_xfail=_CATEGORICAL_XFAIL),
    Case("xgboost-classifier-categorical-multiclass", "xgboost", _categorical("multiclass"),
         upstream_xfail=_CATEGORICAL_XFAIL),
    Case("xgboost-regressor-categorical", "xgboost", _categorical("regression"), upstream_xfail=_CATEGORICAL_XFAIL),
    Case("xgboost-booster-categorical", "xgboost", _categorical_booster, inf=False, upstream=False),
]
