"""LightGBM parity cases."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import numpy as np
import pytest

from conversion.errors import ConversionRefusedError

from .base import Case, categorical_dataset, dataset

lgb = pytest.importorskip("lightgbm")

# Small, single-threaded, silent, deterministic models keep the matrix fast and repeatable.
_FAST = {"n_estimators": 20, "num_leaves": 8, "n_jobs": 1, "verbose": -1, "deterministic": True}
_LINEAR_XFAIL = ("onnxmltools ignores linear_tree's leaf models and writes the plain leaf values (onnxruntime #25623, "
                 "hummingbird #807)")
_THRESHOLD_XFAIL = ("onnxmltools writes LightGBM's float64 thresholds as float32(t) unadjusted, so float32 rows in "
                    "(t, float32(t)] take the other branch (scikit-learn-intelex PR #3351)")


@cache
def _data(kind: str, task: str, nan: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Training data kinds: ``plain``; ``zeros`` (30% exact zeros and an integer feature, so
    splits sit at LightGBM's +-1e-35 zero band); ``grid`` (few distinct values per feature,
    so thresholds are midpoints that float32 cannot hold and probe rows sit on them)."""
    if task == "regression-positive":  # Poisson/gamma/tweedie targets
        X, y = dataset("regression", nan=nan, positive=True)
    else:
        X, y = dataset(task, nan=nan)
    X = X.copy()
    finite = ~np.isnan(X)
    if kind == "zeros":
        rng = np.random.default_rng(1)
        X[finite & (rng.random(X.shape) < 0.3)] = 0.0
        X[:, 1] = np.round(X[:, 1])
    elif kind == "grid":
        X[finite] = np.round(X[finite] * 10) / 10
    X = X.astype(np.float32).astype(np.float64)
    X.setflags(write=False)
    return X, y


def _clf(task: str = "binary", nan: float = 0.0, kind: str = "plain", **params: Any):
    def build():
        X, y = _data(kind, task, nan)
        return lgb.LGBMClassifier(**{**_FAST, **params}).fit(X, y), X

    return build


def _reg(objective: str = "regression", nan: float = 0.0, kind: str = "plain", **params: Any):
    def build():
        task = "regression-positive" if objective in ("poisson", "gamma", "tweedie") else "regression"
        X, y = _data(kind, task, nan)
        return lgb.LGBMRegressor(objective=objective, **{**_FAST, **params}).fit(X, y), X

    return build


def _clf_target_reg(objective: str):
    """A regressor on 0/1 targets (cross-entropy objectives)."""

    def build():
        X, y = dataset("binary")
        return lgb.LGBMRegressor(objective=objective, **_FAST).fit(X, y), X

    return build


