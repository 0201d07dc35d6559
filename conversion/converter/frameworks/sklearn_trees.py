"""scikit-learn tree models -> tree IR, read from the fitted ``tree_`` / predictor node arrays.

Imported only by the sklearn adapter, which passes the scikit-learn module objects in, so
this module itself never imports scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np

from ...errors import ConversionRefusedError
from ..tree_ir import CategoryCoding, CategorySplits, Head, TreeEnsembleIR, category_sets, concat_trees

__all__ = ["TREE_BUILDERS", "IsolationForestParts", "is_missing_category", "isolation_forest_ir"]

Arrays = tuple[np.ndarray, ...]


def _cart_arrays(tree: Any, value: np.ndarray, feature_map: np.ndarray | None = None) -> Arrays:
    """One fitted ``sklearn.tree._tree.Tree`` as IR columns with the given per-node values.

    scikit-learn predicts with ``float32(x) <= threshold`` (double); NaN goes where the stored
    ``missing_go_to_left`` says. For trees trained without NaN scikit-learn stores there the
    child that saw more training samples (ties go right: ``n_left > n_right``), so using the
    stored flag reproduces the predict-time rule in both cases.
    """
    left = tree.children_left.astype(np.int64)
    leaf = left < 0
    feature = tree.feature.astype(np.int64)
    if feature_map is not None:  # IsolationForest trees see a subset of the columns
        feature = np.where(leaf, -1, feature_map[np.where(leaf, 0, feature)])
    return (
        np.arange(left.size, dtype=np.int64),
        np.where(leaf, -1, feature),
        np.where(leaf, 0.0, tree.threshold.astype(np.float64)),
        np.where(leaf, -1, left),
        np.where(leaf, -1, tree.children_right.astype(np.int64)),
        tree.missing_go_to_left.astype(bool) & ~leaf,
        value,
    )


def _regression_values(tree: Any) -> np.ndarray:
    """Leaf means per output: ``tree_.value`` is (nodes, n_outputs, 1) for a regressor, and
    a multi-output forest predicts (N, n_outputs), one ONNX target per output."""
    return tree.value[:, :, 0].astype(np.float64)


def _class_fractions(tree: Any, n_classes: list[int]) -> np.ndarray:
    """Per node, each output's class fractions, outputs side by side.

    DecisionTreeClassifier.predict_proba normalises the leaf values exactly like this, output by
    output over that output's ``n_classes`` columns; depending on the scikit-learn version
    ``tree_.value`` holds counts or fractions, the result is the same."""
    parts = []
    for output, k in enumerate(n_classes):
        v = tree.value[:, output, :k].astype(np.float64)
        norm = v.sum(axis=1)
        norm[norm == 0.0] = 1.0
        parts.append(v / norm[:, None])
    return np.hstack(parts)


def _ir(model: Any, trees: list[Arrays], n_targets: int, base: np.ndarray, *, cmp: str = "<=",
        input_cast: str = "float32", head: Head, sum_dtype: str | None = None) -> TreeEnsembleIR:
    tree_idx, node, feature, threshold, left, right, missing_left, value = concat_trees(trees)
    return TreeEnsembleIR(
        n_features=int(model.n_features_in_), n_targets=n_targets, tree=tree_idx, node=node, feature=feature,
        threshold=threshold, left=left, right=right, missing_left=missing_left, value=value,
        base_values=np.asarray(base, dtype=np.float64).reshape(n_targets), cmp=cmp, input_cast=input_cast, head=head,
        sum_dtype=sum_dtype,  # type: ignore[arg-type]
    )


def _classifier_head(model: Any, post: str, *, decision: bool, allow_nan: bool, allow_inf: bool = False,
                     label_from_raw: bool = False) -> Head:
    if getattr(model, "n_outputs_", 1) > 1:
        # scikit-learn fills predict's (N, n_outputs) array of the first output's label dtype, so
        # later outputs' labels are cast to it (strings truncated to its width), as here.
        first = np.asarray(model.classes_[0]).dtype
        classes = np.concatenate([np.asarray(c).astype(first) for c in model.classes_])
        return Head(task="classification", post_transform=post, classes=classes,
                    methods={"predict": str(first), "predict_proba": "float64"}, allow_nan=allow_nan,
                    allow_inf=allow_inf, output_classes=tuple(len(c) for c in model.classes_))
    classes = np.asarray(model.classes_)
    methods = {"predict": str(classes.dtype), "predict_proba": "float64"}
    if decision:
        methods["decision_function"] = "float64"
    return Head(task="classification", post_transform=post, classes=classes, methods=methods,
                allow_nan=allow_nan, allow_inf=allow_inf, label_from_raw=label_from_raw)


def _forest_ir(skl: ModuleType, model: Any) -> TreeEnsembleIR:
    """DecisionTree*, RandomForest*, ExtraTrees*: the average of per-tree predictions."""
    estimators = getattr(model, "estimators_", [model])
    is_clf = skl.base.is_classifier(model)
    n_classes = [int(k) for k in np.atleast_1d(model.n_classes_)] if is_clf else []
    trees = []
    for est in estimators:
        t = est.tree_
        trees.append(_cart_arrays(t, _class_fractions(t, n_classes) if is_clf else _regression_values(t)))
    n_targets = sum(n_classes) if is_clf else int(model.n_outputs_)
    # Forests divide the summed per-tree predictions by the tree count; a single tree by 1.
    divisor = float(len(estimators)) if hasattr(model, "estimators_") else 1.0
    if is_clf:
        head = replace(_classifier_head(model, "identity", decision=False, allow_nan=True), divisor=divisor)
    else:
        head = Head(task="regression", methods={"predict": "float64"}, allow_inf=False, divisor=divisor)
    if head.output_classes:
        # Multi-output labels break ties between probabilities that differ in the last float64
        # bit (0.5 against 0.5000000000000001 on a multilabel forest): sum the per-tree fractions
        # in float64, in tree order, as scikit-learn does.
        return _ir(model, trees, n_targets, np.zeros(n_targets), head=replace(head, sequential_sum=True),
                   sum_dtype="float64")
    return _ir(model, trees, n_targets, np.zeros(n_targets), head=head)


# scikit-learn's link functions -> the IR's post-transform
_LINKS = {
    "IdentityLink": "identity",
    "LogLink": "exp",
    "LogitLink": "sigmoid",
    "HalfLogitLink": "sigmoid_2x",  # loss="exponential": probability expit(2 * raw)
    "MultinomialLogit": "softmax",
}


def _post_transform(model: Any) -> str:
    link = type(model._loss.link).__name__
    if link not in _LINKS:
        raise ConversionRefusedError(
            f"{type(model).__name__} with loss {type(model._loss).__name__} (link {link}) is not supported; "
            f"supported links: {', '.join(_LINKS)}"
        )
    return _LINKS[link]


def _gradient_boosting_ir(skl: ModuleType, model: Any) -> TreeEnsembleIR:
    """GradientBoosting*: raw = init + learning_rate * sum(tree values), then the loss's link."""
    init = model.init_
    n_features = int(model.n_features_in_)
    if isinstance(init, str) and init == "zero":
        base = np.zeros(model.estimators_.shape[1])
    elif type(init).__name__ in ("DummyClassifier", "DummyRegressor") and getattr(init, "strategy", "") in (
        "prior", "mean", "median", "quantile", "constant", "most_frequent"
    ):
        # A constant init: its raw prediction is the same for every row.
        base = np.asarray(model._raw_predict_init(np.zeros((1, n_features), dtype=np.float32)), dtype=np.float64)[0]
    else:
        raise ConversionRefusedError(
            f"{type(model).__name__} with init={type(init).__name__}({getattr(init, 'strategy', '')}) "
            "is not supported: "
            "only the default init, a constant Dummy estimator or init='zero' give a constant base score"
        )
    lr = float(model.learning_rate)
    n_iter, k = model.estimators_.shape
    trees = []
    for i in range(n_iter):
        for j in range(k):
            t = model.estimators_[i, j].tree_
            value = np.zeros((t.node_count, k))
            value[:, j] = lr * t.value[:, 0, 0]  # predict_stages adds learning_rate * value
            if i == 0:
                # scikit-learn starts from the init score and adds each stage to it; ONNX
                # Runtime starts from 0 and adds a base score last. Folding the init into the
                # first stage's leaves makes ONNX Runtime's sequential sum the native one,
                # bit for bit in float64, so exact ties between classes stay exact.
                value[:, j] = base[j] + value[:, j]
            trees.append(_cart_arrays(t, value))
    base = np.zeros(k)
    post = _post_transform(model)
    if skl.base.is_classifier(model):
        # GradientBoosting rejects NaN at predict time (no missing-value support). Its predict
        # decides on the raw score (raw >= 0, or the first maximum), not on the probabilities:
        # a raw score of exactly 0 is class 1, where [0.5, 0.5] would give class 0.
        head = replace(_classifier_head(model, post, decision=True, allow_nan=False, label_from_raw=True),
                       sequential_sum=True)
    else:
        head = Head(task="regression", post_transform=post, methods={"predict": "float64"},
                    allow_nan=False, allow_inf=False)
    return _ir(model, trees, k, base, head=head, sum_dtype="float64" if head.label_from_raw else None)


