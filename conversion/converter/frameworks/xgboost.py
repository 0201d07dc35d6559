"""XGBoost: sklearn wrappers and raw Boosters, read from the model's own JSON."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConversionRefusedError, ModelFileError, NotFittedError, UnsupportedModelError
from ..emit_gblinear import OrderedLinear, emit_ordered_linear
from ..tree_ir import CategoryCoding, CategorySplits, Head, TreeEnsembleIR, category_sets, concat_trees
from .base import Adapter, FastNative, Lowered, import_optional
from .upstream import adopt_outputs

# objective -> (post-transform, how base_score maps to a margin)
_OBJECTIVES: dict[str, tuple[str, str]] = {
    "reg:squarederror": ("identity", "identity"),
    "reg:squaredlogerror": ("identity", "identity"),
    "reg:pseudohubererror": ("identity", "identity"),
    "reg:absoluteerror": ("identity", "identity"),
    "reg:quantileerror": ("identity", "identity"),
    "reg:logistic": ("sigmoid", "logit"),
    "binary:logistic": ("sigmoid", "logit"),
    # logitraw's base_score is a margin (LogisticRaw::ProbToMargin is the identity): measured on
    # 2.1.0, 3.0.5 and 3.2.0 (one explicit base_score gives the same predictions on all three).
    "binary:logitraw": ("identity", "identity"),
    "binary:hinge": ("hinge", "identity"),
    "count:poisson": ("exp", "log"),
    "reg:gamma": ("exp", "log"),
    "reg:tweedie": ("exp", "log"),
    "multi:softprob": ("softmax", "identity"),
    "multi:softmax": ("softmax", "identity"),
    "rank:pairwise": ("identity", "identity"),
    "rank:ndcg": ("identity", "identity"),
    "rank:map": ("identity", "identity"),
}
# scikit-learn wrapper type recorded by XGBModel.save_model -> the class that reads it back
_WRAPPERS = {"classifier": "XGBClassifier", "regressor": "XGBRegressor", "ranker": "XGBRanker"}
def _logit32(b: np.ndarray) -> np.ndarray:
    """XGBoost's ``ProbToMargin`` for logistic objectives, in float32 as it computes it:
    ``-logf(1.0f / x - 1.0f)`` of the score clamped to [1e-6, 1 - 1e-6] (src/common/math.h).
    The log is taken in float64 and rounded, which is the correctly rounded ``logf``."""
    eps = np.float32(1e-6)
    x = np.clip(np.asarray(b, dtype=np.float32), eps, np.float32(1) - eps)
    t = (np.float32(1) / x - np.float32(1)).astype(np.float32)
    return (-np.log(t.astype(np.float64))).astype(np.float32).astype(np.float64)


def _log32(b: np.ndarray) -> np.ndarray:
    """``std::log`` of the float32 base score (gamma, Poisson, Tweedie), rounded to float32."""
    return np.log(np.asarray(b, dtype=np.float32).astype(np.float64)).astype(np.float32).astype(np.float64)


_TO_MARGIN = {
    "identity": lambda b: b,
    "logit": _logit32,
    "log": _log32,
}


def _base_score(text: str) -> np.ndarray:
    # xgboost < 3.1 writes "5E-1"; >= 3.1 writes a vector "[5E-1,3E-1]" (one per class/target).
    return np.array([float(v) for v in text.strip("[]").split(",")], dtype=np.float64)


def _missing_value(model: Any, xgb: Any) -> float:
    """The value the native predict treats as missing besides NaN.

    The scikit-learn wrappers pass their ``missing`` parameter to every DMatrix they build. A
    raw Booster stores none: the caller chooses it per DMatrix, and onnxgate's native path
    (like ``xgb.DMatrix(X)``) uses NaN. ``save_model`` does not keep ``missing`` either, so a
    wrapper loaded from a file predicts with NaN only.
    """
    missing = getattr(model, "missing", math.nan) if isinstance(model, xgb.XGBModel) else math.nan
    if missing is None:
        return math.nan
    try:
        value = float(missing)
    except (TypeError, ValueError) as exc:
        raise ConversionRefusedError(
            f"XGBoost missing={missing!r} is not a number; use a float sentinel such as -999.0 or NaN"
        ) from exc
    return value


# XGBoost's categorical Decision (src/common/categorical.h): the float32 value, valid when
# 0 <= v < 2**24, truncated to int; NaN (missing) takes the default child; a valid category in
# the node's set goes RIGHT, anything else (invalid values too) left.
_XGB_CODING = {"cast": "float32", "low": 0.0, "high": 2.0**24, "low_closed": True}


def _categorical_nodes(
    t: dict[str, Any], left: np.ndarray, right: np.ndarray, default_left: np.ndarray, cat_sets: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Categorical nodes of one tree (one-hot and partition splits are both stored as the set
    of categories that go right): children swapped so the IR's "member goes left" holds, and
    each node's set appended to ``cat_sets``."""
    left, right, default_left = left.copy(), right.copy(), default_left.copy()
    index = np.full(left.size, -1, dtype=np.int64)
    cats = np.asarray(t["categories"], dtype=np.float64)
    for nid, seg, size in zip(t["categories_nodes"], t["categories_segments"], t["categories_sizes"], strict=True):
        left[nid], right[nid] = right[nid], left[nid]
        default_left[nid] = not default_left[nid]
        index[nid] = len(cat_sets)
        cat_sets.append(cats[int(seg):int(seg) + int(size)])
    return left, right, default_left, index