def _ranker():
    X, y = dataset("multiclass", classes=4)
    return lgb.LGBMRanker(**_FAST).fit(X, y, group=[20] * (len(X) // 20)), X


def _early_stopping():
    X, y = dataset("binary", n=900, nan=0.1)
    model = lgb.LGBMClassifier(**{**_FAST, "n_estimators": 200, "learning_rate": 0.5})
    # LightGBM 4.7 takes eval_X/eval_y (and deprecates eval_set); earlier 4.x only eval_set.
    new_api = "eval_X" in inspect.signature(model.fit).parameters
    held_out = {"eval_X": (X[600:],), "eval_y": (y[600:],)} if new_api else {"eval_set": [(X[600:], y[600:])]}
    model.fit(X[:600], y[:600], **held_out, callbacks=[lgb.early_stopping(3, verbose=False)])
    assert model.best_iteration_ < 200, "the case needs early stopping to trigger"
    return model, X


def _booster(objective: str, nan: float = 0.0, early_stopping: bool = False, **extra: Any):
    def build():
        task = "multiclass" if objective.startswith("multiclass") else "binary"
        X, y = dataset(task, nan=nan, n=900)
        params = {"objective": objective, "num_leaves": 8, "num_threads": 1, "verbose": -1, "deterministic": True,
                  **extra}
        if task == "multiclass":
            params["num_class"] = 3
        if not early_stopping:
            return lgb.train(params, lgb.Dataset(X, y), num_boost_round=15), X
        train = lgb.Dataset(X[:600], y[:600])
        valid = lgb.Dataset(X[600:], y[600:], reference=train)
        # keep_training_booster keeps every tree; Booster.predict still stops at best_iteration.
        booster = lgb.train({**params, "learning_rate": 0.5}, train, num_boost_round=200, valid_sets=[valid],
                            callbacks=[lgb.early_stopping(3, verbose=False)], keep_training_booster=True)
        assert 0 < booster.best_iteration < booster.current_iteration(), "the case needs early stopping"
        return booster, X

    return build


def _categorical(kind: str = "binary", nan: float = 0.0, **params: Any):
    """categorical_feature=[0, 3]; small max_cat_to_onehot and cat_smooth so both one-vs-rest
    and many-category set splits occur."""

    def build():
        task = {"multiclass": "multiclass", "multiclassova": "multiclass", "regression": "regression",
                "lambdarank": "multiclass"}.get(kind, "binary")
        X, y = categorical_dataset(task, classes=4 if kind == "lambdarank" else 3, nan=nan)
        fit = {"categorical_feature": [0, 3]}
        p = {**_FAST, "max_cat_to_onehot": 2, "cat_smooth": 1.0, "min_data_per_group": 5, **params}
        if kind == "regression":
            model = lgb.LGBMRegressor(**p)
        elif kind == "lambdarank":
            model, fit["group"] = lgb.LGBMRanker(**p), [20] * (len(X) // 20)
        else:
            model = lgb.LGBMClassifier(**({**p, "objective": "multiclassova"} if kind == "multiclassova" else p))
        return model.fit(X, y, **fit), X

    return build


def _categorical_pandas():
    """A DataFrame with a pandas category column: LightGBM reads its cat.codes."""
    import pandas as pd

    X, y = categorical_dataset("binary")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["f0"] = pd.Categorical.from_codes(X[:, 0].astype(int), [f"c{i}" for i in range(30)])
    model = lgb.LGBMClassifier(**{**_FAST, "max_cat_to_onehot": 2, "min_data_per_group": 5}).fit(frame, y)
    return model, X


def _custom_objective(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return y_pred - y_true, np.ones_like(y_true)


def _custom_softmax(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.exp(y_pred - y_pred.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p - np.eye(p.shape[1])[y_true.astype(int)], p * (1 - p)


_CATEGORICAL_XFAIL = ("onnxmltools expands LightGBM category sets into BRANCH_EQ chains on the raw value, ignoring "
                      "LightGBM's truncation to int (2.5 is category 2 natively; onnxmltools PR #464), plus "
                      + _THRESHOLD_XFAIL)

CASES = [
    Case("lightgbm-classifier-categorical", "lightgbm", _categorical(), upstream_xfail=_CATEGORICAL_XFAIL),
    Case("lightgbm-classifier-categorical-multiclass", "lightgbm", _categorical("multiclass"),
         upstream_xfail=_CATEGORICAL_XFAIL),
    Case("lightgbm-classifier-categorical-multiclassova", "lightgbm", _categorical("multiclassova"),
         upstream_xfail=_CATEGORICAL_XFAIL),
    Case("lightgbm-regressor-categorical", "lightgbm", _categorical("regression"), upstream_xfail=_CATEGORICAL_XFAIL),
    Case("lightgbm-ranker-categorical-lambdarank", "lightgbm", _categorical("lambdarank"),
         upstream_xfail=_CATEGORICAL_XFAIL),
    Case("lightgbm-classifier-categorical-nan", "lightgbm", _categorical(nan=0.1), upstream_xfail=_CATEGORICAL_XFAIL),
    Case("lightgbm-classifier-categorical-no-missing-nan", "lightgbm", _categorical(nan=0.1, use_missing=False),
         upstream_xfail=_CATEGORICAL_XFAIL),
    Case("lightgbm-classifier-categorical-zero-as-missing", "lightgbm",
         _categorical(zero_as_missing=True), upstream_xfail=_CATEGORICAL_XFAIL),
    Case("lightgbm-classifier-categorical-pandas", "lightgbm", _categorical_pandas, upstream=False),
    Case("lightgbm-classifier-binary", "lightgbm", _clf(), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-classifier-binary-nan", "lightgbm", _clf(nan=0.15), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-classifier-multiclass", "lightgbm", _clf("multiclass"), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-classifier-multiclass-nan", "lightgbm", _clf("multiclass", nan=0.15),
         upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-classifier-multiclassova", "lightgbm", _clf("multiclass", objective="multiclassova"),
         upstream_xfail="onnxmltools converts objective='multiclassova' with softmax; LightGBM applies one sigmoid "
                        "per class without normalising (PARITY_CASES: multiclassova), plus " + _THRESHOLD_XFAIL),
    Case("lightgbm-classifier-sigmoid-scaled", "lightgbm", _clf(sigmoid=0.5),
         upstream_xfail="onnxmltools 1.16 drops the binary objective's sigmoid:0.5 (probabilities wrong on every "
                        "row), plus " + _THRESHOLD_XFAIL),
    Case("lightgbm-classifier-early-stopping-nan", "lightgbm", _early_stopping, upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-classifier-dart", "lightgbm", _clf("multiclass", boosting_type="dart"),
         upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-classifier-rf", "lightgbm", _clf(boosting_type="rf", bagging_freq=1, bagging_fraction=0.6),
         upstream_xfail="onnxmltools 1.16 sums the trees of boosting_type='rf', which LightGBM averages "
                        "(average_output), plus " + _THRESHOLD_XFAIL),
    Case("lightgbm-classifier-grid", "lightgbm", _clf(kind="grid"), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-classifier-zeros", "lightgbm", _clf(kind="zeros"), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-classifier-zero-as-missing-nan", "lightgbm", _clf(nan=0.1, kind="zeros", zero_as_missing=True),
         upstream_xfail="onnxmltools ignores missing_type Zero: 0.0 (and |x| <= 1e-35) takes the compared branch "
                        "instead of the default one (ONNX has only a NaN flag, onnx #6280), plus " + _THRESHOLD_XFAIL),
    Case("lightgbm-classifier-no-missing-nan", "lightgbm", _clf(nan=0.1, kind="zeros", use_missing=False),
         # NaN-as-0.0 (onnxmltools PR #488) routes right in 1.16 on this model; only thresholds fail.
         upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-regressor-regression", "lightgbm", _reg(), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-regressor-regression-nan", "lightgbm", _reg(nan=0.15), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-regressor-grid-nan", "lightgbm", _reg(nan=0.1, kind="grid"), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-regressor-poisson", "lightgbm", _reg("poisson"), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-regressor-gamma", "lightgbm", _reg("gamma"), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-regressor-tweedie", "lightgbm", _reg("tweedie"), upstream_xfail=_THRESHOLD_XFAIL),
    Case("lightgbm-regressor-custom-objective", "lightgbm", _reg(_custom_objective),
         upstream_xfail="onnxmltools 1.16 crashes on an LGBMRegressor with a callable objective "
                        "(AttributeError: no attribute 'classes_')"),
    Case("lightgbm-ranker-lambdarank", "lightgbm", _ranker, upstream_xfail=_THRESHOLD_XFAIL),
    # onnxmltools turns a raw Booster into a label+probabilities classifier; Booster.predict returns (N,) or (N, k).
    Case("lightgbm-booster-binary-nan", "lightgbm", _booster("binary", nan=0.1), upstream=False),
    Case("lightgbm-booster-multiclass", "lightgbm", _booster("multiclass"), upstream=False),
    Case("lightgbm-booster-early-stopping", "lightgbm", _booster("binary", early_stopping=True), upstream=False),
    # linear_tree=True: a linear model per leaf, the plain leaf value where one of its features is NaN.
    Case("lightgbm-regressor-linear-tree", "lightgbm", _reg(linear_tree=True), upstream_xfail=_LINEAR_XFAIL),
    Case("lightgbm-regressor-linear-tree-nan", "lightgbm", _reg(nan=0.15, linear_tree=True),
         upstream_xfail=_LINEAR_XFAIL),
    # LightGBM refuses zero_as_missing with linear trees; exact zeros still meet its 1e-35 band.
    Case("lightgbm-regressor-linear-tree-zeros-nan", "lightgbm", _reg(nan=0.1, kind="zeros", linear_tree=True),
         upstream_xfail=_LINEAR_XFAIL),
    Case("lightgbm-classifier-linear-tree-binary-nan", "lightgbm", _clf(nan=0.15, linear_tree=True),
         upstream_xfail=_LINEAR_XFAIL),
    Case("lightgbm-booster-linear-tree-multiclassova-nan", "lightgbm",
         _booster("multiclassova", nan=0.1, linear_tree=True), upstream=False),
    Case("lightgbm-classifier-linear-tree-multiclass-nan", "lightgbm", _clf("multiclass", nan=0.15, linear_tree=True),
         upstream_xfail=_LINEAR_XFAIL),
    Case("lightgbm-regressor-reg-sqrt", "lightgbm", _reg(reg_sqrt=True),
         refused=(ConversionRefusedError, "objective 'regression sqrt' is not supported; supported: ")),
    Case("lightgbm-regressor-cross-entropy-lambda", "lightgbm", _clf_target_reg("cross_entropy_lambda"),
         refused=(ConversionRefusedError, "'cross_entropy_lambda' is not supported; supported: ")),
    # A callable objective: LightGBM's predict and predict_proba both return raw scores.
    Case("lightgbm-classifier-custom-objective", "lightgbm", _clf(objective=_custom_objective),
         upstream_xfail="onnxmltools 1.16 writes an LGBMClassifier with a callable objective as a sigmoid "
                        "classifier (labels, [1 - p, p]) where LightGBM returns raw scores (onnxmltools #502)"),
    Case("lightgbm-classifier-custom-objective-multiclass-nan", "lightgbm",
         _clf("multiclass", nan=0.1, objective=_custom_softmax),
         upstream_xfail="onnxmltools 1.16 returns labels from predict where LightGBM returns the raw scores of a "
                        "callable objective (onnxmltools #502), plus " + _THRESHOLD_XFAIL),
    Case("lightgbm-classifier-regression-objective", "lightgbm", _clf(objective="regression"),
         refused=(ConversionRefusedError, "regression-type objective 'regression' is not converted")),
]