def _hist_gradient_boosting_ir(skl: ModuleType, model: Any) -> TreeEnsembleIR:
    """HistGradientBoosting*: compares the float64 input ``x <= num_threshold``; leaves are already shrunk."""
    k = int(model.n_trees_per_iteration_)
    cat = _HGBCategories(model) if getattr(model, "_preprocessor", None) is not None else None
    trees = []
    for iteration in model._predictors:
        for j, predictor in enumerate(iteration):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            value = np.zeros((nodes.size, k))
            value[:, j] = np.where(leaf, nodes["value"], 0.0)
            arrays = (
                np.arange(nodes.size, dtype=np.int64),
                np.where(leaf, -1, nodes["feature_idx"].astype(np.int64)),
                np.where(leaf, 0.0, nodes["num_threshold"].astype(np.float64)),
                np.where(leaf, -1, nodes["left"].astype(np.int64)),
                np.where(leaf, -1, nodes["right"].astype(np.int64)),
                nodes["missing_go_to_left"].astype(bool) & ~leaf,
                value,
            )
            trees.append(cat.tree(predictor, arrays) if cat is not None else arrays)
    base = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(k)
    post = _post_transform(model)
    # HistGradientBoosting validates in float64 and accepts NaN and +-inf, except on
    # categorical columns, whose OrdinalEncoder rejects inf (numeric columns still take it).
    if skl.base.is_classifier(model):
        head = _classifier_head(model, post, decision=True, allow_nan=True, allow_inf=True)
    else:
        head = Head(task="regression", post_transform=post, methods={"predict": "float64"})
    if cat is None:
        return _ir(model, trees, k, base, input_cast="float64", head=head)
    finite = tuple(sorted(int(f) for f in cat.order[: len(cat.categories)]))
    head = replace(head, category_labels=cat.labels(), finite_columns=finite)
    ir = _ir(model, [t[:-1] for t in trees], k, base, input_cast="float64", head=head)
    ptr, values = category_sets(cat.sets)
    index = np.concatenate([t[-1] for t in trees])
    coding = CategoryCoding(features=cat.order[: len(cat.categories)], cast="float64", low=-1.0, high=2.0**24,
                            integers_only=True)
    return replace(ir, categories=CategorySplits(index=index, ptr=ptr, values=values, coding=coding))