def _category_labels(tree_model: dict[str, Any]) -> dict[int, tuple[Any, ...]]:
    """The pandas categories a model was trained on (xgboost >= 3.1 stores them in the
    model's ``cats``), whose positions are the codes it reads; empty for numeric codes."""
    out: dict[int, tuple[str, ...]] = {}
    for f, enc in enumerate(tree_model.get("cats", {}).get("enc", [])):
        offsets, values = enc.get("offsets", []), enc.get("values", [])
        if offsets:  # strings, as UTF-8 bytes back to back
            raw = bytes(int(v) & 0xFF for v in values)  # JSON holds them as signed chars
            if any(b >= 0x80 for b in raw):
                # Measured on xgboost 3.2: a label keeps only as many bytes of its UTF-8 as it has
                # characters ('ünï ✓', 9 bytes, is stored and matched as its first 5), so distinct
                # labels can collide and the stored text is not the label.
                raise ConversionRefusedError(
                    f"categorical column {f} has non-ASCII category labels, which XGBoost stores cut to their "
                    "character count in bytes (so labels can collide); onnxgate cannot recover the labels it "
                    "matches. Use ASCII labels (or integer categories) and train again, or serve the native model"
                )
            out[f] = tuple(raw[a:b].decode("ascii") for a, b in itertools.pairwise(offsets))
        elif values:
            out[f] = tuple(values)  # numbers stay numbers: 65 and "65" are different labels
    return out


