"""Data rows from a CSV file, read strictly: numbers or a refusal, never a guess.

numpy's genfromtxt turns a text cell into NaN, reads quoted numbers as NaN, and ignores the
header, so a wrong file used to give wrong rows and a "parity passed". Here a header's names
are matched to the model's feature names (reordered when all are there, refused otherwise), a
quoted or non-numeric cell is refused naming its row and column, and a file without data rows
says so. An empty cell, ``nan`` or ``NaN`` is a missing value; ``inf``/``-inf`` are read as such.

A column of a model trained on pandas categories holds labels, as ``DataFrame.to_csv`` writes
them: each cell is read as a label (a number where the model's labels are numbers, quoted or
not) and mapped to its code as the input layer maps a DataFrame's labels (inputs.py).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conversion.converter.inputs import CategoryLabels, column_order
from conversion.errors import InputError
from conversion.regular_files import read_regular_file

__all__ = ["read_csv_rows"]

_MISSING = frozenset({"", "nan", "NaN", "NAN", "NA", "null"})


def _number(cell: str) -> float | None:
    text = cell.strip()
    if text in _MISSING:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return None


def _is_header(fields: list[str], n_features: int | None) -> bool:
    """A first line is a header when a cell is not a number, or it is 0,1,..,n-1 (pandas' default names)."""
    if any(_number(f) is None for f in fields):
        return True
    return [f.strip() for f in fields] == [str(i) for i in range(len(fields))] and len(fields) == (n_features or 0)


def _label(cell: str, numeric: bool) -> Any:
    """A label cell as the model's labels are typed: a number where they are numbers. Spaces
    belong to a text label; an empty cell (or ``nan``, ``NA``, ...) is missing, as pandas reads it."""
    if cell in _MISSING:
        return None
    if numeric:
        value = _number(cell)
        if value is not None:
            return value
    return cell


def _difference(header: Sequence[str] | None, feature_names: Sequence[str] | None, width: int,
                n_features: int) -> str:
    """Which columns are missing or extra: by name when both sides have names, else by count."""
    if header is not None and feature_names is not None:
        have = [h.strip() for h in header]
        missing = [f for f in feature_names if f not in have]
        extra = [h for h in have if h not in feature_names]
        parts = [f"{what} {', '.join(names)}" for what, names in (("missing", missing), ("extra", extra)) if names]
        if parts:
            return f": {'; '.join(parts)}"
    if feature_names is not None and width < n_features and header is None:
        return f": without a header, the last {n_features - width} would be {', '.join(feature_names[width:][:5])}"
    return ""


def read_csv_rows(path: Path, n_features: int | None, feature_names: Sequence[str] | None,
                  categories: CategoryLabels | None = None) -> np.ndarray:
    """The file's rows as float64, columns in the model's order, category labels as codes, or
    InputError saying what is wrong."""
    raw = read_regular_file(path, what="data file", kind="data", error=InputError)
    try:
        text = raw.decode("utf-8-sig")  # a BOM (Excel writes one) is not part of the first cell
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read data rows from {path}: it is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                         f"offset {exc.start}); pass a numeric .csv or a .npy array") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{path} is empty; it needs one row of numbers per line (a header line is optional)")
    table = list(csv.reader(lines))
    header = table[0] if _is_header(table[0], n_features) else None
    first = 1 if header is not None else 0
    body, raw = table[first:], lines[first:]
    if not body:
        raise InputError(f"{path} has a header line but no data rows; add the rows to check")
    width = len(table[0])
    if n_features is not None and width != n_features:
        named = f" ({', '.join(h.strip() for h in header)})" if header else ""
        hint = "; its first column has no name: a DataFrame index? write it with index=False" if (
            header and not header[0].strip()) else ""
        raise InputError(f"{path} has {width} columns{named}, but the model expects {n_features} features"
                         f"{_difference(header, feature_names, width, n_features)}{hint}")
    order = None
    if header is not None and feature_names is not None:
        order = column_order([h.strip() for h in header], feature_names, what=str(path))
    source = order if order is not None else list(range(width))  # file column of each model column
    labelled = {source[f]: f for f in (categories.columns if categories is not None else {})}
    numeric_labels = categories.numeric if categories is not None else {}
    rows = np.empty((len(body), width), dtype=np.float64)
    cells: dict[int, list[Any]] = {j: [] for j in labelled}
    for i, (fields, line) in enumerate(zip(body, raw, strict=True)):
        where = f"{path} line {i + first + 1}"
        if len(fields) != width:
            raise InputError(f"{where} has {len(fields)} cells, but the first line has {width}")
        if ('"' in line or "'" in line) and not labelled:  # label columns may be quoted (to_csv does)
            raise InputError(
                f"{where} has quoted cells ({line[:60]!r}); quoted values are text. Write numbers unquoted "
                "(pandas: to_csv(quoting=csv.QUOTE_MINIMAL), the default)"
            )
        for j, cell in enumerate(fields):
            if j in labelled:
                cells[j].append(_label(cell, labelled[j] in numeric_labels))
                continue
            value = _number(cell)
            if value is None:
                column = f"column {header[j].strip()!r}" if header else f"column {j}"
                raise InputError(
                    f"{where}, {column} holds text ({cell.strip()[:40]!r}); the model takes numbers only: "
                    "encode that column as it was encoded for training, or drop it"
                )
            rows[i, j] = value
    for j, f in labelled.items():
        name = header[j].strip() if header else f"column {j}"
        rows[:, j] = categories.codes(cells[j], f, name)
    if order is not None:
        rows = rows[:, order]
    return rows