class _HGBCategories:
    """HistGradientBoosting with categorical features (scikit-learn >= 1.4 encodes them with
    an OrdinalEncoder ahead of the trees and moves those columns first).

    The predictor reads the encoded index: NaN, a negative or an unknown category takes the
    missing direction; a known one goes left when its bit is set. As set splits on the raw
    input value: a node whose missing direction is right keeps its left set; one whose
    missing direction is left gets the other known categories as its set and swapped
    children, so every value outside the set (unknown, NaN) lands on the missing side.
    A column of pandas categories is read by its position in the encoder's categories.
    """

    def __init__(self, model: Any) -> None:
        is_cat = np.asarray(model.is_categorical_, dtype=bool)
        # The remapped column j is the original column order[j]: encoded columns first.
        self.order = np.concatenate([np.flatnonzero(is_cat), np.flatnonzero(~is_cat)]).astype(np.int64)
        encoder = model._preprocessor.named_transformers_["encoder"]
        self.categories = []
        for cats in encoder.categories_:
            cats = np.asarray(cats)
            if cats.size and is_missing_category(cats[-1]):
                cats = cats[:-1]  # the encoder lists a missing value last; the trees route it by missing_left
            self.categories.append(cats)
        self.known, self.f_idx_map = model._bin_mapper.make_known_categories_bitsets()
        self.sets: list[np.ndarray] = []

    def _values(self, f: int, idx: np.ndarray) -> np.ndarray:
        """Input values that the encoder turns into the indices ``idx`` of remapped column ``f``."""
        cats = self.categories[f]
        if cats.dtype.kind not in "iuf":
            return idx.astype(np.float64)
        raw = cats.astype(np.float64)
        if ((raw < 0) | (raw >= 2**24) | (raw != np.floor(raw))).any():
            raise ConversionRefusedError(
                f"categorical column {int(self.order[f])} has categories that are not integers in [0, 2**24) "
                f"(e.g. {raw[(raw < 0) | (raw >= 2**24) | (raw != np.floor(raw))][0]!r}); encode them as "
                "0, 1, 2, ... (or pass a pandas categorical column) and train again"
            )
        return raw[idx]

    def labels(self) -> dict[int, tuple[Any, ...]]:
        return {int(self.order[f]): tuple(c.item() if isinstance(c, np.generic) else c for c in cats)
                for f, cats in enumerate(self.categories) if cats.dtype.kind not in "iuf"}

    def tree(self, predictor: Any, arrays: Arrays) -> Arrays:
        node, feature, threshold, left, right, missing_left, value = arrays
        feature = np.where(feature >= 0, self.order[np.maximum(feature, 0)], -1)
        left, right, missing_left = left.copy(), right.copy(), missing_left.copy()
        index = np.full(node.size, -1, dtype=np.int64)
        nodes = predictor.nodes
        for n in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~nodes["is_leaf"].astype(bool)):
            f = int(nodes["feature_idx"][n])
            bits = _bitset_members(predictor.raw_left_cat_bitsets[int(nodes["bitset_idx"][n])])
            known = _bitset_members(self.known[int(self.f_idx_map[f])])
            members = np.intersect1d(bits, known)
            if missing_left[n]:
                members = np.setdiff1d(known, members)
                left[n], right[n] = right[n], left[n]
                missing_left[n] = False
            index[n] = len(self.sets)
            self.sets.append(self._values(f, members))
        return node, feature, threshold, left, right, missing_left, value, index


