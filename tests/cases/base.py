"""A parity case: how to fit one model configuration, and what to expect of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

__all__ = ["Case", "dataset", "categorical_dataset"]


@dataclass(frozen=True)
class Case:
    """``build`` returns ``(fitted model, training X)``.

    ``nan`` / ``inf``: the native model accepts them at predict time, so parity inputs use
    them. ``refused``: ``convert()`` must raise this error class with a message matching the
    regex. ``upstream_xfail``: the public converter is known to be wrong here; the reason
    names the upstream issue and the test is xfail(strict=True), so a fix shows as XPASS.
    ``upstream``: whether a public converter exists for this model at all. ``edges``: values
    this model treats specially (XGBoost's ``missing=`` sentinel), fed to it besides the usual
    edge values, with one representable step either side. ``max_abs``: the largest input
    magnitude fed; models whose float32 dot products overflow in an order-dependent way (the
    native BLAS and ONNX Runtime add partial sums in different orders, so a row of +-3.4e38
    gives NaN on one side and inf on the other) are fed values below it.
    """

    id: str
    framework: str
    build: Callable[[], tuple[Any, np.ndarray]]
    nan: bool = True
    inf: bool = True
    refused: tuple[type[Exception], str] | None = None
    upstream: bool = True
    upstream_xfail: str | None = None
    edges: tuple[float, ...] = ()
    max_abs: float = float("inf")

    def __str__(self) -> str:
        return self.id

    def fit(self) -> tuple[Any, np.ndarray]:
        return _fit(self)


@cache
def _fit(case: Case) -> tuple[Any, np.ndarray]:
    return case.build()


@cache
def dataset(
    task: str = "binary",
    *,
    n: int = 600,
    features: int = 8,
    nan: float = 0.0,
    classes: int = 3,
    seed: int = 0,
    positive: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Small float32-exact training data; ``nan`` is the fraction of cells set missing."""
    from sklearn.datasets import make_classification, make_regression

    if task == "regression":
        X, y = make_regression(
            n_samples=n, n_features=features, n_informative=features // 2, noise=5.0, random_state=seed
        )
        if positive:  # Poisson/gamma/tweedie targets
            y = np.exp((y - y.mean()) / (3 * y.std()))
    else:
        k = 2 if task == "binary" else classes
        X, y = make_classification(
            n_samples=n,
            n_features=features,
            n_informative=features // 2 + 1,
            n_classes=k,
            n_clusters_per_class=1,
            random_state=seed,
        )
    X = X.astype(np.float32).astype(np.float64)
    if nan:
        rng = np.random.default_rng(seed)
        X[rng.random(X.shape) < nan] = np.nan
    X.setflags(write=False)
    return X, y


@cache
def categorical_dataset(task: str = "binary", *, n: int = 900, classes: int = 3, seed: int = 0,
                        nan: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Columns 0 and 3 hold category codes (30 and 6 categories), the others numbers; the
    target depends on the categories, so the trees split on them with sets of many sizes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 0] = rng.integers(0, 30, n)
    X[:, 3] = rng.integers(0, 6, n)
    effect = rng.normal(size=30) * 2
    score = effect[X[:, 0].astype(int)] + X[:, 1] + 0.5 * (X[:, 3] % 3)
    if task == "regression":
        y = score + rng.normal(scale=0.3, size=n)
    elif task == "binary":
        y = (score > np.median(score)).astype(int)
    else:
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    X = X.astype(np.float32).astype(np.float64)
    if nan:  # after the target: missing cells hide what decided it, as in real data
        X[rng.random(X.shape) < nan] = np.nan
    X.setflags(write=False)
    return X, y
