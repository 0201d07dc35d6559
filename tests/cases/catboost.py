"""CatBoost parity cases."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conversion.converter.frameworks.catboost import CatBoostAdapter
from conversion.errors import ConversionRefusedError

from .base import Case, categorical_dataset, dataset

cb = pytest.importorskip("catboost")

# Tiny, single-threaded, silent models so the matrix stays fast and deterministic.
_FAST = {"iterations": 20, "depth": 4, "thread_count": 1, "allow_writing_files": False, "verbose": False}
# Reasons the public exporter (catboost 1.2.10, save_model(format="onnx")) is wrong, as measured
# here; each names the upstream issue where one exists.
_EXP_XFAIL = ("CatBoost's ONNX exporter writes raw scores for loss_function={!r}, while CatBoostRegressor.predict "
              "returns exp(raw) (prediction_type 'Exponent' since catboost PR #1213); no upstream issue found")
_XFAIL = {
    "bool": "CatBoost's ONNX exporter raises 'Unexpected label type' for boolean class labels "
            "(onnx_helpers.cpp:145; related: catboost #2243)",
    "onevsall": "CatBoost's ONNX exporter applies softmax to MultiClassOneVsAll scores, while predict_proba "
                "applies a sigmoid per class; no upstream issue found",
    "sum": "CatBoost's ONNX exporter writes a raw-score TreeEnsembleRegressor for a classifier built by "
           "sum_models (it keeps no training params to tell it the loss); no upstream issue found",
    "scale": "CatBoost's ONNX exporter refuses a non-identity scale from set_scale_and_bias "
             "('Non-identity {Scale} for exporting ONNX model is not supported')",
    "nonsymmetric": "CatBoost's ONNX exporter refuses Depthwise/Lossguide trees ('ONNX-ML export is available only "
                    "for models on oblivious trees', catboost #2553)",
    "multirmse": "catboost #1940: ONNX export corrupts multi-regression models (fix PR #3170 unmerged); "
                 "ONNX Runtime rejects the graph ('Invalid tensor data type 0')",
}


def _clf(task: str = "binary", nan: float = 0.0, labels: Any = None, **params: Any):
    def build():
        X, y = dataset(task, nan=nan)
        if labels is not None:
            y = np.asarray(labels)[y]
        return cb.CatBoostClassifier(**{**_FAST, **params}).fit(X, y), X

    return build


def _reg(loss: str = "RMSE", nan: float = 0.0, **params: Any):
    def build():
        X, y = dataset("regression", nan=nan, positive=loss.split(":")[0] in ("Poisson", "Tweedie"))
        return cb.CatBoostRegressor(loss_function=loss, **{**_FAST, **params}).fit(X, y), X

    return build


def _scale_and_bias(task: str = "regression"):
    def build():
        if task == "regression":
            model, X = _reg()()
            model.set_scale_and_bias(0.5, 2.25)
        else:
            model, X = _clf(task)()
            model.set_scale_and_bias(1.5, [0.25, -0.5, 1.0])
        return model, X

    return build


def _sum_models(wrapper: str):
    """sum_models returns a plain CatBoost (predict = raw scores); saved and loaded back through
    the adapter's .cbm round trip it is a CatBoostClassifier again."""

    def build():
        X, y = dataset("binary")
        a = cb.CatBoostClassifier(**_FAST).fit(X, y)
        b = cb.CatBoostClassifier(**{**_FAST, "random_seed": 7, "depth": 3}).fit(X, y)
        total = cb.sum_models([a, b], weights=[0.25, 0.75])
        if wrapper == "raw":
            return total, X
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sum.cbm"
            adapter = CatBoostAdapter()
            adapter.save_native(total, path)
            return adapter.load_native(path), X

    return build


def _plain(task: str):
    def build():
        X, y = dataset(task)
        loss = "MultiClass" if task == "multiclass" else "Logloss"
        return cb.CatBoost({"loss_function": loss, **_FAST}).fit(X, y), X

    return build


