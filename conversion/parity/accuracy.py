"""The verdict of a lossy variant (INT8, float16): a stated accuracy delta against the native model.

A quantized graph is never "exact", so its verdict is not parity: it is how far its scores move
(max and mean absolute error), how many labels flip, and, where the true labels are given, how
much the model's own score (accuracy, or R² for a regressor) changes on those rows. The user
sets the tolerance it is judged against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..converter.converted import ConvertedModel
from ..errors import InputError

__all__ = ["AccuracyDelta", "AccuracyTolerance", "accuracy_delta"]


@dataclass(frozen=True)
class AccuracyTolerance:
    """How far a variant may move from the native model: scores by ``max_abs``, labels on at most
    ``flip_rate`` of the rows, the model's own score down by at most ``score_drop``."""

    max_abs: float = 0.05
    flip_rate: float = 0.01
    score_drop: float = 0.01

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value >= 0:
                raise InputError(f"accuracy tolerance {name}={value!r}; it must be a number >= 0")


@dataclass(frozen=True)
class AccuracyDelta:
    """A variant's outputs against the native model's on the same rows."""

    variant: str
    n_rows: int
    output: str  # the score output compared (predict_proba, decision_function or predict)
    max_abs_error: float
    mean_abs_error: float
    label_flips: int | None  # None for a regressor
    score_name: str | None  # "accuracy" or "r2", when labels were given
    score_native: float | None
    score_variant: float | None
    tolerance: AccuracyTolerance

    @property
    def score_delta(self) -> float | None:
        if self.score_native is None or self.score_variant is None:
            return None
        return self.score_variant - self.score_native

    @property
    def failures(self) -> list[str]:
        """What exceeds the tolerance, in words; empty when the variant is within it."""
        tol, out = self.tolerance, []
        if self.max_abs_error > tol.max_abs:
            out.append(f"max abs error {self.max_abs_error:.3g} > {tol.max_abs:g}")
        if self.label_flips is not None and self.n_rows and self.label_flips / self.n_rows > tol.flip_rate:
            out.append(f"{self.label_flips} label flips ({self.label_flips / self.n_rows:.2%}) > {tol.flip_rate:.2%}")
        if self.score_delta is not None and -self.score_delta > tol.score_drop:
            out.append(f"{self.score_name} drops by {-self.score_delta:.4f} > {tol.score_drop:g}")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "n_rows": self.n_rows, "output": self.output,
                "max_abs_error": self.max_abs_error, "mean_abs_error": self.mean_abs_error,
                "label_flips": self.label_flips, "score_name": self.score_name, "score_native": self.score_native,
                "score_variant": self.score_variant, "score_delta": self.score_delta, "passed": self.passed,
                "tolerance": asdict(self.tolerance), "failures": self.failures}

    def __str__(self) -> str:
        head = "within tolerance" if self.passed else "OUTSIDE tolerance"
        flips = "" if self.label_flips is None else f", {self.label_flips} label flips"
        score = ("" if self.score_delta is None else
                 f", {self.score_name} {self.score_native:.4f} -> {self.score_variant:.4f} ({self.score_delta:+.4f})")
        text = (f"{self.variant} (not exact): {head} on {self.n_rows} rows; {self.output} max abs error "
                f"{self.max_abs_error:.3g}, mean {self.mean_abs_error:.3g}{flips}{score}")
        return text + "".join(f"\n  exceeds: {f}" for f in self.failures)


def _score(task: str, labels: np.ndarray, y: np.ndarray) -> tuple[str, float]:
    if task == "classification":
        return "accuracy", float(np.mean(labels == y))
    y = y.astype(np.float64)
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum((y - labels.astype(np.float64)) ** 2))
    return "r2", (1.0 - residual / total) if total > 0 else float("nan")


def accuracy_delta(
    model: Any,
    variant: ConvertedModel,
    X: Any,
    y: Any = None,
    *,
    tolerance: AccuracyTolerance | None = None,
    engine: Any = None,
) -> AccuracyDelta:
    """Runs the native model and the variant on ``X`` and states how far the variant moves.

    ``y``: the rows' true labels or targets, for the delta of the model's own score.
    """
    from ..converter.frameworks import adapter_named
    from ..converter.inputs import as_rows
    from ..runtime.engine import InferenceEngine

    adapter = adapter_named(variant.framework)
    engine = engine or InferenceEngine(variant)
    Xn = as_rows(X, n_features=variant.n_features, feature_names=variant.feature_names)
    if y is not None and len(y) != Xn.shape[0]:
        raise InputError(f"{len(y)} labels were given for {Xn.shape[0]} rows; give one label per row")
    output = next(m for m in ("predict_proba", "decision_function", "predict") if m in variant.methods)
    # The variant is served the rows in its own dtype (a float32 graph refuses float64 rows of a
    # model that computes in its input's dtype); the native model gets them as given.
    Xv = Xn.astype(variant.dtype, copy=False) if Xn.dtype.kind == "f" else Xn
    native = np.asarray(adapter.native_rows(model, output, Xn), dtype=np.float64)
    got = np.asarray(engine.run(output, Xv), dtype=np.float64)
    diff = np.abs(got - native)
    labels_native = adapter.native_rows(model, "predict", Xn)
    labels_variant = engine.run("predict", Xv)
    classifier = variant.task == "classification"
    flips = int(np.sum(labels_native != labels_variant)) if classifier else None
    name = s_native = s_variant = None
    if y is not None and Xn.shape[0]:
        y_arr = np.asarray(y)
        name, s_native = _score(variant.task, labels_native, y_arr)
        _, s_variant = _score(variant.task, labels_variant, y_arr)
    return AccuracyDelta(
        variant=variant.metadata.get("variant", "float"), n_rows=int(Xn.shape[0]), output=output,
        max_abs_error=float(diff.max(initial=0.0)), mean_abs_error=float(diff.mean()) if diff.size else 0.0,
        label_flips=flips, score_name=name, score_native=s_native, score_variant=s_variant,
        tolerance=tolerance or AccuracyTolerance())
