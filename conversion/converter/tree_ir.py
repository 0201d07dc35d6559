"""The shared tree form: every tree framework is turned into these arrays, and one emitter writes ONNX from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import ConversionRefusedError

__all__ = ["TreeEnsembleIR", "Head", "CategorySplits", "CategoryCoding", "LinearLeaves", "category_sets",
           "concat_trees"]

Comparison = Literal["<", "<="]
# "sigmoid_2x": sigmoid(2 * raw) (scikit-learn's exponential loss); "hinge": 1.0 where raw > 0
# else 0.0 (XGBoost binary:hinge); "argmax": the index of the first largest raw score, as a
# float (a raw XGBoost Booster with multi:softmax).
PostTransform = Literal["identity", "sigmoid", "softmax", "exp", "sigmoid_ovr", "sigmoid_2x", "hinge", "argmax"]
Task = Literal["regression", "classification", "ranking"]


@dataclass(frozen=True)
class Head:
    """How raw scores become the native model's outputs.

    ``post_transform`` maps the summed raw scores to what the native ``predict`` (regressors)
    or ``predict_proba`` (classifiers) returns. A binary classifier with one raw column gets
    ``[1 - p, p]`` from it. ``methods`` lists the native methods the ONNX graph reproduces,
    with the dtype each returns natively.
    """

    task: Task
    post_transform: PostTransform = "identity"
    classes: np.ndarray | None = None
    methods: dict[str, str] = field(default_factory=dict)
    # Scales raw scores before the post-transform (CatBoost set_scale_and_bias, averaging).
    scale: float = 1.0
    # Divides raw scores before the post-transform: forests average as ``sum / n_estimators``,
    # which ``sum * (1 / n_estimators)`` does not always equal in the last bit.
    divisor: float = 1.0
    # The native predict decides on the raw scores rather than the probabilities: class 1 when
    # the one raw column is >= 0, else the first largest raw score (scikit-learn's
    # GradientBoostingClassifier, XGBoost's multi:softmax). A tie of raw scores then resolves
    # as natively even where the probabilities would round equal or flip the tie.
    label_from_raw: bool = False
    # The ONNX trees must be summed one after another in tree order, as the native model sums
    # them, for exact ties to stay exact: the engine then runs the session on one intra-op
    # thread (ONNX Runtime splits the trees of a batch over 50 rows across its threads and
    # merges partial sums, which moves the last bit).
    sequential_sum: bool = False
    # Whether the native model accepts NaN / +-inf at predict time; the engine refuses what it does not.
    allow_nan: bool = True
    allow_inf: bool = True
    # Columns on which the native model rejects +-inf although it accepts them elsewhere
    # (HistGradientBoosting's OrdinalEncoder on its categorical columns).
    finite_columns: tuple[int, ...] = ()
    # A multi-output classifier's class count per output: ``classes`` holds every output's
    # classes back to back, predict returns (N, n_outputs) labels and predict_proba one
    # (N, k) array per output, as scikit-learn's multi-output trees and forests do.
    output_classes: tuple[int, ...] = ()
    # The largest magnitude the native model treats as finite (XGBoost's DMatrix rounds to
    # float32 first, so anything beyond float32's range is inf to it).
    finite_max: float = float("inf")
    # Per categorical input column, the ordered category labels (text or numbers, as trained)
    # whose positions are the float codes the ONNX model takes (pandas categoricals), and where
    # the native model sends a label it was not trained on (inputs.UNSEEN); both written to
    # the model's metadata, where the input layer reads them.
    category_labels: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    category_unseen: str = "missing"


@dataclass(frozen=True)
class CategoryCoding:
    """How the native model reads a float as a category code, ahead of every categorical split.

    On the ``features`` columns, the input is cast to ``cast``; NaN stays NaN (the splits'
    ``missing_left`` routes it); a value ``v`` with ``low < v < high`` (``low <= v`` when
    ``low_closed``) becomes ``trunc(v)``; any other value becomes -1, which no set holds.
    LightGBM: ``static_cast<int>`` of a double, negative or beyond int range is no category;
    XGBoost: the float32 value, ``0 <= v < 2**24``. ``integers_only``: a non-integer value is
    no category (scikit-learn's encoder matches values exactly).

    The codes are always integers or NaN: ONNX Runtime 1.32 rolls BRANCH_MEMBER sets of small
    integers into a bitmask that truncates the input (onnxruntime PR #22333), so 2.5 is a member
    of {1, 2, 3, ...} there, though the spec says it is not.
    """

    features: np.ndarray  # int64
    cast: Literal["float32", "float64"]
    low: float
    high: float
    low_closed: bool = False
    integers_only: bool = False


@dataclass(frozen=True)
class CategorySplits:
    """Set-membership splits: node ``i`` with ``index[i] >= 0`` sends a row left when the
    (coded) input equals one of ``values[ptr[index[i]]:ptr[index[i] + 1]]``, NaN by
    ``missing_left``, everything else right."""

    index: np.ndarray  # int64 per node, -1 on threshold splits and leaves
    ptr: np.ndarray  # int64 [n_sets + 1]
    values: np.ndarray  # float64, the members of all sets back to back
    coding: CategoryCoding

    def members(self, k: int) -> np.ndarray:
        return self.values[self.ptr[k]:self.ptr[k + 1]]


def category_sets(sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(ptr, values)`` of a list of member arrays."""
    sizes = np.array([len(s) for s in sets], dtype=np.int64)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = np.concatenate([np.asarray(s, dtype=np.float64) for s in sets]) if sets else np.zeros(0)
    return ptr, values


@dataclass(frozen=True)
class LinearLeaves:
    """A linear model in every leaf (LightGBM ``linear_tree=True``), per node of the IR.

    A row reaching leaf ``i`` gets ``const[i] + sum(coef[i, f] * x[f] for f where uses[i, f])``,
    summed in ascending feature order, or the plain leaf value (the IR's ``value``) when one of
    the used features is NaN. Inputs with ``|x| <= zero_band`` count as 0.0 in the linear model.
    """

    const: np.ndarray  # float64 [n_nodes]
    coef: np.ndarray  # float64 [n_nodes, n_features]
    uses: np.ndarray  # bool [n_nodes, n_features]
    zero_band: float = 0.0


@dataclass(frozen=True)
class TreeEnsembleIR:
    """A tree ensemble as flat numpy arrays, one entry per node over all trees.

    A threshold node sends a row to ``left`` when ``cast(x[feature]) <cmp> threshold`` holds, where
    ``cast`` is the precision the native framework compares in (``input_cast``). NaN goes to
    ``left`` where ``missing_left`` is set. ``missing_band`` (one value per
    feature, NaN where unused) makes every input with ``|x| <= band`` on that feature missing
    before any split sees it (LightGBM counts ``|x| <= 1e-35`` as zero, hence missing).
    ``missing_value`` (XGBoost's ``missing=``) makes every input equal to it missing as well,
    compared after the ``input_cast`` rounding, as XGBoost's DMatrix does; NaN stays missing.
    ``categories`` marks set-membership (categorical) nodes, whose ``threshold`` is unused.
    Leaves have ``feature == -1`` and their contribution per target in ``value``; the
    ensemble output is ``sum(leaf values) + base_values``, then ``head.post_transform``.
    """

    n_features: int
    n_targets: int
    tree: np.ndarray  # int64, tree index
    node: np.ndarray  # int64, node index within its tree (root is 0)
    feature: np.ndarray  # int64, -1 on leaves
    threshold: np.ndarray  # float64
    left: np.ndarray  # int64, node index within the tree, -1 on leaves
    right: np.ndarray  # int64
    missing_left: np.ndarray  # bool
    value: np.ndarray  # float64 [n_nodes, n_targets]; rows of interior nodes are ignored
    base_values: np.ndarray  # float64 [n_targets]
    cmp: Comparison
    input_cast: Literal["float32", "float64"]
    head: Head
    missing_band: np.ndarray | None = None  # float64 [n_features]
    linear: LinearLeaves | None = None  # leaves with linear models instead of constants
    missing_value: float = float("nan")  # NaN: only NaN is missing
    # Where the native label depends on the float64 sum bit for bit (scikit-learn's
    # GradientBoostingClassifier decides on exact ties of raw scores), a float32 graph casts
    # its input up and sums in float64 too, instead of in float32.
    categories: CategorySplits | None = None  # set-membership splits, see CategorySplits
    sum_dtype: Literal["float32", "float64"] | None = None

    def __post_init__(self) -> None:
        n = self.tree.shape[0]
        for name in ("node", "feature", "threshold", "left", "right", "missing_left"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"tree IR field {name!r} has shape {getattr(self, name).shape}, expected ({n},)")
        if self.value.shape != (n, self.n_targets):
            raise ValueError(f"tree IR values have shape {self.value.shape}, expected ({n}, {self.n_targets})")
        if self.base_values.shape != (self.n_targets,):
            raise ValueError(f"base_values has shape {self.base_values.shape}, expected ({self.n_targets},)")
        if self.missing_band is not None and self.missing_band.shape != (self.n_features,):
            raise ValueError(f"missing_band has shape {self.missing_band.shape}, expected ({self.n_features},)")
        if self.linear is not None and self.linear.coef.shape != (n, self.n_features):
            raise ValueError(f"linear leaf coefficients have shape {self.linear.coef.shape}, expected ({n}, "
                             f"{self.n_features})")
        if self.categories is not None and self.categories.index.shape != (n,):
            raise ValueError(f"categories.index has shape {self.categories.index.shape}, expected ({n},)")
        interior = self.feature >= 0
        if interior.any() and int(self.feature[interior].max()) >= self.n_features:
            raise ConversionRefusedError(
                f"a split uses feature {int(self.feature.max())} but the model declares "
                f"{self.n_features} features; the model file looks inconsistent"
            )
        if np.isnan(self.value[~interior]).any():
            raise ConversionRefusedError(
                "a leaf value is NaN, so every row reaching that leaf predicts NaN; training diverged or the "
                "model file is damaged. Retrain (e.g. with a smaller learning rate) before converting"
            )

    @property
    def n_trees(self) -> int:
        return int(self.tree.max()) + 1 if self.tree.size else 0

    @property
    def is_leaf(self) -> np.ndarray:
        return self.feature < 0

    def thresholds_by_feature(self) -> dict[int, np.ndarray]:
        """Unique split thresholds per feature, used to build inputs that sit on a split."""
        out: dict[int, np.ndarray] = {}
        interior = ~self.is_leaf
        if self.categories is not None:
            interior &= self.categories.index < 0
        for f in np.unique(self.feature[interior]):
            out[int(f)] = np.unique(self.threshold[interior & (self.feature == f)])
        return out


def concat_trees(
    trees: list[tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, ...]:
    """Stack per-tree arrays ``(node, feature, threshold, left, right, missing_left, value)``
    into flat arrays with a ``tree`` index column first."""
    if not trees:
        raise ConversionRefusedError("the model has no trees; there is nothing to convert")
    tree_idx = np.concatenate([np.full(t[0].shape[0], i, dtype=np.int64) for i, t in enumerate(trees)])
    cols = [np.concatenate([t[k] for t in trees]) for k in range(len(trees[0]))]
    return (tree_idx, *cols)
