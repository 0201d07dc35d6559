"""CatBoost's model files: the JSON document onnxgate reads the trees from, and .cbm loading.

The loss families live here because both sides need them: a .cbm does not record its wrapper
class, so loading picks it by loss, and catboost.py builds each family's head.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from ...errors import ModelFileError

__all__ = ["CLASSIFIER_LOSSES", "EXP_LOSSES", "RANKING_LOSSES", "REGRESSION_LOSSES", "doc_digest", "dump_json",
           "load_cbm", "loss_name", "split_types"]

# Classifier losses -> the transform CatBoostClassifier.predict_proba applies to raw scores.
CLASSIFIER_LOSSES = {
    "Logloss": "sigmoid",
    "CrossEntropy": "sigmoid",
    "MultiClass": "softmax",
    "MultiClassOneVsAll": "sigmoid_ovr",
}
# CatBoostRegressor.predict returns exp(raw) for these (its default prediction_type 'Exponent')
# and the raw formula value for every other regression loss.
EXP_LOSSES = ("Poisson", "Tweedie")
REGRESSION_LOSSES = (
    "RMSE", "MAE", "Quantile", "MultiQuantile", "Expectile", "LogLinQuantile", "MAPE", "Huber", "Lq",
    "LogCosh", "FairLoss", "RMSPE", "MultiRMSE", *EXP_LOSSES,
)
RANKING_LOSSES = (
    "YetiRank", "YetiRankPairwise", "PairLogit", "PairLogitPairwise", "QueryRMSE", "QuerySoftMax",
    "QueryCrossEntropy", "LambdaMart", "StochasticFilter", "StochasticRank",
)


def loss_name(doc: dict[str, Any]) -> str:
    """The loss a model was trained with: under ``params`` for a trained model, or as a JSON
    string in ``model_info.loss_function`` for one built by sum_models; "" if unrecorded."""
    info = doc.get("model_info", {})
    loss: Any = info.get("params", {}).get("loss_function") or info.get("loss_function") or {}
    if isinstance(loss, str):
        try:
            loss = json.loads(loss)
        except json.JSONDecodeError:
            return loss.split(":")[0]
    return str(loss.get("type", "")) if isinstance(loss, dict) else ""


def split_types(doc: dict[str, Any]) -> set[str]:
    trees = doc.get("oblivious_trees") or []
    return {s.get("split_type", "FloatFeature") for t in trees for s in (t.get("splits") or [])}


def dump_json(model: Any) -> dict[str, Any]:
    # CatBoost writes JSON only to a file; there is no in-memory route.
    with tempfile.TemporaryDirectory(prefix="onnxgate-catboost-") as tmp:
        path = Path(tmp) / "model.json"
        model.save_model(str(path), format="json")
        return json.loads(path.read_text(encoding="utf-8"))


# What CatBoost stamps on every fit: two fits of the same rows with the same seed differ only here,
# so the fingerprint leaves them out (the .cbm bytes' sha256 changed on every training run).
_VOLATILE_INFO = ("model_guid", "train_finish_time")


def doc_digest(doc: dict[str, Any]) -> str:
    """sha256 of a model's JSON without the stamps of its training run."""
    info = {k: v for k, v in doc.get("model_info", {}).items() if k not in _VOLATILE_INFO}
    return hashlib.sha256(json.dumps({**doc, "model_info": info}, sort_keys=True).encode()).hexdigest()


def load_cbm(cb: Any, path: Path) -> Any:
    """Reads a .cbm file into the wrapper its loss implies (a .cbm does not record the
    wrapper class): classifier losses give a CatBoostClassifier, ranking losses a
    CatBoostRanker, anything else a CatBoostRegressor."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from exc
    if magic != b"CBM1":
        raise ModelFileError(f"{path} is not a CatBoost binary model (.cbm): it lacks the CBM1 header")
    probe = cb.CatBoost()
    try:
        probe.load_model(str(path), format="cbm")
    except cb.CatBoostError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelFileError(f"{path} is not a readable CatBoost model: {reason}") from exc
    try:
        loss = str(probe.get_all_params().get("loss_function", "")).split(":")[0]
    except cb.CatBoostError:  # sum_models results keep no training params, only model_info.loss_function
        loss = loss_name(dump_json(probe))
    if loss in CLASSIFIER_LOSSES:
        model = cb.CatBoostClassifier()
    elif loss in RANKING_LOSSES:
        model = cb.CatBoostRanker()
    else:
        model = cb.CatBoostRegressor()
    return model.load_model(str(path), format="cbm")
