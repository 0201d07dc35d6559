"""The embedded default model zoo: the models `onnxgate run` and the benchmarks train.

Every model is trained here, from datasets bundled with scikit-learn or generated, so the
zoo needs no download. Each framework is imported only when one of its models is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from conversion.converter.frameworks import framework_names

__all__ = ["BENCH_DATASETS", "CATEGORICAL", "DATASETS", "DENSE", "DENSE_DATASETS", "FRAMEWORKS", "SIZES", "ZooModel",
           "ZooSpec", "build", "build_zoo", "dense_specs", "train", "zoo_specs"]

# small: about 100 trees at depth 6; large: about 500 trees at depth 8 (the benchmark issue's sizes).
SIZES: dict[str, dict[str, int]] = {"small": {"trees": 100, "depth": 6}, "large": {"trees": 500, "depth": 8}}


@dataclass(frozen=True)
class ZooSpec:
    framework: str
    dataset: str
    size: str = "small"

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.dataset}-{self.size}"

    def build(self) -> ZooModel:
        """Trains the model (once per process); a user's model spec loads its file instead."""
        return build(self)


@dataclass
class ZooModel:
    spec: ZooSpec
    model: Any
    X: np.ndarray  # held-out rows, float32, for parity and latency
    task: str
    y: np.ndarray | None = None  # their true labels or targets, for a variant's score delta

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def framework(self) -> str:
        return self.spec.framework


def _synthetic_classification() -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=20_000, n_features=20, n_informative=12, n_classes=2, random_state=0)
    return X, y, "classification"


def _categorical_classification() -> tuple[np.ndarray, np.ndarray, str]:
    """Two category-code columns (a 12-value segment, a 40-value country) and six numbers."""
    rng = np.random.default_rng(1)
    n = 20_000
    segment, country = rng.integers(0, 12, size=n), rng.integers(0, 40, size=n)
    numbers = rng.normal(size=(n, 6))
    effect = rng.normal(scale=1.5, size=12)[segment] + rng.normal(scale=1.0, size=40)[country]
    y = (effect + numbers[:, 0] - 0.5 * numbers[:, 1] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return np.column_stack([segment, country, numbers]), y, "classification"


def _bundled(loader: str, task: str) -> Callable[[], tuple[np.ndarray, np.ndarray, str]]:
    def load() -> tuple[np.ndarray, np.ndarray, str]:
        datasets = importlib.import_module("sklearn.datasets")
        X, y = getattr(datasets, loader)(return_X_y=True)
        return X, y, task

    return load


# name -> loader returning (X, y, task). "synthetic" is the benchmark workhorse: 20 features,
# 20 000 rows, so batches up to 65 536 rows are drawn with replacement from real-looking data.
DATASETS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, str]]] = {
    "synthetic": _synthetic_classification,
    "breast_cancer": _bundled("load_breast_cancer", "classification"),
    "wine": _bundled("load_wine", "classification"),
    "digits": _bundled("load_digits", "classification"),
    "diabetes": _bundled("load_diabetes", "regression"),
    "categorical": _categorical_classification,
}
# The columns of a dataset that hold category codes; each trainer declares them its framework's way.
CATEGORICAL: dict[str, tuple[int, ...]] = {"categorical": (0, 1)}
# What `onnxgate bench` measures (and the gate guards) when no model is named: the workhorse,
# and the categorical set splits (opset-5 BRANCH_MEMBER) every framework but CatBoost converts.
BENCH_DATASETS = ("synthetic", "categorical")


# Each trainer fits a model of ``trees`` trees at ``depth`` on (X, y); ``categorical`` columns hold
# category codes, which it declares its framework's way.
def _xgboost(task: str, trees: int, depth: int, X: np.ndarray, y: np.ndarray, categorical: tuple[int, ...]) -> Any:
    import xgboost as xgb

    cls = xgb.XGBClassifier if task == "classification" else xgb.XGBRegressor
    declared = {}
    if categorical:  # partition splits (max_cat_to_onehot=1): XGBoost's set splits, not one-hot
        declared = {"enable_categorical": True, "tree_method": "hist", "max_cat_to_onehot": 1,
                    "feature_types": ["c" if i in categorical else "q" for i in range(X.shape[1])]}
    model = cls(n_estimators=trees, max_depth=depth, learning_rate=0.1, n_jobs=1, random_state=0, **declared)
    return model.fit(X, y)


def _lightgbm(task: str, trees: int, depth: int, X: np.ndarray, y: np.ndarray, categorical: tuple[int, ...]) -> Any:
    import lightgbm as lgb

    cls = lgb.LGBMClassifier if task == "classification" else lgb.LGBMRegressor
    model = cls(
        n_estimators=trees,
        num_leaves=2**depth - 1 if depth < 8 else 127,
        max_depth=depth,
        learning_rate=0.1,
        n_jobs=1,
        verbose=-1,
        random_state=0,
    )
    return model.fit(X, y, categorical_feature=list(categorical) or "auto")


