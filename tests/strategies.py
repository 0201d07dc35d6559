"""Hypothesis strategies for parity inputs, seeded from the fitted model's own split points."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

__all__ = ["edge_values", "category_values", "parity_batches", "probe_batch", "around"]


def edge_values(dtype: np.dtype, *, allow_nan: bool, allow_inf: bool) -> list[float]:
    """Values where converters go wrong: missing, infinities, signed zeros, subnormals, huge
    magnitudes and integers that float32 cannot hold exactly (2**24 + 1)."""
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
    return values


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


@st.composite
def parity_batches(
    draw: st.DrawFn,
    X_train: np.ndarray,
    splits: dict[int, np.ndarray],
    *,
    dtype: np.dtype,
    allow_nan: bool,
    allow_inf: bool,
    max_rows: int = 24,
    categories: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """Batches of 0..max_rows rows: training rows with some cells moved onto split points
    (and one step either side), edge values, or both. Empty and single-row batches included."""
    n_features = X_train.shape[1]
    rows = draw(st.lists(st.integers(0, len(X_train) - 1), min_size=0, max_size=max_rows))
    X = X_train[rows].astype(dtype, copy=True).reshape(len(rows), n_features)
    if not rows:
        return X
    edges = st.sampled_from(edge_values(dtype, allow_nan=allow_nan, allow_inf=allow_inf))
    split_features = sorted(splits)

    def at_split(f: int) -> st.SearchStrategy[float]:
        return st.sampled_from(splits[f].tolist()).flatmap(lambda t: st.sampled_from(around(t, dtype, allow_inf)))

    categories = categories or {}
    cat_features = sorted(categories)

    def at_category(f: int) -> st.SearchStrategy[float]:
        return st.sampled_from(category_values(categories[f], dtype, allow_nan=allow_nan))

    n_edits = draw(st.integers(0, 3 * len(rows)))
    for _ in range(n_edits):
        r = draw(st.integers(0, len(rows) - 1))
        if cat_features and draw(st.booleans()):
            f = draw(st.sampled_from(cat_features))
            X[r, f] = draw(at_category(f))
        elif split_features and draw(st.booleans()):
            f = draw(st.sampled_from(split_features))
            X[r, f] = draw(at_split(f))
        else:
            X[r, draw(st.integers(0, n_features - 1))] = draw(edges)
    if split_features and draw(st.booleans()):
        # One row entirely on split points: every split it meets is a boundary case.
        r = draw(st.integers(0, len(rows) - 1))
        for f in split_features:
            X[r, f] = draw(at_split(f))
    return X


def probe_batch(
    X_train: np.ndarray,
    splits: dict[int, np.ndarray],
    *,
    dtype: np.dtype,
    allow_nan: bool,
    allow_inf: bool,
    seed: int = 0,
    n_rows: int = 300,
    categories: dict[int, np.ndarray] | None = None,
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
    edges = np.asarray(edge_values(dtype, allow_nan=allow_nan, allow_inf=allow_inf), dtype=dtype)
    cells = rng.random((n_rows - third, X.shape[1])) < 0.25  # the rest: sprinkled edge values
    X[third:][cells] = rng.choice(edges, int(cells.sum()))
    return X
