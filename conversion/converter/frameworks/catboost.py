"""CatBoost: classifiers, regressors, rankers and plain CatBoost models, read from CatBoost's JSON.

CatBoost grows oblivious trees by default (catboost_oblivious.py expands them), and nested
Depthwise or Lossguide trees on request (catboost_nonsymmetric.py); this module reads the model's
JSON, checks what it can convert, builds the head and serves the native side.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...errors import ConversionRefusedError, ModelFileError, NotFittedError, UnsupportedModelError
from ..category_labels import integer_labels
from ..emit_onnx import emit
from ..tree_ir import Head, TreeEnsembleIR, concat_trees
from .base import Adapter, FastNative, Lowered, import_optional
from .catboost_files import (
    CLASSIFIER_LOSSES,
    EXP_LOSSES,
    RANKING_LOSSES,
    REGRESSION_LOSSES,
    doc_digest,
    dump_json,
    load_cbm,
    loss_name,
    split_types,
)
from .catboost_nonsymmetric import leaf_width, nonsymmetric_arrays
from .catboost_oblivious import oblivious_arrays, one_hot_features, one_hot_splits
from .upstream import adopt_outputs

# CatBoost's nan_value_treatment per float feature: does NaN satisfy ``x > border`` (go right)?
# AsIs (nan_mode Forbidden, or Min/Max on a feature that saw no NaN in training, catboost
# #2850) compares NaN as IEEE does, which is false.
_NAN_GOES_RIGHT = {"AsFalse": False, "AsIs": False, "AsTrue": True}


# Why each kind of non-numeric CatBoost feature has no exact ONNX form.
_SPECIAL_FEATURES = {
    # (one-hot categorical features are exact: each split is "hash(value) == stored hash", see to_ir)
    "categorical": "CatBoost replaces each category (and combination of categories) by CTRs, target "
                   "statistics counted from the training labels and stored in the model as hash tables "
                   "keyed by the hashed category string, which the trees then split on.",
    "text": "CatBoost tokenizes the text, looks tokens up in dictionaries built in training and feeds "
            "per-class statistics (naive Bayes, BM25) to the trees.",
    "embedding": "CatBoost turns embedding vectors into LDA or nearest-neighbour statistics learned in "
                 "training before the trees see them.",
}


def _label_column(model: onnx.ModelProto) -> onnx.ModelProto:
    """Reshapes the ``predict`` output to (N, 1): multiclass CatBoostClassifier.predict returns a column."""
    graph = model.graph
    for node in graph.node:
        node.output[:] = ["predict_flat" if o == "predict" else o for o in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), "predict_column"))
    graph.node.append(helper.make_node("Reshape", ["predict_flat", "predict_column"], ["predict"]))
    for out in graph.output:
        if out.name == "predict":
            elem = out.type.tensor_type.elem_type
            out.CopyFrom(helper.make_tensor_value_info("predict", elem, ["N", 1]))
    return model


def _label_is_column(ir: TreeEnsembleIR) -> bool:
    # CatBoostClassifier.predict returns (N,) for one raw score per row and (N, 1) for several.
    return ir.head.task == "classification" and ir.n_targets > 1


def _drop_zipmap(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """CatBoost's exporter ends in a ZipMap (a list of dicts); expose the dense tensor under it."""
    graph = model.graph
    zipmap = next((n for n in graph.node if n.op_type == "ZipMap"), None)
    if zipmap is None:
        raise ValueError(
            f"CatBoost's exporter wrote no class probabilities for this classifier (outputs: "
            f"{[o.name for o in graph.output]}); it exported it as a regressor"
        )
    dense = zipmap.input[0]
    graph.node.remove(zipmap)
    for i, out in enumerate(graph.output):
        if out.name == zipmap.output[0]:
            graph.output.remove(out)
            graph.output.insert(i, helper.make_tensor_value_info(dense, onnx.TensorProto.FLOAT, ["N", None]))
            break
    return model, dense