def is_missing_category(value: Any) -> bool:
    """Whether an encoder category is the missing value (None, or NaN of any float width:
    a float32 column's NaN is an ``np.float32``, which is no Python float)."""
    return value is None or (isinstance(value, float | np.floating) and bool(np.isnan(value)))


def _bitset_members(words: np.ndarray) -> np.ndarray:
    """The set bits of a scikit-learn bitset (uint32 words, bit ``c % 32`` of word ``c // 32``)."""
    bits = np.unpackbits(np.ascontiguousarray(words, dtype="<u4").view(np.uint8), bitorder="little")
    return np.flatnonzero(bits).astype(np.int64)



@dataclass(frozen=True)
class IsolationForestParts:
    """The tree sum of an IsolationForest (path lengths) and the constants of its score."""

    ir: TreeEnsembleIR
    denominator: float  # n_estimators * average path length of max_samples
    offset: float


def isolation_forest_ir(skl: ModuleType, model: Any) -> IsolationForestParts:
    """Each leaf holds ``depth + c(n_samples) - 1``, as ``_parallel_compute_tree_depths`` adds it."""
    trees = []
    for t_idx, (est, features) in enumerate(zip(model.estimators_, model.estimators_features_, strict=True)):
        t = est.tree_
        value = (model._decision_path_lengths[t_idx] + model._average_path_length_per_tree[t_idx] - 1.0)
        trees.append(_cart_arrays(t, value.astype(np.float64)[:, None], np.asarray(features, dtype=np.int64)))
    # scikit-learn's own helper, so the constant is bit-identical to the one it divides by.
    denominator = float(len(model.estimators_) * skl.ensemble._iforest._average_path_length([model._max_samples])[0])
    # Outputs are built by the adapter; the IR head only sums path lengths.
    head = Head(task="regression", methods={"predict": "float64"})
    ir = _ir(model, trees, 1, np.zeros(1), head=head)
    return IsolationForestParts(ir, denominator, float(model.offset_))


# Estimator class name -> IR builder. Subclasses match through their MRO.
TREE_BUILDERS: dict[str, Callable[[ModuleType, Any], TreeEnsembleIR]] = {
    "DecisionTreeClassifier": _forest_ir,
    "DecisionTreeRegressor": _forest_ir,
    "ExtraTreeClassifier": _forest_ir,
    "ExtraTreeRegressor": _forest_ir,
    "RandomForestClassifier": _forest_ir,
    "RandomForestRegressor": _forest_ir,
    "ExtraTreesClassifier": _forest_ir,
    "ExtraTreesRegressor": _forest_ir,
    "GradientBoostingClassifier": _gradient_boosting_ir,
    "GradientBoostingRegressor": _gradient_boosting_ir,
    "HistGradientBoostingClassifier": _hist_gradient_boosting_ir,
    "HistGradientBoostingRegressor": _hist_gradient_boosting_ir,
}