class XGBoostAdapter(Adapter):
    name = "xgboost"
    package = "xgboost"
    extra = "xgboost"
    supported = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor", "Booster")

    def _booster(self, model: Any) -> Any:
        xgb = self.framework()
        if isinstance(model, xgb.Booster):
            return model
        if not isinstance(model, xgb.XGBModel):
            raise UnsupportedModelError(
                f"{type(model).__name__} is not a supported XGBoost model; supported: {', '.join(self.supported)}"
            )
        try:
            return model.get_booster()
        except Exception as exc:  # xgboost raises its own NotFittedError subclass
            raise NotFittedError(
                f"this {type(model).__name__} is not fitted yet; call fit() before converting it"
            ) from exc

    def _iterations(self, model: Any, n_iterations: int) -> int:
        xgb = self.framework()
        # The sklearn wrapper predicts with best_iteration after early stopping; a raw Booster
        # predicts with every tree (xgboost's Booster.predict default iteration_range).
        if isinstance(model, xgb.XGBModel) and getattr(model, "best_iteration", None) is not None:
            try:
                return int(model.best_iteration) + 1
            except AttributeError:
                return n_iterations
        return n_iterations

    def _document(self, model: Any) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(bytes(self._booster(model).save_raw("json")))["learner"]
        objective = doc["objective"]["name"]
        if objective not in _OBJECTIVES:
            raise ConversionRefusedError(
                f"XGBoost objective {objective!r} is not supported; supported: {', '.join(sorted(_OBJECTIVES))}"
            )
        if int(doc["learner_model_param"].get("num_target", "1")) > 1:
            raise ConversionRefusedError("multi-target XGBoost models are not supported; train one model per target")
        return doc

    def _head(self, model: Any, doc: dict[str, Any], category_labels: dict[int, tuple[str, ...]]) -> Head:
        """How margins become the native outputs, from the objective and the wrapper type."""
        xgb = self.framework()
        objective = doc["objective"]["name"]
        post = _OBJECTIVES[objective][0]
        is_classifier = isinstance(model, xgb.XGBClassifier)
        if objective == "multi:softmax" and not is_classifier:
            post = "argmax"  # a raw Booster predicts the class index, as float32
        n_class = int(doc["learner_model_param"].get("num_class", "0"))
        if is_classifier:
            classes = np.asarray(model.classes_)
            # XGBClassifier.predict returns the index column: int32 straight from the booster
            # for multi:softmax, an int64 argmax otherwise.
            label_dtype = "int32" if objective == "multi:softmax" else str(classes.dtype)
            methods = {"predict": label_dtype, "predict_proba": "float32"}
            task = "classification"
            if len(classes) == 2 and post == "identity":
                raise ConversionRefusedError("binary:logitraw classifiers have no probabilities to reproduce")
        else:
            classes, methods = None, {"predict": "float32"}
            task = "ranking" if isinstance(model, getattr(xgb, "XGBRanker", ())) else "regression"
        if is_classifier and n_class == 0 and len(classes) > 2:
            raise ConversionRefusedError("a multiclass XGBClassifier without num_class is inconsistent")
        return Head(
            task=task,
            post_transform=post,
            # multi:softmax labels are the booster's own argmax of the margins.
            label_from_raw=is_classifier and objective == "multi:softmax",
            classes=classes,
            methods=methods,
            # Booster.predict(DMatrix) rejects inf and what overflows float32;
            # the sklearn wrappers accept both.
            allow_inf=not isinstance(model, xgb.Booster),
            finite_max=float(np.finfo(np.float32).max) if isinstance(model, xgb.Booster) else np.inf,
            category_labels=category_labels,
            category_unseen="next",  # XGBoost's binary search, see inputs.py
        )

    def _base_margin(self, doc: dict[str, Any], n_targets: int) -> np.ndarray:
        objective = doc["objective"]["name"]
        margin = _OBJECTIVES[objective][1]
        base = _TO_MARGIN[margin](_base_score(doc["learner_model_param"]["base_score"]))
        return np.broadcast_to(base, (n_targets,)).astype(np.float64)

    def lower(self, model: Any, *, dtype: np.dtype, ml_opset: int | None) -> Lowered:
        doc = self._document(model)
        if doc["gradient_booster"]["name"] != "gblinear":
            return super().lower(model, dtype=dtype, ml_opset=ml_opset)
        from ..._version import __version__

        lin = self._gblinear(model, doc)
        return Lowered(emit_ordered_linear(lin, dtype=dtype), lin.head, lin.n_features, "onnxgate", __version__)

    def _gblinear(self, model: Any, doc: dict[str, Any]) -> OrderedLinear:
        """booster='gblinear': weights (features x groups, the bias row last) summed as
        ``GBLinear::Pred`` does, from ``bias[g] + base_score(0)``: v3.2 starts every output
        group from the first group's base margin."""
        params = doc["learner_model_param"]
        n_features, n_groups = int(params["num_feature"]), max(int(params.get("num_class", "0")), 1)
        weights = np.asarray(doc["gradient_booster"]["model"]["weights"], dtype=np.float32)
        weights = weights.reshape(n_features + 1, n_groups)
        base = np.float32(self._base_margin(doc, n_groups)[0])
        # The wrappers predict gblinear through a DMatrix too (no inplace_predict), which
        # rejects inf and what overflows float32.
        head = replace(self._head(model, doc, {}), allow_inf=False, finite_max=float(np.finfo(np.float32).max))
        return OrderedLinear(weights=weights[:n_features], start=weights[n_features] + base, head=head,
                             missing_value=_missing_value(model, self.framework()))

    def to_ir(self, model: Any) -> TreeEnsembleIR:
        xgb = self.framework()
        doc = self._document(model)
        gb = doc["gradient_booster"]
        if gb["name"] == "gblinear":
            raise ConversionRefusedError(
                "booster='gblinear' is a linear model, not a tree ensemble: convert() writes it as an ordered "
                "float32 sum; the tree form (and its upstream comparison) does not apply"
            )
        tree_model = gb["gbtree"]["model"] if gb["name"] == "dart" else gb["model"]
        weights = np.asarray(gb.get("weight_drop", []), dtype=np.float64)
        params = doc["learner_model_param"]
        n_features = int(params["num_feature"])
        n_targets = max(int(params.get("num_class", "0")), 1)
        indptr = np.asarray(tree_model.get("iteration_indptr", []), dtype=np.int64)
        n_iter = max(len(indptr) - 1, 0)
        keep = indptr[self._iterations(model, n_iter)] if n_iter else len(tree_model["trees"])
        trees = []
        cat_sets: list[np.ndarray] = []
        cat_index: list[np.ndarray] = []
        for i, t in enumerate(tree_model["trees"][:keep]):
            if int(t["tree_param"].get("size_leaf_vector", "1")) > 1:
                raise ConversionRefusedError("vector-leaf trees (multi_strategy='multi_output_tree') are not supported")
            left = np.asarray(t["left_children"], dtype=np.int64)
            leaf = left == -1
            cond = np.asarray(t["split_conditions"], dtype=np.float32).astype(np.float64)
            value = np.zeros((left.size, n_targets))
            scale = weights[i] if weights.size else 1.0
            value[leaf, int(tree_model["tree_info"][i])] = cond[leaf] * scale
            right = np.asarray(t["right_children"], dtype=np.int64)
            default_left = np.asarray(t["default_left"], dtype=bool)
            index = np.full(left.size, -1, dtype=np.int64)
            if any(int(s) != 0 for s in t.get("split_type", [])):
                left, right, default_left, index = _categorical_nodes(t, left, right, default_left, cat_sets)
            cat_index.append(index)
            trees.append(
                (
                    np.arange(left.size, dtype=np.int64),
                    np.where(leaf, -1, np.asarray(t["split_indices"], dtype=np.int64)),
                    np.where(leaf, 0.0, cond),
                    left,
                    right,
                    default_left,
                    value,
                )
            )
        tree_idx, node, feature, threshold, left, right, missing_left, value = concat_trees(trees)
        categories = None
        if cat_sets:
            ptr, members = category_sets(cat_sets)
            index = np.concatenate(cat_index)
            coding = CategoryCoding(features=np.unique(feature[index >= 0]), **_XGB_CODING)
            categories = CategorySplits(index=index, ptr=ptr, values=members, coding=coding)
        head = self._head(model, doc, _category_labels(tree_model) if categories is not None else {})
        return TreeEnsembleIR(
            n_features=n_features,
            n_targets=n_targets,
            tree=tree_idx,
            node=node,
            feature=feature,
            threshold=threshold,
            left=left,
            right=right,
            missing_left=missing_left,
            value=value,
            base_values=self._base_margin(doc, n_targets),
            cmp="<",
            input_cast="float32",
            missing_value=_missing_value(model, xgb),
            head=head,
            categories=categories,
        )

    def native(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        xgb = self.framework()
        if isinstance(model, xgb.Booster):
            return model.predict(xgb.DMatrix(X, missing=math.nan))
        if X.shape[0] == 0 and getattr(model, "objective", None) == "multi:softmax":
            # XGBClassifier(multi:softmax).predict_proba fails on zero rows (its softmax gets a
            # 1-D empty margin); the empty answer's shape and dtype come from one row.
            return getattr(model, method)(np.zeros((1, X.shape[1]), dtype=X.dtype))[:0]
        return getattr(model, method)(X)

    def fast_native(self, model: Any, method: str, *, threads: int | None = None) -> FastNative:
        """``Booster.inplace_predict`` with the wrapper's ``missing`` and trees, its head applied:
        a classifier's probabilities of class one become the wrapper's two columns."""
        xgb = self.framework()
        name = "Booster.inplace_predict"
        if isinstance(model, xgb.Booster):
            return FastNative(name, _inplace(_on_threads(model, threads), (0, 0), math.nan, two_columns=False))
        objective = model.get_xgb_params().get("objective")
        if model.get_xgb_params().get("booster") == "gblinear":
            return FastNative(name, None, "a gblinear model predicts through its DMatrix path only")
        if isinstance(model, xgb.XGBClassifier):
            if method != "predict_proba" or objective not in ("binary:logistic", "multi:softprob"):
                return FastNative(name, None, f"{method} with objective {objective} applies the wrapper's own "
                                              "head (class labels or softmax), which is not the Booster's output")
        elif not isinstance(model, xgb.XGBRegressor) or method != "predict":
            return FastNative(name, None, f"{type(model).__name__}.{method} is not a plain prediction")
        try:
            trees = (0, model.best_iteration + 1)  # the wrapper stops at the early-stopping best, as here
        except AttributeError:
            trees = (0, 0)
        return FastNative(name, _inplace(_on_threads(model.get_booster(), threads), trees, model.missing,
                                         two_columns=isinstance(model, xgb.XGBClassifier)))

    def native_bytes(self, model: Any) -> bytes:
        return bytes(self._booster(model).save_raw("ubj"))

    native_suffix = ".ubj"
    file_suffixes = (".json", ".ubj")

    def sniff(self, head: bytes) -> str | None:
        if head.lstrip()[:2] in (b'{"', b"{\n", b"{ "):
            return "an XGBoost JSON model"
        if head.startswith(b"{"):  # UBJSON: an object marker, then typed keys ($, U, L, ...)
            return "an XGBoost UBJSON model"
        return None

    def feature_names(self, model: Any) -> list[str] | None:
        names = self._booster(model).feature_names
        return list(names) if names else None

    def save_native(self, model: Any, path: Path) -> None:
        """Writes .ubj (or .json). A scikit-learn wrapper is saved through its own save_model,
        which records the wrapper type and classes, so load_native gives the wrapper back."""
        from ...atomic import atomic_target

        xgb = self.framework()
        target = Path(path)
        with atomic_target(target, inner_name=target.name if target.suffix else f"{target.name}.ubj") as tmp:
            (model if isinstance(model, xgb.XGBModel) else self._booster(model)).save_model(str(tmp))

    def load_native(self, path: Path, *, allow_pickle: bool = False) -> Any:
        xgb = self.framework()
        booster = xgb.Booster()
        try:
            booster.load_model(str(path))
        except xgb.core.XGBoostError as exc:
            raise ModelFileError(
                f"{path} is not an XGBoost model file (.json or .ubj): {str(exc).splitlines()[0]}"
            ) from exc
        wrapper = json.loads(booster.attr("scikit_learn") or "{}").get("_estimator_type")
        cls = _WRAPPERS.get(wrapper or "", "")
        if not cls:
            return booster
        model = getattr(xgb, cls)()
        model.load_model(str(path))
        return model

    def upstream(self, model: Any, *, dtype: np.dtype) -> Lowered:
        onnxmltools = import_optional("onnxmltools", "xgboost", "compare against the onnxmltools converter")
        from onnxmltools.convert.common.data_types import FloatTensorType

        doc = self._document(model)
        # the same refusals apply, and they tell us the head
        ir = self._gblinear(model, doc) if doc["gradient_booster"]["name"] == "gblinear" else self.to_ir(model)
        graph = onnxmltools.convert_xgboost(
            model, initial_types=[("X", FloatTensorType([None, ir.n_features]))], target_opset=15
        )
        if ir.head.task == "classification":
            graph = adopt_outputs(graph, {"label": "predict", "probabilities": "predict_proba"})
        else:
            graph = adopt_outputs(graph, {graph.graph.output[0].name: "predict"}, flatten=frozenset({"predict"}))
        return Lowered(graph, ir.head, ir.n_features, "onnxmltools", onnxmltools.__version__)


def _on_threads(booster: Any, threads: int | None) -> Any:
    """The booster itself, or a copy predicting on ``threads`` threads (the user's model is not changed)."""
    if threads is None:
        return booster
    copy = booster.copy()
    copy.set_param({"nthread": threads})
    return copy


def _inplace(booster: Any, trees: tuple[int, int], missing: float, *, two_columns: bool) -> Any:
    def call(X: np.ndarray) -> np.ndarray:
        p = booster.inplace_predict(X, iteration_range=trees, predict_type="value", missing=missing,
                                    validate_features=False)
        # XGBClassifier.predict_proba's head for binary:logistic (xgboost.sklearn._cls_predict_proba)
        return np.vstack((1.0 - p, p)).transpose() if two_columns and p.ndim == 1 else p

    return call
