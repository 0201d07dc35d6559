"""scikit-learn: trees through the tree IR, other models through skl2onnx, Pipelines with
scalers and imputers in front of either. Reading .skops files and fingerprints: sklearn_files.py."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx

from ...errors import ConversionRefusedError, NotFittedError, UnsupportedModelError
from ..emit_onnx import emit
from ..tree_ir import Head, TreeEnsembleIR
from .base import Adapter, FastNative, Lowered, NativeInput, import_optional, unnamed_rows, with_names
from .sklearn_files import load_model_file, model_fingerprint
from .sklearn_graphs import Steps, in_float32, isolation_forest_head, linear_regressor_graph, prepend
from .sklearn_trees import TREE_BUILDERS, is_missing_category, isolation_forest_ir
from .upstream import adopt_outputs

log = logging.getLogger(__name__)

# Final estimators converted by skl2onnx (no NaN, no inf at predict time natively).
_SKL2ONNX_CLASSIFIERS = ("LogisticRegression", "MLPClassifier")
_SKL2ONNX_REGRESSORS = ("MLPRegressor",)
# Linear regressors: one MatMul and one Add, written by onnxgate (any number of targets, with or
# without an intercept).
_LINEAR_REGRESSORS = ("LinearRegression", "Ridge", "Lasso", "ElasticNet")
_PREPROCESSORS = {
    "StandardScaler": Steps.standard_scaler,
    "MinMaxScaler": Steps.min_max_scaler,
    "SimpleImputer": Steps.simple_imputer,
}
_SKL2ONNX_OPSET = {"": 18, "ai.onnx.ml": 3}


def _class_names(model: Any) -> list[str]:
    return [c.__name__ for c in type(model).__mro__]


# Estimator class name -> how it is lowered; subclasses match through their MRO.
_KINDS: dict[str, str] = {
    **dict.fromkeys(TREE_BUILDERS, "tree"),
    "IsolationForest": "iforest",
    **dict.fromkeys(_SKL2ONNX_CLASSIFIERS + _SKL2ONNX_REGRESSORS, "skl2onnx"),
    **dict.fromkeys(_LINEAR_REGRESSORS, "linear"),
}


def _kind(model: Any) -> str | None:
    return next((_KINDS[n] for n in _class_names(model) if n in _KINDS), None)


class SklearnAdapter(Adapter):
    name = "sklearn"
    package = "sklearn"
    extra = "sklearn"
    supported = (*TREE_BUILDERS, "IsolationForest", *_SKL2ONNX_CLASSIFIERS, *_LINEAR_REGRESSORS, *_SKL2ONNX_REGRESSORS,
                 "Pipeline of " + "/".join(_PREPROCESSORS) + " steps before one of these")
    native_suffix = ".skops"
    file_suffixes = (".skops",)
    distribution = "scikit-learn"

    def sniff(self, head: bytes) -> str | None:
        return "a zip archive (scikit-learn .skops)" if head.startswith(b"PK\x03\x04") else None

    def feature_names(self, model: Any) -> list[str] | None:
        names = getattr(model, "feature_names_in_", None)
        return [str(n) for n in names] if names is not None else None

    def native_input(self, model: Any) -> NativeInput:
        # Trees validate X as float32; HistGradientBoosting (float64 thresholds), linear models,
        # MLPs and the scalers/imputers before any estimator read float64 and integers as float64.
        pre, final = self._split(model)
        if not pre and _kind(final) in ("tree", "iforest") and "HistGradientBoosting" not in type(final).__name__:
            return NativeInput()
        # A model fitted on float32 data computes float32 rows in float32 and float64 rows in float64.
        return NativeInput(floats="float64", integers="float64",
                           follows_input=bool(pre) or _float32_weights(final))

    def framework(self) -> ModuleType:
        skl = super().framework()
        for sub in ("base", "ensemble", "ensemble._iforest", "pipeline", "utils.validation", "exceptions"):
            importlib.import_module(f"sklearn.{sub}")
        return skl

    # -- model inspection --

    def _split(self, model: Any) -> tuple[list[Any], Any]:
        """(preprocessing steps, final estimator), refusing what is not supported."""
        skl = self.framework()
        if not isinstance(model, skl.base.BaseEstimator):
            raise UnsupportedModelError(f"{type(model).__name__} is not a scikit-learn estimator")
        pre, final = [], model
        if isinstance(model, skl.pipeline.Pipeline):
            steps = [s for _, s in model.steps if s is not None and s != "passthrough"]
            if not steps:
                raise UnsupportedModelError("the Pipeline has no estimator step")
            pre, final = steps[:-1], steps[-1]
            for step in pre:
                if type(step).__name__ not in _PREPROCESSORS:
                    raise UnsupportedModelError(
                        f"Pipeline step {type(step).__name__} is not supported; supported steps before the "
                        f"estimator: {', '.join(_PREPROCESSORS)}"
                    )
        if _kind(final) is None:
            raise UnsupportedModelError(
                f"{type(final).__name__} is not a supported scikit-learn model; supported: {', '.join(self.supported)}"
            )
        for est in [*pre, final]:
            try:
                skl.utils.validation.check_is_fitted(est)
            except skl.exceptions.NotFittedError as exc:
                raise NotFittedError(
                    f"this {type(est).__name__} is not fitted yet; call fit() before converting it"
                ) from exc
        return pre, final

    def to_ir(self, model: Any) -> TreeEnsembleIR:
        """The tree IR of a tree model (not of a Pipeline or a non-tree model)."""
        pre, final = self._split(model)
        if pre or _kind(final) != "tree":
            raise ConversionRefusedError(f"{type(model).__name__} is not a single tree model; use convert()")
        return self._tree_ir(final)

    def _tree_ir(self, final: Any) -> TreeEnsembleIR:
        skl = self.framework()
        builder = next(TREE_BUILDERS[n] for n in _class_names(final) if n in TREE_BUILDERS)
        ir = builder(skl, final)
        if ir.head.allow_nan and not _accepts_nan(final, ir.n_features):
            ir = replace(ir, head=replace(ir.head, allow_nan=False))
        return ir

    # -- conversion --

    def lower(self, model: Any, *, dtype: np.dtype, ml_opset: int | None) -> Lowered:
        from ..._version import __version__

        pre, final = self._split(model)
        kind = _kind(final)
        steps = Steps(dtype)
        for step in pre:
            _PREPROCESSORS[type(step).__name__](steps, step)
        if kind == "tree":
            ir = self._tree_ir(final)
            graph, head, n_features = emit(ir, dtype=dtype, ml_opset=ml_opset), ir.head, ir.n_features
            converter, version = "onnxgate", __version__
        elif kind == "iforest":
            parts = isolation_forest_ir(self.framework(), final)
            graph = emit(parts.ir, dtype=dtype, ml_opset=ml_opset)
            isolation_forest_head(graph, parts.denominator, parts.offset)
            n_features = parts.ir.n_features
            methods = {"predict": "int64", "decision_function": "float64", "score_samples": "float64"}
            # IsolationForest validates with ensure_all_finite=False: NaN and +-inf are accepted.
            head = Head(task="outlier_detection", methods=methods)  # type: ignore[arg-type]
            converter, version = "onnxgate", __version__
        elif kind == "linear":
            graph = _in_precision(linear_regressor_graph(final), final, dtype)
            head = Head(task="regression", methods={"predict": _out_dtype(final, dtype)}, allow_nan=False,
                        allow_inf=False)
            n_features = int(final.n_features_in_)
            converter, version = "onnxgate", __version__
        else:
            graph, head, n_features = self._skl2onnx_double(final, dtype)
            import skl2onnx

            converter, version = "onnxgate+skl2onnx", f"{__version__}+{skl2onnx.__version__}"
        if pre:
            # Scalers and imputers validate with ensure_all_finite="allow-nan": inf is refused, and
            # NaN survives a scaler but not an imputer.
            imputes = any(type(s).__name__ == "SimpleImputer" for s in pre)
            head = replace(head, allow_inf=False, allow_nan=head.allow_nan or imputes)
        graph = prepend(graph, steps)
        return Lowered(graph, head, n_features, converter, version)

    def _skl2onnx_double(self, final: Any, dtype: np.dtype) -> tuple[onnx.ModelProto, Head, int]:
        """skl2onnx in float64, then in the precision scikit-learn computes ``dtype`` rows in
        (``_in_precision``)."""
        skl2onnx = import_optional("skl2onnx", "sklearn", "convert non-tree scikit-learn models")
        from skl2onnx.common.data_types import DoubleTensorType

        skl = self.framework()
        n_features = int(final.n_features_in_)
        is_clf = skl.base.is_classifier(final)
        options = {id(final): {"zipmap": False}} if is_clf else None
        out = _out_dtype(final, dtype)
        try:
            graph = skl2onnx.convert_sklearn(
                final, initial_types=[("X", DoubleTensorType([None, n_features]))], options=options,
                target_opset=_SKL2ONNX_OPSET,
            )
        except Exception as exc:  # skl2onnx raises bare RuntimeError/NotImplementedError
            raise ConversionRefusedError(
                f"skl2onnx cannot convert this {type(final).__name__} ({exc}); onnxgate converts "
                f"{type(final).__name__} through skl2onnx, so serve the native model or change the parameter "
                "skl2onnx names"
            ) from exc
        if is_clf:
            classes = np.asarray(final.classes_)
            graph = adopt_outputs(graph, {"label": "predict", "probabilities": "predict_proba"})
            methods = {"predict": str(classes.dtype), "predict_proba": out}
            if _add_decision_function(graph, len(classes)):
                methods["decision_function"] = out
            head = Head(task="classification", classes=classes, methods=methods, allow_nan=False, allow_inf=False)
        else:
            if getattr(final, "n_outputs_", 1) != 1 or np.ndim(getattr(final, "coef_", np.zeros(1))) > 1:
                raise ConversionRefusedError(
                    f"multi-output {type(final).__name__} is not supported; fit one model per target"
                )
            graph = adopt_outputs(graph, {graph.graph.output[0].name: "predict"}, flatten=frozenset({"predict"}))
            head = Head(task="regression", methods={"predict": out}, allow_nan=False, allow_inf=False)
        return _in_precision(graph, final, dtype), head, n_features

    # -- native side --

    def native(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        if X.shape[0] == 0:
            # scikit-learn refuses an empty batch; its answer's shape and dtype come from one row.
            one = getattr(model, method)(_category_frame(model, np.zeros((1, X.shape[1]), dtype=X.dtype)))
            return [a[:0] for a in one] if isinstance(one, list) else one[:0]  # type: ignore[return-value]
        with unnamed_rows(model, X):
            return getattr(model, method)(_category_frame(model, X))

    def native_call(self, model: Any, method: str, X: np.ndarray) -> Callable[[], Any]:
        return super().native_call(model, method, with_names(model, X))

    def native_rows(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        out = self.native_call(model, method, X)()
        # A multi-output classifier's predict_proba is a list of arrays, one per output.
        return out if isinstance(out, list) else np.asarray(out)

    def native_frame(self, model: Any, method: str, frame: Any) -> np.ndarray:
        if not frame.shape[0]:
            return self.native_rows(model, method, np.zeros(frame.shape))
        return np.asarray(getattr(model, method)(frame))  # the frame's own labels, not codes

    def fast_native(self, model: Any, method: str, *, threads: int | None = None) -> FastNative:
        """A forest's own loop over its trees, without joblib: ``predict_proba``/``predict`` after
        the wrapper's own check of the rows, the trees summed in the wrapper's order, divided as it
        divides. At one row joblib's dispatch is 90% of the call (15.7 against 1.4 ms); skipping
        validation (``config_context``) saves 12% and would answer NaN or inf the wrapper refuses."""
        name = "estimators_ loop"
        forests = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor")
        if type(model).__name__ not in forests:
            return FastNative("", None, f"{type(model).__name__}.{method} is scikit-learn's fastest call for it; "
                                        "skipping its validation would answer rows it refuses")
        if getattr(model, "n_outputs_", 1) != 1 or method != ("predict_proba" if hasattr(model, "classes_")
                                                              else "predict"):
            return FastNative(name, None, f"{method} of a multi-output forest or of labels maps the trees' sums")
        if threads not in (None, 1):
            return FastNative(name, None, "the loop runs on one thread; on several, the wrapper's joblib threads sum "
                                          "the trees in any order, which no single loop answers bit for bit")
        if getattr(model, "n_jobs", None) not in (None, 1):
            return FastNative(name, None, f"n_jobs={model.n_jobs}: the wrapper sums its trees in any order on "
                                          "several threads, which no single loop answers bit for bit")
        width = len(model.classes_) if hasattr(model, "classes_") else 0

        def call(X: np.ndarray) -> np.ndarray:
            if not X.shape[0]:
                return self.native(model, method, X)
            with unnamed_rows(model, X):
                rows = model._validate_X_predict(X)  # the wrapper's own check: float32, NaN only where it takes NaN
            out = np.zeros((rows.shape[0], width) if width else rows.shape[0], dtype=np.float64)
            for tree in model.estimators_:
                out += getattr(tree, method)(rows, check_input=False)
            out /= len(model.estimators_)
            return out

        return FastNative(name, call)

    def native_bytes(self, model: Any) -> bytes:
        sio = import_optional("skops.io", "sklearn", "serialise scikit-learn models without pickle")
        return bytes(sio.dumps(model))

    def fingerprint(self, model: Any) -> str:
        return model_fingerprint(model)

    def save_native(self, model: Any, path: Path) -> None:
        from ...atomic import write_bytes_atomic

        write_bytes_atomic(path, self.native_bytes(model))

    def load_native(self, path: Path, *, allow_pickle: bool = False) -> Any:
        return load_model_file(Path(path), allow_pickle=allow_pickle)

    # -- the public converter, for the parity matrix --

    def upstream(self, model: Any, *, dtype: np.dtype) -> Lowered:
        skl2onnx = import_optional("skl2onnx", "sklearn", "compare against the skl2onnx converter")
        from skl2onnx.common.data_types import FloatTensorType

        _, final = self._split(model)
        ours = self.lower(model, dtype=np.dtype(np.float32), ml_opset=None)
        skl = self.framework()
        is_clf = skl.base.is_classifier(final)
        options = {id(final): {"zipmap": False}} if is_clf else None
        graph = skl2onnx.convert_sklearn(
            model, initial_types=[("X", FloatTensorType([None, ours.n_features]))], options=options,
            target_opset=_SKL2ONNX_OPSET,
        )
        head = ours.head
        if _kind(final) == "iforest":
            graph = adopt_outputs(graph, {"label": "predict", "scores": "decision_function"},
                                  flatten=frozenset({"predict", "decision_function"}))
            head = replace(head, methods={"predict": "int64", "decision_function": "float64"})
        elif is_clf:
            graph = adopt_outputs(graph, {"label": "predict", "probabilities": "predict_proba"},
                                  side_by_side=frozenset({"predict_proba"} if head.output_classes else ()))
            head = replace(head, methods={k: v for k, v in head.methods.items() if k != "decision_function"})
        else:
            # skl2onnx returns (N, n_outputs); only a single-output native predict is 1-D.
            ours_rank = len(next(o for o in ours.onnx.graph.output if o.name == "predict").type.tensor_type.shape.dim)
            flatten = frozenset({"predict"}) if ours_rank == 1 else frozenset()
            graph = adopt_outputs(graph, {graph.graph.output[0].name: "predict"}, flatten=flatten)
        return Lowered(graph, head, ours.n_features, "skl2onnx", skl2onnx.__version__)


def _add_decision_function(graph: onnx.ModelProto, n_classes: int) -> bool:
    """Exposes skl2onnx's ``raw_scores`` (``X @ coef.T + intercept``, a linear classifier's
    decision_function) as an output; binary models keep the positive column, flattened."""
    if not any("raw_scores" in node.output for node in graph.graph.node):
        return False
    g = graph.graph
    if n_classes == 2:
        g.initializer.append(onnx.helper.make_tensor("df_column", onnx.TensorProto.INT64, [1], [1]))
        g.initializer.append(onnx.helper.make_tensor("df_shape", onnx.TensorProto.INT64, [1], [-1]))
        g.node.append(onnx.helper.make_node("Gather", ["raw_scores", "df_column"], ["df_positive"], axis=1))
        g.node.append(onnx.helper.make_node("Reshape", ["df_positive", "df_shape"], ["decision_function"]))
        shape: list[str | int] = ["N"]
    else:
        g.node.append(onnx.helper.make_node("Identity", ["raw_scores"], ["decision_function"]))
        shape = ["N", n_classes]
    elem = g.input[0].type.tensor_type.elem_type  # raw scores are computed in the input type
    g.output.append(onnx.helper.make_tensor_value_info("decision_function", elem, shape))
    return True


def _out_dtype(final: Any, dtype: np.dtype) -> str:
    """What a linear model or MLP returns for ``dtype`` rows: float32 only from float32 weights."""
    return "float32" if np.dtype(dtype) == np.float32 and _float32_weights(final) else "float64"


def _in_precision(graph: onnx.ModelProto, final: Any, dtype: np.dtype) -> onnx.ModelProto:
    """A float64 graph of a linear model or MLP made to compute as scikit-learn does for ``dtype`` rows.

    scikit-learn multiplies a float32 X by float64 coefficients in float64, so a float32 graph
    casts its input up. A model fitted on float32 data keeps float32 weights, and scikit-learn
    computes a float32 X with them in float32 (overflowing to inf, returning float32): its
    float32 graph is the same graph run in float32.
    """
    if np.dtype(dtype) != np.float32:
        return graph
    if _out_dtype(final, dtype) == "float32":
        return in_float32(graph)
    steps = Steps(np.float32)
    steps.cast(np.float64)
    return prepend(graph, steps)


def _float32_weights(est: Any) -> bool:
    """Whether a linear model or MLP was fitted on float32 data (its weights stayed float32)."""
    weights = getattr(est, "coefs_", None) or [getattr(est, "coef_", None)]
    return all(isinstance(w, np.ndarray) and w.dtype == np.float32 for w in weights)


def _accepts_nan(est: Any, n_features: int) -> bool:
    """Whether the fitted tree model takes NaN at predict time (trees since scikit-learn 1.3,
    but not every criterion/splitter, and not GradientBoosting)."""
    probe = getattr(est, "estimators_", None)
    tree = probe[0] if isinstance(probe, list) and probe else est
    support = getattr(tree, "_support_missing_values", None)
    if support is None:
        return True  # the builder already decided (HistGradientBoosting, GradientBoosting)
    return bool(support(np.zeros((1, n_features), dtype=np.float32)))


def _category_frame(model: Any, X: np.ndarray) -> Any:
    """``X`` as the DataFrame a HistGradientBoosting model fitted on pandas category columns
    (``categorical_features="from_dtype"``) reads. Its ONNX model takes a category's position
    in the encoder's categories (the ``categories`` metadata); a code naming no category is
    a missing value, as scikit-learn treats unknown categories."""
    pre = getattr(model, "_preprocessor", None)
    names = getattr(model, "feature_names_in_", None)
    if pre is None or names is None:
        return X
    import pandas as pd

    frame = pd.DataFrame(X, columns=list(names))
    columns = np.asarray(names)[np.asarray(model.is_categorical_, dtype=bool)]
    for col, cats in zip(columns, pre.named_transformers_["encoder"].categories_, strict=True):
        cats = [c for c in cats if not is_missing_category(c)]
        if all(isinstance(c, (int, float, np.number)) for c in cats):
            continue  # numeric categories: the model reads the values themselves
        v = frame[col].to_numpy(dtype=np.float64)
        valid = (v >= 0) & (v < len(cats)) & (v == np.floor(v))
        codes = np.where(valid, np.nan_to_num(v, nan=-1.0, posinf=-1.0, neginf=-1.0), -1).astype(np.int64)
        frame[col] = pd.Categorical.from_codes(codes, categories=cats)
    return frame