def _multirmse():
    X, _ = dataset("regression")
    Y = np.c_[X[:, 0] * 2 - X[:, 3], X[:, 1] + X[:, 2] ** 2]
    return cb.CatBoostRegressor(loss_function="MultiRMSE", **_FAST).fit(X, Y), X


def _ranker():
    X, y = dataset("multiclass", classes=4)
    return cb.CatBoostRanker(**_FAST).fit(X, y, group_id=np.repeat(np.arange(len(X) // 20), 20)), X


def _categorical():
    import pandas as pd

    X, y = dataset("binary")
    df = pd.DataFrame(X[:, :4], columns=["a", "b", "c", "d"])
    # four colours above one_hot_max_size=2 that give the target away: CatBoost splits on their CTRs
    colour = np.array(["red", "green", "blue", "cyan", "pink"])[2 * np.asarray(y) + np.arange(len(y)) % 2]
    df["colour"] = colour
    return cb.CatBoostClassifier(cat_features=["colour"], one_hot_max_size=2, **_FAST).fit(df, y), X


def _one_hot(task: str = "binary", **params: Any):
    """categorical_dataset's integer columns 0 (30 labels) and 3 (6) as cat_features, each within
    one_hot_max_size: one-hot splits only, no CTRs. X holds the integer labels, as CatBoost reads
    a matrix (inputs.py)."""

    def build():
        import pandas as pd

        X, y = categorical_dataset(task)
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        for f in ("f0", "f3"):
            frame[f] = X[:, int(f[1])].astype(np.int64)
        cls = cb.CatBoostRegressor if task == "regression" else cb.CatBoostClassifier
        model = cls(cat_features=["f0", "f3"], one_hot_max_size=30, **{**_FAST, "depth": 5, **params})
        return model.fit(frame, y), X

    return build


def _text():
    import pandas as pd

    X, y = dataset("binary")
    df = pd.DataFrame(X[:, :4], columns=["a", "b", "c", "d"])
    df["review"] = np.array(["good value", "bad service", "fine"])[(np.arange(len(y)) + y) % 3]
    return cb.CatBoostClassifier(text_features=["review"], **_FAST).fit(df, y), X


def _threshold():
    model, X = _clf()()
    model.set_probability_threshold(0.3)
    return model, X


CASES = [
    Case("catboost-classifier-binary", "catboost", _clf()),
    Case("catboost-classifier-binary-nan-min", "catboost", _clf(nan=0.15, nan_mode="Min")),
    Case("catboost-classifier-binary-nan-max", "catboost", _clf(nan=0.15, nan_mode="Max")),
    Case("catboost-classifier-binary-bool", "catboost", _clf(labels=np.array([False, True])),
         upstream_xfail=_XFAIL["bool"]),
    Case("catboost-classifier-multiclass", "catboost", _clf("multiclass")),
    # Leaf-only trees and stumps: ONNX Runtime has mishandled both (ORT #27533, #28557).
    Case("catboost-classifier-binary-leaf-only", "catboost", _clf(depth=0)),
    Case("catboost-regressor-stumps", "catboost", _reg(depth=1)),
    Case("catboost-classifier-multiclass-nan-max", "catboost", _clf("multiclass", nan=0.15, nan_mode="Max")),
    Case("catboost-classifier-onevsall", "catboost", _clf("multiclass", loss_function="MultiClassOneVsAll"),
         upstream_xfail=_XFAIL["onevsall"]),
    Case("catboost-classifier-sum-models", "catboost", _sum_models("classifier"), upstream_xfail=_XFAIL["sum"]),
    Case("catboost-booster-sum-models-raw", "catboost", _sum_models("raw"),
         upstream=False),  # the exporter writes a classifier (label + probabilities), not raw scores
    Case("catboost-booster-multiclass-raw", "catboost", _plain("multiclass"), upstream=False),
    Case("catboost-regressor-rmse", "catboost", _reg()),
    Case("catboost-regressor-rmse-nan-forbidden", "catboost", _reg(nan_mode="Forbidden")),
    Case("catboost-regressor-rmse-nan-min", "catboost", _reg(nan=0.15, nan_mode="Min")),
    Case("catboost-regressor-rmse-nan-max", "catboost", _reg(nan=0.15, nan_mode="Max")),
    # Trained without NaN, nan_mode='Max' is not applied at predict time: NaN goes left (catboost #2850).
    Case("catboost-regressor-dense-nan-max", "catboost", _reg(nan_mode="Max")),
    Case("catboost-regressor-poisson", "catboost", _reg("Poisson"), upstream_xfail=_EXP_XFAIL.format("Poisson")),
    Case("catboost-regressor-tweedie", "catboost", _reg("Tweedie:variance_power=1.5"),
         upstream_xfail=_EXP_XFAIL.format("Tweedie")),
    Case("catboost-regressor-scale-and-bias", "catboost", _scale_and_bias(), upstream_xfail=_XFAIL["scale"]),
    Case("catboost-classifier-multiclass-scale-and-bias", "catboost", _scale_and_bias("multiclass"),
         upstream_xfail=_XFAIL["scale"]),
    Case("catboost-regressor-multirmse", "catboost", _multirmse, upstream_xfail=_XFAIL["multirmse"]),
    Case("catboost-ranker-yetirank", "catboost", _ranker),
    # CTRs and text estimators: the refusal says what they are and what to do instead.
    Case("catboost-classifier-categorical", "catboost", _categorical,
         refused=(ConversionRefusedError, r"categorical features .*CTRs, target statistics counted from the "
                                          r"training labels.*catboost #863.*one-hot or ordinal codes")),
    # One-hot categorical features (no CTRs) are exact; CatBoost's exporter refuses any
    # categorical feature (catboost #863), so there is no upstream graph to compare.
    Case("catboost-classifier-categorical-onehot", "catboost", _one_hot(), upstream=False),
    Case("catboost-classifier-categorical-onehot-multiclass", "catboost", _one_hot("multiclass"), upstream=False),
    Case("catboost-regressor-categorical-onehot", "catboost", _one_hot("regression"), upstream=False),
    Case("catboost-regressor-categorical-onehot-nan-min", "catboost", _one_hot("regression", nan_mode="Min"),
         upstream=False),
    Case("catboost-classifier-text", "catboost", _text,
         refused=(ConversionRefusedError, r"text features .*dictionaries built in training.*catboost #863.*"
                                          r"serve the native model")),
    # Non-symmetric trees (nested nodes in the JSON export).
    Case("catboost-regressor-depthwise-nan", "catboost", _reg(nan=0.15, grow_policy="Depthwise", nan_mode="Max"),
         upstream_xfail=_XFAIL["nonsymmetric"]),
    Case("catboost-regressor-lossguide", "catboost", _reg(grow_policy="Lossguide", depth=6),
         upstream_xfail=_XFAIL["nonsymmetric"]),
    Case("catboost-classifier-depthwise-binary-nan", "catboost", _clf(nan=0.15, grow_policy="Depthwise"),
         upstream_xfail=_XFAIL["nonsymmetric"]),
    Case("catboost-classifier-lossguide-multiclass-nan", "catboost",
         _clf("multiclass", nan=0.15, grow_policy="Lossguide", max_leaves=12), upstream_xfail=_XFAIL["nonsymmetric"]),
    Case("catboost-regressor-uncertainty", "catboost", _reg("RMSEWithUncertainty"),
         refused=(ConversionRefusedError, "loss_function 'RMSEWithUncertainty' is not supported; supported: RMSE")),
    Case("catboost-classifier-probability-threshold", "catboost", _threshold,
         refused=(ConversionRefusedError, "probability threshold 0.3")),
    # String class labels: the engine keeps string outputs off ORT's IOBinding, which crashes on them.
    Case("catboost-classifier-binary-strings", "catboost", _clf(labels=np.array(["no", "yes"]))),
    Case("catboost-classifier-multiclass-strings", "catboost", _clf("multiclass", labels=np.array(["a", "b", "c"]))),
]
