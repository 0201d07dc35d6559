"""LightGBM: sklearn wrappers and raw Boosters, read from the text model (``save_model``).

``dump_model()`` builds a JSON tree of Python dicts (seconds for large models); the text
model parses in one numpy call per tree field (lightgbm_text.py).
Where LightGBM's own semantics are subtle (the 1e-35 zero band, missing types None / Zero /
NaN, float64 thresholds), the comments below say what its predictor does.
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConversionRefusedError, ModelFileError, NotFittedError, UnsupportedModelError
from ..emit_onnx import emit
from ..tree_ir import Head, TreeEnsembleIR
from .base import Adapter, FastNative, Lowered, NativeInput, import_optional, unnamed_rows, with_names
from .lightgbm_linear import linear_leaves, to_node_arrays
from .lightgbm_text import categorical_splits, incomplete_text, pandas_labels, text_sections, tree_numbers
from .upstream import adopt_outputs

# LightGBM's kZeroThreshold is the float literal 1e-35f stored in a double: the predictor
# drops every input with |x| <= it (the row is then 0.0 there), and missing_type Zero sends
# that same band to the default branch.
ZERO_BAND = float(np.float32(1e-35))
_BELOW_BAND = float(np.nextafter(-ZERO_BAND, -np.inf))

# objective -> post-transform; "sigmoid:<s>" in the objective line scales the raw score.
_OBJECTIVES: dict[str, str] = {
    "regression": "identity",
    "regression_l1": "identity",
    "huber": "identity",
    "fair": "identity",
    "quantile": "identity",
    "mape": "identity",
    "poisson": "exp",
    "gamma": "exp",
    "tweedie": "exp",
    "binary": "sigmoid",
    "cross_entropy": "sigmoid",
    "multiclass": "softmax",
    # One sigmoid per class; LightGBM does not normalise the probabilities to sum to 1.
    "multiclassova": "sigmoid_ovr",
    "lambdarank": "identity",
    "rank_xendcg": "identity",
    "custom": "identity",  # a callable objective: LightGBM predicts raw scores
}
_CLASSIFIER_OBJECTIVES = ("binary", "cross_entropy", "multiclass", "multiclassova")

# decision_type bit layout (LightGBM tree.h): 1 = categorical, 2 = default left, bits 2-3 = missing type.
_CATEGORICAL, _DEFAULT_LEFT = 1, 2
_MISSING_NONE, _MISSING_ZERO, _MISSING_NAN = 0, 1, 2


def _adjust_near_zero(threshold: np.ndarray) -> np.ndarray:
    """Moves thresholds inside the zero band to its edge so that ``x <= t`` on the raw input
    agrees with LightGBM, which compares 0.0 wherever ``|x| <= ZERO_BAND``."""
    t = threshold.copy()
    t[(t >= -ZERO_BAND) & (t < 0)] = _BELOW_BAND  # band values count as 0 > t: only x < -band goes left
    t[(t >= 0) & (t < ZERO_BAND)] = ZERO_BAND  # band values count as 0 <= t: all of the band goes left
    return t


def _objective(header: dict[str, str]) -> tuple[str, float]:
    tokens = header.get("objective", "custom").split()
    name = tokens[0] if tokens else "custom"
    params = dict(tok.split(":", 1) for tok in tokens[1:] if ":" in tok)
    if name not in _OBJECTIVES or "sqrt" in tokens[1:]:
        shown = " ".join(tokens) or name
        raise ConversionRefusedError(
            f"LightGBM objective {shown!r} is not supported; supported: {', '.join(sorted(_OBJECTIVES))} "
            "(regression without reg_sqrt: LightGBM squares its predictions, which onnxgate does not "
            "reproduce). Retrain with one of these, or serve the native model"
        )
    return name, float(params.get("sigmoid", 1.0))


class LightGBMAdapter(Adapter):
    name = "lightgbm"
    package = "lightgbm"
    extra = "lightgbm"
    supported = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker", "Booster")

    def _booster(self, model: Any) -> Any:
        lgb = self.framework()
        if isinstance(model, lgb.Booster):
            return model
        if not isinstance(model, lgb.LGBMModel):
            raise UnsupportedModelError(
                f"{type(model).__name__} is not a supported LightGBM model; supported: {', '.join(self.supported)}"
            )
        try:
            return model.booster_
        except Exception as exc:  # lightgbm raises sklearn's NotFittedError (or LGBMNotFittedError)
            raise NotFittedError(
                f"this {type(model).__name__} is not fitted yet; call fit() before converting it"
            ) from exc

    def _model_text(self, model: Any) -> str:
        booster = self._booster(model)
        # Both the sklearn wrapper and Booster.predict use best_iteration when it is set (early
        # stopping) and every iteration otherwise; num_iteration=None saves exactly those trees.
        # save_model serialises once; model_to_string serialises twice for models over 1 MB
        # (it first asks for the size), which costs a second per 500x127-leaf x 3-class model.
        with tempfile.TemporaryDirectory(prefix="onnxgate-lgb-") as tmp:
            path = Path(tmp) / "model.txt"
            booster.save_model(str(path), num_iteration=None)
            return path.read_text(encoding="utf-8")

    def lower(self, model: Any, *, dtype: np.dtype, ml_opset: int | None) -> Lowered:
        from ..._version import __version__

        text = self._model_text(model)
        ir = self._ir_from_text(model, text)
        graph = emit(ir, dtype=dtype, ml_opset=ml_opset)
        self.hand_over(model, hashlib.sha256(text.encode("utf-8")).hexdigest())
        return Lowered(graph, ir.head, ir.n_features, "onnxgate", __version__)

    def _fingerprint_key(self, model: Any) -> Any:
        return self._booster(model)

    def to_ir(self, model: Any) -> TreeEnsembleIR:
        return self._ir_from_text(model, self._model_text(model))

    def _ir_from_text(self, model: Any, text: str) -> TreeEnsembleIR:
        lgb = self.framework()
        header, f = text_sections(text)
        objective, sigmoid = _objective(header)
        n_leaves = tree_numbers(f["num_leaves"], np.int64, len(f["num_leaves"]), "num_leaves")
        n_trees = n_leaves.size
        n_int = n_leaves - 1
        n_split = int(n_int.sum())
        dtype_ = tree_numbers(f["decision_type"], np.int64, n_split, "decision_type")
        feature_split = tree_numbers(f["split_feature"], np.int64, n_split, "split_feature")
        raw_threshold = tree_numbers(f["threshold"], np.float64, n_split, "threshold")
        threshold = _adjust_near_zero(raw_threshold)
        left_raw = tree_numbers(f["left_child"], np.int64, n_split, "left_child")
        right_raw = tree_numbers(f["right_child"], np.int64, n_split, "right_child")
        leaf_value = tree_numbers(f["leaf_value"], np.float64, int(n_leaves.sum()), "leaf_value")

        per_iter = int(header.get("num_tree_per_iteration", "1"))
        n_targets = per_iter
        tree_of_split = np.repeat(np.arange(n_trees), n_int)
        tree_of_leaf = np.repeat(np.arange(n_trees), n_leaves)
        # Node ids within a tree: splits keep LightGBM's index, leaf j becomes (n_splits + j).
        split_node = np.arange(n_split) - np.repeat(np.cumsum(n_int) - n_int, n_int)
        leaf_first = np.repeat(np.cumsum(n_leaves) - n_leaves, n_leaves)
        leaf_node = np.arange(n_leaves.sum()) - leaf_first + n_int[tree_of_leaf]

        def child(raw: np.ndarray) -> np.ndarray:
            return np.where(raw >= 0, raw, n_int[tree_of_split] + ~raw)

        left, right = child(left_raw), child(right_raw)
        missing_type = (dtype_ >> 2) & 3
        default_left = (dtype_ & _DEFAULT_LEFT) != 0
        # missing None: NaN is compared as 0.0; NaN type: NaN takes the default branch;
        # Zero type: NaN and the zero band take the default branch (the band becomes NaN first).
        missing_left = np.where(missing_type == _MISSING_NONE, threshold >= 0, default_left)
        n_features = int(header["max_feature_idx"]) + 1
        per_leaf_linear = linear_leaves(f, n_leaves, n_features)
        is_cat = (dtype_ & _CATEGORICAL) != 0
        cats = categorical_splits(f, n_leaves, raw_threshold, is_cat, feature_split) if is_cat.any() else None
        missing_left &= ~is_cat  # CategoricalDecision sends NaN right whatever the missing type
        band = _zero_missing_band(feature_split[~is_cat], missing_type[~is_cat], n_features)
        split = {"tree": tree_of_split, "node": split_node, "feature": feature_split, "threshold": threshold,
                 "left": left, "right": right, "missing_left": missing_left}
        leaf_vals = np.zeros((leaf_value.size, n_targets))
        leaf_vals[np.arange(leaf_value.size), tree_of_leaf % n_targets] = leaf_value
        n_new = split["tree"].size
        tree = np.concatenate([split["tree"], tree_of_leaf])
        order = np.argsort(tree, kind="stable")
        value = np.concatenate([np.zeros((n_new, n_targets)), leaf_vals])

        scale = sigmoid if objective in ("binary", "multiclassova") else 1.0
        if "average_output" in header:  # boosting="rf": LightGBM averages the trees of each class
            scale /= max(n_trees // per_iter, 1)
        head = self._head(model, lgb, objective, scale)
        if cats is not None:
            head = replace(head, category_labels=pandas_labels(text, header, n_features))
        return TreeEnsembleIR(
            n_features=n_features,
            n_targets=n_targets,
            tree=tree[order],
            node=np.concatenate([split["node"], leaf_node])[order],
            feature=np.concatenate([split["feature"], np.full(leaf_value.size, -1)])[order],
            threshold=np.concatenate([split["threshold"], np.zeros(leaf_value.size)])[order],
            left=np.concatenate([split["left"], np.full(leaf_value.size, -1)])[order],
            right=np.concatenate([split["right"], np.full(leaf_value.size, -1)])[order],
            missing_left=np.concatenate([split["missing_left"], np.zeros(leaf_value.size, dtype=bool)])[order],
            value=value[order],
            base_values=np.zeros(n_targets),  # LightGBM folds the initial score into the first trees
            cmp="<=",
            input_cast="float64",
            head=head,
            missing_band=band,
            linear=None if per_leaf_linear is None else to_node_arrays(per_leaf_linear, n_new, order, ZERO_BAND),
            categories=None if cats is None else replace(
                cats, index=np.concatenate([cats.index, np.full(leaf_value.size, -1)])[order]),
        )

    def _head(self, model: Any, lgb: Any, objective: str, scale: float) -> Head:
        post = _OBJECTIVES[objective]
        if isinstance(model, lgb.LGBMClassifier):
            if objective == "custom":
                return _custom_objective_classifier_head()
            if objective not in _CLASSIFIER_OBJECTIVES:
                raise ConversionRefusedError(
                    f"an LGBMClassifier with the regression-type objective {objective!r} is not converted: "
                    "LightGBM turns its raw scores into [1 - score, score] or argmax labels, which is not a "
                    f"probability model; train with one of {', '.join(_CLASSIFIER_OBJECTIVES)} (or an "
                    "LGBMRegressor) to convert it"
                )
            classes = np.asarray(model.classes_)
            return Head(task="classification", post_transform=post, classes=classes, scale=scale,
                        methods={"predict": str(classes.dtype), "predict_proba": "float64"})
        is_ranker = isinstance(model, lgb.LGBMRanker) or objective in ("lambdarank", "rank_xendcg")
        return Head(task="ranking" if is_ranker else "regression", post_transform=post, scale=scale,
                    methods={"predict": "float64"})

    def native(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        lgb = self.framework()
        if X.shape[0] == 0:
            # The sklearn wrappers reject empty batches; the result of one row, cut to none,
            # has the shape and dtype an empty batch means.
            return self.native(model, method, np.zeros((1, X.shape[1]), dtype=X.dtype))[:0]
        if isinstance(model, lgb.Booster):
            return model.predict(X)
        with warnings.catch_warnings(), unnamed_rows(model, X):
            # A classifier with a callable objective warns on every call that it returns raw
            # scores; that is what it does, and what its ONNX model does too.
            warnings.filterwarnings("ignore", message="Cannot compute class probabilities or labels")
            return getattr(model, method)(X)

    def native_call(self, model: Any, method: str, X: np.ndarray) -> Callable[[], Any]:
        # A wrapper fitted on pandas category columns reads their codes from an array; a float
        # frame would not match its categories, so it gets the array (already in its column order).
        if getattr(self._booster(model), "pandas_categorical", None):
            return super().native_call(model, method, X)
        return super().native_call(model, method, with_names(model, X))

    def fast_native(self, model: Any, method: str, *, threads: int | None = None) -> FastNative:
        """``Booster.predict`` on the wrapper's threads, its head applied: the wrapper validates
        the rows and re-sends every training parameter on each call (460 against 26 us at one row)."""
        lgb = self.framework()
        name = "Booster.predict"
        if isinstance(model, lgb.Booster):
            if threads is not None:
                return FastNative(name, lambda X: model.predict(X, num_threads=threads))
            return FastNative(name, None, "the model is a Booster: its predict is already the fastest call")
        if callable(model.objective):
            return FastNative(name, None, "a callable objective: the wrapper answers raw scores with a warning")
        if isinstance(model, lgb.LGBMClassifier):
            if method != "predict_proba":
                return FastNative(name, None, f"{method} maps the Booster's output to class labels")
        elif not isinstance(model, lgb.LGBMRegressor) or method != "predict":
            return FastNative(name, None, f"{type(model).__name__}.{method} is not a plain prediction")
        booster = model.booster_
        if threads is None:
            threads = model._process_n_jobs(model.get_params().get("n_jobs"))  # the wrapper's own rule
        two_columns = isinstance(model, lgb.LGBMClassifier)

        def call(X: np.ndarray) -> np.ndarray:
            if not X.shape[0]:  # the answer's shape, as native() gives it
                return self.native(model, method, X)
            p = booster.predict(X, num_threads=threads)
            # LGBMClassifier.predict_proba's head for a binary objective
            return np.vstack((1.0 - p, p)).transpose() if two_columns and p.ndim == 1 else p

        return FastNative(name, call)

    def native_bytes(self, model: Any) -> bytes:
        return self._model_text(model).encode("utf-8")

    native_suffix = ".txt"
    file_suffixes = (".txt",)

    def sniff(self, head: bytes) -> str | None:
        text = head.lstrip()
        if text.startswith((b"tree\n", b"tree\r\n")) or b"version=v" in head:
            return "a LightGBM text model"
        return None

    def feature_names(self, model: Any) -> list[str] | None:
        names = list(self._booster(model).feature_name())
        return None if names == [f"Column_{i}" for i in range(len(names))] else names

    def native_input(self, model: Any) -> NativeInput:
        # LightGBM keeps a float64 array as float64 and compares it with float64 thresholds,
        # but turns any other array (integers included) into float32 (basic._np2d_to_np1d).
        return NativeInput(floats="float64", integers="float32")

    def save_native(self, model: Any, path: Path) -> None:
        from ...atomic import write_bytes_atomic

        write_bytes_atomic(path, self.native_bytes(model))

    def load_native(self, path: Path, *, allow_pickle: bool = False) -> Any:
        lgb = self.framework()
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelFileError(f"cannot read LightGBM model file {path}: {exc}") from exc
        problem = incomplete_text(data)
        if problem:
            raise ModelFileError(f"{path} is not a complete LightGBM text model: {problem}")
        try:
            return lgb.Booster(model_str=data.decode("utf-8"))
        except lgb.basic.LightGBMError as exc:
            raise ModelFileError(f"{path} is not a valid LightGBM text model: {str(exc).splitlines()[0]}") from exc

    def upstream(self, model: Any, *, dtype: np.dtype) -> Lowered:
        onnxmltools = import_optional("onnxmltools", "lightgbm", "compare against the onnxmltools converter")
        from onnxmltools.convert.common.data_types import FloatTensorType

        ir = self.to_ir(model)  # the same refusals apply, and it tells us the head
        graph = onnxmltools.convert_lightgbm(
            model, initial_types=[("X", FloatTensorType([None, ir.n_features]))], zipmap=False, target_opset=15
        )
        if isinstance(model, self.framework().LGBMClassifier):  # onnxmltools writes every one as a classifier
            graph = adopt_outputs(graph, {"label": "predict", "probabilities": "predict_proba"})
        else:
            graph = adopt_outputs(graph, {graph.graph.output[0].name: "predict"}, flatten=frozenset({"predict"}))
        return Lowered(graph, ir.head, ir.n_features, "onnxmltools", onnxmltools.__version__)


def _custom_objective_classifier_head() -> Head:
    """An LGBMClassifier trained with a callable objective: LightGBM cannot know its link
    function, so predict and predict_proba both return the raw scores, (N,) for two classes
    and (N, k) for k (lightgbm/sklearn.py, "Returning raw scores instead")."""
    return Head(task="regression", methods={"predict": "float64", "predict_proba": "float64"})


def _zero_missing_band(feature: np.ndarray, missing_type: np.ndarray, n_features: int) -> np.ndarray | None:
    """ZERO_BAND on features whose splits have missing_type Zero, NaN elsewhere.

    Rewriting the band to NaN is exact for Zero splits (both go to the default branch) and for
    None splits (NaN is compared as 0.0 there, like the band), but not for NaN-type splits.
    """
    zero = np.unique(feature[missing_type == _MISSING_ZERO])
    if zero.size == 0:
        return None
    mixed = np.intersect1d(zero, feature[missing_type == _MISSING_NAN])
    if mixed.size:
        raise ConversionRefusedError(
            f"feature {int(mixed[0])} has splits with both zero-as-missing and NaN-as-missing "
            "semantics, which LightGBM does not produce for one model; the model file looks edited"
        )
    band = np.full(n_features, np.nan)
    band[zero] = ZERO_BAND
    return band