class CatBoostAdapter(Adapter):
    name = "catboost"
    package = "catboost"
    extra = "catboost"
    supported = ("CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker", "CatBoost")
    native_suffix = ".cbm"
    file_suffixes = (".cbm",)

    def sniff(self, head: bytes) -> str | None:
        return "a CatBoost .cbm model" if head.startswith(b"CBM1") else None

    def feature_names(self, model: Any) -> list[str] | None:
        self._check(model)
        names = [str(n) for n in model.feature_names_ or []]
        return None if names == [str(i) for i in range(len(names))] else names

    # -- reading the model --

    def _check(self, model: Any) -> Any:
        cb = self.framework()
        if not isinstance(model, cb.CatBoost):
            raise UnsupportedModelError(
                f"{type(model).__name__} is not a supported CatBoost model; supported: {', '.join(self.supported)}"
            )
        if not model.is_fitted():
            raise NotFittedError(f"this {type(model).__name__} is not fitted yet; call fit() before converting it")
        return cb

    def _kind(self, model: Any) -> str:
        cb = self.framework()
        for cls, kind in ((cb.CatBoostClassifier, "classifier"), (cb.CatBoostRegressor, "regressor"),
                          (cb.CatBoostRanker, "ranker")):
            if isinstance(model, cls):
                return kind
        return "raw"  # a plain CatBoost (e.g. from sum_models): predict() returns raw formula values

    def _json(self, model: Any) -> dict[str, Any]:
        cb = self._check(model)
        # Categorical features are converted when every split on them is one-hot (no CTRs): see to_ir.
        special = {
            "text": list(model.get_text_feature_indices()),
            "embedding": list(model.get_embedding_feature_indices()),
        }
        for kind, indices in special.items():
            if indices:
                raise ConversionRefusedError(
                    f"the model uses {kind} features (columns {indices}): {_SPECIAL_FEATURES[kind]} "
                    "No ONNX operator computes that, and CatBoost's own ONNX exporter refuses these models "
                    "too (catboost #863). To convert, encode the columns as numbers before training (one-hot "
                    "or ordinal codes, passed as ordinary float features without cat_features/text_features), "
                    "or serve the native model"
                )
        try:
            doc = dump_json(model)
        except cb.CatBoostError as exc:
            raise ConversionRefusedError(
                f"CatBoost cannot describe this model as JSON ({str(exc).strip().splitlines()[0]}), and "
                "onnxgate reads the trees from that JSON; retrain without what CatBoost names there, or serve "
                "the native model"
            ) from exc
        self.hand_over(model, doc_digest(doc))
        cat_columns = list(model.get_cat_feature_indices())
        if cat_columns and ("ctr_data" in doc or split_types(doc) - {"FloatFeature", "OneHotFeature"}):
            raise ConversionRefusedError(
                f"the model uses categorical features (columns {cat_columns}): {_SPECIAL_FEATURES['categorical']} "
                "No ONNX operator computes that, and CatBoost's own ONNX exporter refuses these models too "
                "(catboost #863). Models whose categorical features are all one-hot (cardinality <= "
                "one_hot_max_size, so no CTRs) are converted. To convert, train with one_hot_max_size above "
                "each column's cardinality, or encode the columns as numbers before training (one-hot or "
                "ordinal codes, passed as ordinary float features without cat_features), or serve the native model"
            )
        return doc

    def _head(self, model: Any, doc: dict[str, Any], n_targets: int) -> Head:
        kind = self._kind(model)
        loss = loss_name(doc)
        if kind == "raw":
            return Head(task="regression", methods={"predict": "float64"})
        if kind == "classifier":
            if loss not in CLASSIFIER_LOSSES:
                raise ConversionRefusedError(
                    f"a CatBoostClassifier with loss_function {loss!r} is not supported; supported: "
                    f"{', '.join(CLASSIFIER_LOSSES)}. Retrain with one of these, or serve the native model"
                )
            classes = np.asarray(model.classes_)
            threshold = model.get_probability_threshold() if n_targets == 1 else None
            if threshold is not None and threshold != 0.5:
                raise ConversionRefusedError(
                    f"this classifier predicts with probability threshold {threshold} (set_probability_threshold); "
                    "onnxgate reproduces the default 0.5 only. Reset it, or threshold predict_proba yourself"
                )
            return Head(task="classification", post_transform=CLASSIFIER_LOSSES[loss], classes=classes,
                        methods={"predict": str(classes.dtype), "predict_proba": "float64"})
        supported = REGRESSION_LOSSES if kind == "regressor" else RANKING_LOSSES
        if loss not in supported:
            raise ConversionRefusedError(
                f"a CatBoost{kind.capitalize()} with loss_function {loss!r} is not supported; supported: "
                f"{', '.join(supported)}. Retrain with one of these, or serve the native model"
            )
        post = "exp" if loss in EXP_LOSSES else "identity"
        return Head(task="ranking" if kind == "ranker" else "regression", post_transform=post,
                    methods={"predict": "float64"})

    def to_ir(self, model: Any) -> TreeEnsembleIR:
        doc = self._json(model)
        symmetric = "oblivious_trees" in doc
        if not symmetric and "trees" not in doc:
            raise ModelFileError("CatBoost's JSON export has neither 'oblivious_trees' nor 'trees'")
        if symmetric:
            trees = doc["oblivious_trees"]
            for t in trees:  # a depth-0 tree (a single leaf) has "splits": null
                t["splits"] = t.get("splits") or []
            if not trees:
                raise ConversionRefusedError("the model has no trees; there is nothing to convert")
            if split_types(doc) - {"FloatFeature", "OneHotFeature"}:
                raise ConversionRefusedError(
                    "the model splits on categorical combinations (CTRs); ONNX tree ensembles cannot express "
                    "them (catboost #863). One-hot or ordinal-encode categorical columns before training, or "
                    "serve the native model"
                )
            n_targets = len(trees[0]["leaf_values"]) >> len(trees[0]["splits"])
        else:  # grow_policy Depthwise or Lossguide: nested nodes
            if doc["features_info"].get("categorical_features"):
                raise ConversionRefusedError(
                    "one-hot categorical features in Depthwise/Lossguide (non-symmetric) CatBoost trees are not "
                    "converted yet; train with grow_policy='SymmetricTree' (the default), or serve the native model"
                )
            trees = doc["trees"]
            n_targets = leaf_width(trees)
        floats = doc["features_info"].get("float_features", [])
        one_hot = one_hot_features(doc)
        n_features = max([int(f["flat_feature_index"]) for f in floats] + [c for c, _ in one_hot.values()],
                         default=-1) + 1
        feature_of = np.zeros(len(floats), dtype=np.int64)  # float_feature_index -> input column
        nan_right = np.zeros(len(floats), dtype=bool)
        for f in floats:
            treatment = f.get("nan_value_treatment", "AsIs")
            if treatment not in _NAN_GOES_RIGHT:
                raise ConversionRefusedError(
                    f"feature {f['flat_feature_index']} has an unknown nan_value_treatment {treatment!r}; "
                    f"known: {', '.join(_NAN_GOES_RIGHT)}. A newer CatBoost may write values onnxgate does "
                    "not know yet; train with nan_mode='Min' or 'Max', or serve the native model"
                )
            feature_of[int(f["feature_index"])] = int(f["flat_feature_index"])
            nan_right[int(f["feature_index"])] = _NAN_GOES_RIGHT[treatment]
        scale, bias = doc.get("scale_and_bias", [1.0, [0.0]])
        bias = np.broadcast_to(np.asarray(bias, dtype=np.float64).ravel(), (n_targets,)).copy()
        head = self._head(model, doc, n_targets)
        if head.task == "classification" and n_targets not in (1, len(head.classes)):
            raise ConversionRefusedError(
                f"the classifier has {len(head.classes)} classes but {n_targets} scores per leaf; "
                "the model looks inconsistent"
            )
        if head.post_transform == "exp" and n_targets > 1:
            raise ConversionRefusedError(
                "multi-target Poisson/Tweedie models are not supported (CatBoost's exp prediction type is "
                "defined for one target); fit one model per target"
            )
        # CatBoost computes scale * sum(leaves) + bias in float64. The scale is folded into the
        # leaves so the emitter's tolerance sees the true leaf magnitude.
        def split_of(split: dict[str, Any]) -> tuple[float, float, float, float]:
            if split.get("split_type") == "OneHotFeature":
                column, hashes = one_hot[int(split["cat_feature_index"])]
                return (column, 0.0, 0.0, hashes.index(int(split["value"])))
            f = int(split["float_feature_index"])
            return (feature_of[f], split["border"], nan_right[f], -1.0)

        if symmetric:
            arrays = oblivious_arrays(trees, n_targets, split_of, float(scale))
        else:
            arrays = (*concat_trees(nonsymmetric_arrays(trees, n_targets, feature_of, nan_right, float(scale))),
                      None)
        tree, node, feature, threshold, left, right, missing_left, value, code = arrays
        categories = None
        if one_hot:
            head = replace(head, category_labels={c: tuple(h) for c, h in one_hot.values()}, category_unseen="hash")
            categories = one_hot_splits(code, one_hot)
        return TreeEnsembleIR(
            n_features=n_features,
            n_targets=n_targets,
            tree=tree,
            node=node,
            feature=feature,
            threshold=threshold,
            left=left,
            right=right,
            missing_left=missing_left,
            value=value,
            base_values=bias,
            cmp="<=",  # CatBoost sends x > border right, so left is x <= border
            input_cast="float32",  # CatBoost quantizes float32 features against float32 borders
            head=head,
            categories=categories,
        )

    def lower(self, model: Any, *, dtype: np.dtype, ml_opset: int | None) -> Lowered:
        from ..._version import __version__

        ir = self.to_ir(model)
        graph = emit(ir, dtype=dtype, ml_opset=ml_opset)
        if _label_is_column(ir):
            graph = _label_column(graph)
        return Lowered(graph, ir.head, ir.n_features, "onnxgate", __version__)

    # -- native side --

    def native(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        # CatBoost predicts on every core (thread_count=-1) whatever the model was trained with,
        # while XGBoost, LightGBM and scikit-learn predict with the model's own setting. Use the
        # model's thread_count where it has one, so a model fitted with thread_count=1 predicts
        # on the thread that is timed and counted, as the other frameworks' models do.
        # (get_param, not get_params: a copy of every parameter is 2 us of a 57 us one-row call.)
        threads = model.get_param("thread_count")
        if threads is None:
            return getattr(model, method)(X)
        return getattr(model, method)(X, thread_count=threads)

    def fast_native(self, model: Any, method: str, *, threads: int | None = None) -> FastNative:
        if threads is not None and threads != model.get_param("thread_count") \
                and not list(model.get_cat_feature_indices()):
            return FastNative(f"{method}(thread_count={threads})",
                              lambda X: getattr(model, method)(X, thread_count=threads))
        # Measured on the zoo's classifier at one row: predict_proba, predict(prediction_type=
        # "Probability") and the private _predict, each with thread_count=1, all within 2%.
        return FastNative("", None, f"{method} with the model's thread_count (native()) is already CatBoost's "
                                    "fastest call: its other calls cost the same")

    def native_call(self, model: Any, method: str, X: np.ndarray) -> Callable[[], Any]:
        # A matrix for a model with categorical features holds their integer labels (inputs.py);
        # CatBoost refuses a float matrix there, and reads Python ints in an object one as labels.
        cats = list(model.get_cat_feature_indices())
        if not cats:
            return super().native_call(model, method, X)
        if not X.shape[0]:  # CatBoost refuses an empty object array; one row, cut to none
            one = self.native_call(model, method, np.zeros((1, X.shape[1])))
            return lambda: np.asarray(one())[:0]
        rows = X.astype(object)
        for c in cats:
            col = np.asarray(X[:, c], dtype=np.float64)
            with np.errstate(invalid="ignore"):
                odd = ~np.isfinite(col) | (col != np.round(col)) | (col < -(2.0**63)) | (col >= 2.0**63)
            if odd.any():
                raise ValueError(f"CatBoost refuses the non-integer categorical value in column {c}: "
                                 "cat_features must be integer or string")
            rows[:, c] = [int(v) for v in col]
        return super().native_call(model, method, rows)

    def native_sample(self, model: Any, *, n: int = 2000, seed: int = 0) -> tuple[np.ndarray, str] | None:
        # A model with CTRs has no ONNX form, and so none of the rows that model_files.rows_for
        # spreads over a converted graph's splits: float features spread over CatBoost's own
        # borders instead, categorical ones integer labels (the hashes of CTR tables hide which).
        self._check(model)
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, len(model.feature_names_)))
        for f, borders in model.get_borders().items():
            if borders:
                lo, hi = min(borders), max(borders)
                pad = max((hi - lo) * 0.1, 1e-3)
                X[:, int(f)] = rng.uniform(lo - pad, hi + pad, size=n)
        for c in model.get_cat_feature_indices():
            X[:, c] = integer_labels(rng, n)
        task = {"classifier": "classification", "ranker": "ranking"}.get(self._kind(model), "regression")
        return X.astype(np.float32), task

    def _cbm(self, model: Any) -> bytes:
        self._check(model)
        with tempfile.TemporaryDirectory(prefix="onnxgate-catboost-") as tmp:
            path = Path(tmp) / "model.cbm"
            model.save_model(str(path), format="cbm")
            return path.read_bytes()

    def native_bytes(self, model: Any) -> bytes:
        return self._cbm(model)

    def digest(self, model: Any) -> str:
        """The JSON's sha256 without the training run's stamps; the .cbm bytes' for a model that has
        no JSON form (CTRs), which then changes with every fit."""
        cb = self._check(model)
        try:
            return doc_digest(dump_json(model))
        except cb.CatBoostError:
            return super().digest(model)

    def save_native(self, model: Any, path: Path) -> None:
        from ...atomic import write_bytes_atomic

        write_bytes_atomic(path, self._cbm(model))

    def load_native(self, path: Path, *, allow_pickle: bool = False) -> Any:
        """Reads a .cbm file into the wrapper its loss implies (catboost_files.load_cbm)."""
        return load_cbm(self.framework(), Path(path))

    # -- the public exporter, for the parity matrix --

    def upstream(self, model: Any, *, dtype: np.dtype) -> Lowered:
        utils = import_optional("catboost.utils", self.extra, "compare against CatBoost's ONNX exporter")
        ir = self.to_ir(model)  # the same refusals apply, and it tells us the head
        graph = utils.convert_to_onnx_object(model)
        # The exporter writes IR version 3, where every initializer must also be a graph input;
        # adopt_outputs adds initializers, so declare a version without that rule.
        graph.ir_version = max(graph.ir_version, 4)
        if ir.head.task == "classification":
            graph, dense = _drop_zipmap(graph)
            graph = adopt_outputs(graph, {"label": "predict", dense: "predict_proba"})
            if _label_is_column(ir):
                graph = _label_column(graph)
        else:
            graph = adopt_outputs(graph, {graph.graph.output[0].name: "predict"}, flatten=frozenset({"predict"}))
        return Lowered(graph, ir.head, ir.n_features, "catboost", self.version())
