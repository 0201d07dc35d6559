"""Parity assertions and input strategies for your own tests (in the style of ``numpy.testing``).

``assert_parity`` raises ``AssertionError`` with the whole triage of ``check_parity``, so a
failing test says which rows differ and why. The hypothesis strategies draw rows where a
converter goes wrong: on the model's own split thresholds and one step either side, NaN,
±inf, ±0.0, subnormals, single rows and empty batches. hypothesis is imported only when a
strategy is built; without it they raise ``MissingDependencyError`` naming the extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .converter.converted import ConvertedModel
from .errors import MissingDependencyError
from .parity.check import ParityReport, Tolerance, check_parity
from .parity.tree_summary import summarize_trees

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = ["assert_parity", "parity_message", "parity_inputs", "parity_batches", "probe_batch", "edge_values", "around",
           "category_values"]

# The extra that installs hypothesis; named in the error when it is missing.
HYPOTHESIS_EXTRA = "test"


def assert_parity(
    model: Any,
    converted: ConvertedModel,
    X: Any,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    tolerance: Tolerance | dict[str, Tolerance] | None = None,
    engine: Any = None,
    worst: int = 5,
) -> ParityReport:
    """Raises ``AssertionError`` with the readable triage unless ONNX matches native on ``X``.

    Without a tolerance the default one applies (summation error only; labels exact). ``atol``
    / ``rtol`` set one tolerance for every score output; ``tolerance`` gives a ``Tolerance`` or
    one per method. Returns the report when parity holds.
    """
    if tolerance is not None and (atol is not None or rtol is not None):
        raise TypeError("assert_parity: pass either atol/rtol or tolerance, not both")
    if atol is not None or rtol is not None:
        tolerance = Tolerance(atol=atol or 0.0, rtol=rtol or 0.0, why="given to assert_parity")
    report = check_parity(model, converted, X, tolerance=tolerance, engine=engine, worst=worst)
    if not report.passed:
        raise AssertionError(parity_message(report, converted))
    return report


def parity_message(report: ParityReport, converted: ConvertedModel | None = None) -> str:
    """The failure text: what differed, on how many rows, by how much, why, and the tolerance."""
    what = f"{converted.framework} {converted.task} model ({converted.dtype})" if converted is not None else "model"
    share = f" ({report.mismatched_rows / report.n_rows:.1%})" if report.n_rows else ""
    lines = [
        f"ONNX output is not equal to native output of the {what} within tolerance",
        "",
        f"Mismatched rows: {report.mismatched_rows} / {report.n_rows}{share}",
    ]
    if report.label_flips:
        lines.append(f"Label flips: {report.label_flips}")
    lines += [f"Max absolute difference: {report.max_abs_error:.6g}",
              f"Max relative difference: {report.max_rel_error:.6g}"]
    if report.causes:
        lines.append("Cause per mismatched row: " + ", ".join(f"{k}={v}" for k, v in sorted(report.causes.items()))
                     + "  (threshold_ulp: within one float32 step of a split; nan_inf_routing: NaN/inf on a split"
                     " feature; other: neither, a real conversion error)")
    lines += [f"Problem: {p}" for p in report.problems]
    for method, tol in report.tolerances.items():
        rule = "exact" if tol.exact else f"atol={tol.atol:.3g}, rtol={tol.rtol:.3g}"
        lines.append(f"Tolerance [{method}]: {rule}" + (f" ({tol.why})" if tol.why else ""))
    if report.worst_rows:
        lines.append("First mismatched rows:")
        for w in report.worst_rows:
            lines.append(f"  row {w['row']} [{w['method']}] native={w['native']} onnx={w['onnx']} "
                         f"cause={w['cause']} x={w['x']}")
    return "\n".join(lines)


def _hypothesis_strategies() -> Any:
    try:
        from hypothesis import strategies as st
    except ImportError as exc:
        raise MissingDependencyError("hypothesis", HYPOTHESIS_EXTRA, "draw parity inputs with hypothesis") from exc
    return st


def edge_values(
    dtype: np.dtype, *, allow_nan: bool, allow_inf: bool, extra: tuple[float, ...] = (),
    max_abs: float = float("inf"),
) -> list[float]:
    """Values where converters go wrong: missing, infinities, signed zeros, subnormals, huge
    magnitudes and integers that float32 cannot hold exactly (2**24 + 1); and ``extra``, the
    model's own special values (a missing sentinel), each with one step either side in
    ``dtype`` and in float32 (a float64 input that rounds to a float32 sentinel)."""
    info = np.finfo(dtype)
    f32_max = float(np.finfo(np.float32).max)
    values = [
        0.0,
        -0.0,
        float(info.smallest_subnormal),
        -float(info.smallest_subnormal),
        float(info.tiny) / 2,
        f32_max,
        -f32_max,
        1e30,
        -1e30,
        2.0**24 + 1,
        -(2.0**24) - 1,
    ]
    if allow_nan:
        values.append(float("nan"))
    if allow_inf:  # a model that rejects inf also rejects what overflows float32
        values += [float("inf"), float("-inf"), float(info.max), -float(info.max)]
    for v in extra:
        values += around(v, np.dtype(dtype), allow_inf) + around(v, np.dtype(np.float32), allow_inf)
    return [v for v in values if not abs(v) > max_abs]


def around(t: float, dtype: np.dtype, allow_inf: bool = True) -> list[float]:
    """A split point and one representable step on either side of it.

    A split at +-inf (scikit-learn sends all finite values one way when it learned a NaN
    direction) has neighbours beyond float32's range; a model that rejects inf rejects them too.
    """
    with np.errstate(over="ignore"):  # the step past float max is inf, on purpose
        v = np.asarray(t, dtype=dtype)
        out = [float(np.nextafter(v, dtype.type(-np.inf))), float(v), float(np.nextafter(v, dtype.type(np.inf)))]
    if allow_inf:
        return out
    limit = float(np.finfo(np.float32).max)
    return [x for x in out if abs(x) <= limit] or [0.0]


def category_values(members: np.ndarray, dtype: np.dtype, *, allow_nan: bool) -> list[float]:
    """Hostile values for a categorical column: every category seen in a split, each one a
    little off (non-integers), negatives, unseen codes, codes beyond int32 and float32's
    exact integers, +-0.0 and subnormals, and NaN."""
    cats = [float(c) for c in np.asarray(members, dtype=np.float64)]
    top = max(cats, default=0.0)
    values = [*cats, *(c + 0.5 for c in cats), *(c - 0.001 for c in cats if c > 0), 2.5, 3.999,
              -0.0, 0.0, -0.5, -0.99, -1.0, -1.5, -1e10,
              top + 1, top + 100, 255.0, 256.0, 300.0, 2.0**24 - 1, 2.0**24, 2.0**24 + 2, 2.0**31 - 1, 2.0**31,
              2.0**32 + 3, 1e10,
              float(np.finfo(dtype).smallest_subnormal), -float(np.finfo(dtype).smallest_subnormal)]
    if allow_nan:
        values.append(float("nan"))
    return values


def parity_batches(
    X_train: np.ndarray,
    splits: dict[int, np.ndarray],
    *,
    dtype: np.dtype,
    allow_nan: bool,
    allow_inf: bool,
    extra: tuple[float, ...] = (),
    max_abs: float = float("inf"),
    max_rows: int = 24,
    categories: dict[int, np.ndarray] | None = None,
    labels: dict[int, tuple[Any, ...]] | None = None,
    finite_columns: Sequence[int] = (),
) -> SearchStrategy[np.ndarray]:
    """Batches of 0..max_rows rows: training rows with some cells moved onto split points
    (and one step either side), edge values, hostile codes on ``categories``' columns (per
    feature, the members of its set splits), or all. Empty and single-row batches included.
    ``labels``: per column, category labels that a hostile code must not equal (the engine
    refuses a label where a code belongs, inputs.py). ``finite_columns`` get no +-inf (the native
    model rejects it there, see ``ConvertedModel.finite_columns``)."""
    st = _hypothesis_strategies()
    X_train = np.asarray(X_train)
    n_features = X_train.shape[1]
    split_features = sorted(splits)
    edges = st.sampled_from(edge_values(dtype, allow_nan=allow_nan, allow_inf=allow_inf, extra=extra, max_abs=max_abs))
    finite_edges = st.sampled_from(edge_values(dtype, allow_nan=allow_nan, allow_inf=False, extra=extra,
                                               max_abs=max_abs))

    def at_split(f: int) -> SearchStrategy[float]:
        return st.sampled_from(splits[f].tolist()).flatmap(lambda t: st.sampled_from(around(t, dtype, allow_inf)))

    cat_features = sorted(categories or {})

    def at_category(f: int) -> SearchStrategy[float]:
        known = {float(v) for v in (labels or {}).get(f, ()) if not isinstance(v, str)}
        values = [v for v in category_values(categories[f], dtype, allow_nan=allow_nan) if v not in known]
        return st.sampled_from(values)

    # built once per call, not once per draw: a feature can hold hundreds of split points
    split_at = {f: at_split(f) for f in split_features}
    category_at = {f: at_category(f) for f in cat_features}

    @st.composite
    def batches(draw: Any) -> np.ndarray:
        rows = draw(st.lists(st.integers(0, len(X_train) - 1), min_size=0, max_size=max_rows))
        X = X_train[rows].astype(dtype, copy=True).reshape(len(rows), n_features)
        if not rows:
            return X
        n_edits = draw(st.integers(0, 3 * len(rows)))
        for _ in range(n_edits):
            r = draw(st.integers(0, len(rows) - 1))
            if cat_features and draw(st.booleans()):
                f = draw(st.sampled_from(cat_features))
                X[r, f] = draw(category_at[f])
            elif split_features and draw(st.booleans()):
                f = draw(st.sampled_from(split_features))
                X[r, f] = draw(split_at[f])
            else:
                f = draw(st.integers(0, n_features - 1))
                X[r, f] = draw(finite_edges if f in finite_columns else edges)
        if split_features and draw(st.booleans()):
            # One row entirely on split points: every split it meets is a boundary case.
            r = draw(st.integers(0, len(rows) - 1))
            for f in split_features:
                X[r, f] = draw(split_at[f])
        return X

    return batches()


def parity_inputs(
    converted: ConvertedModel,
    X_train: Any,
    *,
    allow_nan: bool = True,
    allow_inf: bool = True,
    max_rows: int = 24,
) -> SearchStrategy[np.ndarray]:
    """Hypothesis batches for your converted model, seeded from its own split thresholds.

    ``X_train``: representative rows (e.g. your training or validation set; a DataFrame of
    category labels is read as the engine reads it, so the batches hold codes). Pass
    ``allow_nan=False`` / ``allow_inf=False`` when your native model rejects them.
    """
    from .converter.inputs import CategoryLabels, as_rows
    from .errors import InputError

    shape = getattr(X_train, "shape", np.shape(X_train))
    if len(shape) != 2 or shape[0] == 0 or shape[1] != converted.n_features:
        raise InputError(f"parity_inputs needs at least one row of {converted.n_features} features as X_train, "
                         f"got shape {tuple(shape)}")
    # a DataFrame of category labels is read as the engine reads it: the batches hold codes
    labels = CategoryLabels.from_metadata(converted.metadata)
    X = as_rows(X_train, n_features=converted.n_features, feature_names=converted.feature_names,
                categories=labels).astype(np.float64)
    trees = summarize_trees(converted.onnx)
    return parity_batches(X, trees.splits, dtype=converted.dtype, allow_nan=allow_nan, allow_inf=allow_inf,
                          max_rows=max_rows, categories=trees.categories,
                          labels=dict(labels.numeric) if labels is not None else None,
                          finite_columns=converted.finite_columns)


def probe_batch(
    X_train: np.ndarray,
    splits: dict[int, np.ndarray],
    *,
    dtype: np.dtype,
    allow_nan: bool,
    allow_inf: bool,
    extra: tuple[float, ...] = (),
    max_abs: float = float("inf"),
    seed: int = 0,
    n_rows: int = 300,
    categories: dict[int, np.ndarray] | None = None,
    finite_columns: Sequence[int] = (),
) -> np.ndarray:
    """A deterministic batch with the same ingredients, for checks that must not vary
    between runs (strict xfails of upstream converters, the report's parity matrix)."""
    rng = np.random.default_rng(seed)
    X = X_train[rng.integers(0, len(X_train), n_rows)].astype(dtype, copy=True)
    third = n_rows // 3
    for f, ts in splits.items():  # rows [0, third): one feature at a time on a split point
        vals = np.asarray([v for t in ts for v in around(t, dtype, allow_inf)], dtype=dtype)
        idx = rng.integers(0, third, vals.size)
        X[idx, f] = vals
    for f, members in (categories or {}).items():  # and every hostile category value, one per row
        vals = np.asarray(category_values(members, dtype, allow_nan=allow_nan), dtype=dtype)
        X[rng.integers(0, third, vals.size), f] = vals
    edges = np.asarray(
        edge_values(dtype, allow_nan=allow_nan, allow_inf=allow_inf, extra=extra, max_abs=max_abs), dtype=dtype
    )
    cells = rng.random((n_rows - third, X.shape[1])) < 0.25  # the rest: sprinkled edge values
    X[third:][cells] = rng.choice(edges, int(cells.sum()))
    if len(finite_columns):
        finite = np.asarray(edge_values(dtype, allow_nan=allow_nan, allow_inf=False, extra=extra, max_abs=max_abs),
                            dtype=dtype)
        for f in finite_columns:
            rows = third + np.flatnonzero(cells[:, f])
            X[rows, f] = rng.choice(finite, rows.size)
    return X