def _catboost(task: str, trees: int, depth: int, X: np.ndarray, y: np.ndarray, categorical: tuple[int, ...]) -> Any:
    import catboost as cb

    cls = cb.CatBoostClassifier if task == "classification" else cb.CatBoostRegressor
    model = cls(
        iterations=trees,
        depth=depth,
        learning_rate=0.1,
        thread_count=1,
        verbose=False,
        random_seed=0,
        allow_writing_files=False,
        cat_features=list(categorical) or None,
    )
    if not categorical:
        return model.fit(X, y)
    import pandas as pd  # CatBoost takes categories as integers or strings, never floats

    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    return model.fit(frame.astype({f"f{i}": int for i in categorical}), y)


def _sklearn(task: str, trees: int, depth: int, X: np.ndarray, y: np.ndarray, categorical: tuple[int, ...]) -> Any:
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    if categorical:  # RandomForest has no categorical splits; HistGradientBoosting's are bitsets
        cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
        return cls(max_iter=trees, max_depth=depth, categorical_features=list(categorical), random_state=0).fit(X, y)
    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    # RandomForest is the scikit-learn model teams most often serve; depth 10 for small
    # matches the runtime issue's measured reference (100 trees, depth 10).
    return cls(n_estimators=trees, max_depth=depth + 4, n_jobs=1, random_state=0).fit(X, y)


def _mlp(task: str, X: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cls = MLPClassifier if task == "classification" else MLPRegressor
    # early stopping on a validation split ends training when it converges (no ConvergenceWarning)
    net = cls(hidden_layer_sizes=(64, 32), early_stopping=True, max_iter=500, random_state=0)
    return make_pipeline(StandardScaler(), net).fit(X, y)


def _scaled_logistic(task: str, X: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    final = LogisticRegression(max_iter=2000) if task == "classification" else Ridge()
    return make_pipeline(StandardScaler(), final).fit(X, y)


# The zoo's dense scikit-learn models (the graphs INT8 and float16 apply to), named where a tree
# model's name has its size: sklearn-synthetic-mlp. Trained on the classification datasets below.
DENSE: dict[str, Callable[[str, np.ndarray, np.ndarray], Any]] = {"mlp": _mlp, "logistic": _scaled_logistic}
DENSE_DATASETS = ("synthetic", "breast_cancer")


def dense_specs(datasets: Iterable[str] = DENSE_DATASETS) -> list[ZooSpec]:
    return [ZooSpec("sklearn", d, kind) for d in datasets if d in DENSE_DATASETS for kind in DENSE]


TRAINERS: dict[str, Callable[[str, int, int, np.ndarray, np.ndarray, tuple[int, ...]], Any]] = {
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "catboost": _catboost,
    "sklearn": _sklearn,
}


def train(framework: str, task: str, trees: int, depth: int, X: np.ndarray, y: np.ndarray,
          categorical: tuple[int, ...] = ()) -> Any:
    """A fitted model; ``categorical`` columns hold category codes, declared the framework's way."""
    return TRAINERS[framework](task, trees, depth, X, y, categorical)


# The zoo's frameworks: the adapter table's (the one list), those the zoo knows how to train.
FRAMEWORKS = tuple(name for name in framework_names() if name in TRAINERS)


def zoo_specs(
    *,
    frameworks: Iterable[str] = FRAMEWORKS,
    datasets: Iterable[str] = BENCH_DATASETS,
    sizes: Iterable[str] = ("small",),
) -> list[ZooSpec]:
    return [ZooSpec(f, d, s) for f in frameworks for d in datasets for s in sizes]


@cache
def _data(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    X_train, y_train, X_test, _, task = _split(dataset)
    return X_train, y_train, X_test, task


@cache
def _split(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    X, y, task = DATASETS[dataset]()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    n_train = int(len(X) * 0.8)
    X = X.astype(np.float32)
    return X[order[:n_train]], y[order[:n_train]], X[order[n_train:]], y[order[n_train:]], task


@cache
def build(spec: ZooSpec) -> ZooModel:
    """Trains (once per process) the model a spec names."""
    if spec.framework not in TRAINERS:
        raise KeyError(f"unknown framework {spec.framework!r}; known: {', '.join(TRAINERS)}")
    X_train, y_train, X_test, y_test, task = _split(spec.dataset)
    if spec.size in DENSE and spec.framework == "sklearn":
        # float64 rows: scikit-learn's dense models compute in the input's dtype, and a float32
        # row would be checked against float32 arithmetic the float64 graph does not do
        return ZooModel(spec, DENSE[spec.size](task, X_train, y_train), X_test.astype(np.float64), task, y_test)
    size = SIZES[spec.size]
    model = train(spec.framework, task, size["trees"], size["depth"], X_train, y_train,
                  CATEGORICAL.get(spec.dataset, ()))
    return ZooModel(spec, model, X_test, task, y_test)


def build_zoo(specs: Iterable[ZooSpec]) -> list[ZooModel]:
    return [build(s) for s in specs]
