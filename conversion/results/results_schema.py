"""A results file is untrusted input: it is checked against the schema before anything reads it.

Results files travel between CI jobs and forks. Every field onnxgate reads is checked for its
type, numbers the gate judges or the report plots are finite, and nesting is bounded, so a
damaged or crafted file is one ResultsError naming the field's path
(``benchmarks[3].extra_info.ratio_rounds[7]``), never a traceback deep in the gate, a NaN
judged "unchanged", or a crash in matplotlib. A latency row's fields are checked against the
types of :class:`Record`, so they are declared once.
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

from conversion.errors import ResultsError

__all__ = ["MAX_DEPTH", "check_bench_document", "check_depth", "check_run_document", "check_run_rows", "finite_or_null"]

MAX_DEPTH = 64  # a results file nests about 7 deep; a baseline's history about 6
# Record fields that may be NaN: what an onnxgate.run/1 row never kept, and a rate over a zero p50.
_MAY_BE_NAN = frozenset({"min", "stddev", "rows_per_s"})

Check = Callable[[Any, str], None]


class _FieldError(Exception):
    """One violation: the field's path and what is wrong with it."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(where, problem)
        self.where, self.problem = where, problem


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(*, finite: bool = True) -> Check:
    def check(value: Any, where: str) -> None:
        if not _is_number(value):
            raise _FieldError(where, f"{_kind(value)}, expected a number")
        if finite and not math.isfinite(value):
            raise _FieldError(where, f"{value}, expected a finite number")
    return check


def integer(*, minimum: int | None = None) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _FieldError(where, f"{_kind(value)}, expected an integer")
        if minimum is not None and value < minimum:
            raise _FieldError(where, f"{value}, expected an integer of at least {minimum}")
    return check


def of_type(kind: type, name: str) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, kind):
            raise _FieldError(where, f"{_kind(value)}, expected {name}")
    return check


STRING, BOOLEAN, OBJECT = of_type(str, "a string"), of_type(bool, "true or false"), of_type(dict, "an object")


def optional(inner: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if value is not None:
            inner(value, where)
    return check


def list_of(item: Check, *, non_empty: bool = False) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, list):
            raise _FieldError(where, f"{_kind(value)}, expected a list")
        if non_empty and not value:
            raise _FieldError(where, "an empty list, expected at least one entry")
        for i, v in enumerate(value):
            item(v, f"{where}[{i}]")
    return check


def map_of(item: Check) -> Check:
    def check(value: Any, where: str) -> None:
        OBJECT(value, where)
        for k, v in value.items():
            item(v, f"{where}.{k}")
    return check


def fields_of(required: dict[str, Check], optional_fields: dict[str, Check] | None = None) -> Check:
    """An object with these fields (others are left alone: nothing reads them)."""
    def check(value: Any, where: str) -> None:
        OBJECT(value, where)
        for key, inner in required.items():
            if key not in value:
                raise _FieldError(f"{where}.{key}", "missing")
            inner(value[key], f"{where}.{key}")
        for key, inner in (optional_fields or {}).items():
            if key in value:
                inner(value[key], f"{where}.{key}")
    return check


def _from_hint(hint: Any, *, finite: bool) -> Check:
    """A check for one Record field's type hint: str, int, float, X | None, tuple[float, ...], dict[...]."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return optional(_from_hint(inner[0], finite=finite))
    if origin is tuple:
        return list_of(_from_hint(args[0], finite=finite))
    if origin is dict:
        return map_of(_from_hint(args[1], finite=finite)) if args[1] is not Any else OBJECT
    simple = {str: STRING, int: integer(), float: number(finite=finite), bool: BOOLEAN}
    if hint in simple:
        return simple[hint]
    return lambda value, where: None  # Any


@functools.cache
def _record_checks(record: type) -> tuple[dict[str, Check], frozenset[str]]:
    """Each field's check of the row dataclass ``record`` (benchmark_runs.Record), and the fields a
    row must have (no default). The class is passed in: it lives in the module that calls this."""
    hints = typing.get_type_hints(record)
    checks = {f.name: _from_hint(hints[f.name], finite=f.name not in _MAY_BE_NAN) for f in fields(record)}
    checks["batch_size"] = integer(minimum=1)
    required = frozenset(f.name for f in fields(record) if f.default is MISSING and f.default_factory is MISSING)
    return checks, required


def _latency_extra_info(record: type) -> Check:
    """A latency benchmark's extra_info: the Record fields it carries, by their Record types."""
    checks, _ = _record_checks(record)
    return fields_of({k: checks[k] for k in ("framework", "model", "runtime", "batch_size")},
                     {k: c for k, c in checks.items()
                      if k not in ("name", "group", "source", "machine_id", "commit", "datetime")})


_STATS = fields_of({k: number() for k in ("mean", "min", "max")},
                   {**{k: number() for k in ("median", "p50", "p90", "p99", "stddev")},
                    "rounds": integer(minimum=0), "data": list_of(number())})


def _benchmark(record: type) -> Check:
    latency = _latency_extra_info(record)

    def check(value: Any, where: str) -> None:
        fields_of({}, {"name": STRING, "group": optional(STRING), "extra_info": OBJECT, "stats": OBJECT})(value, where)
        info = value.get("extra_info") or {}
        if info.get("onnxgate_kind") == "latency":
            latency(info, f"{where}.extra_info")
            fields_of({"stats": _STATS})(value, where)
    return check


# The fingerprint's fields that names, labels and comparisons read (baseline_choice.py).
_MACHINE = fields_of({}, {"cpu_model": STRING, "cpu_count": integer(minimum=1), "arch": STRING, "system": STRING,
                          "cpu_flags": list_of(STRING)})


def _bench(record: type) -> Check:
    return fields_of(
        {"machine_info": fields_of({"onnxgate": fields_of({"machine_id": STRING},
                                                          {"machine": _MACHINE, "software": OBJECT})}),
         "benchmarks": list_of(_benchmark(record), non_empty=True)},
        {"onnxgate_profile": optional(STRING), "datetime": optional(STRING),
         "commit_info": optional(fields_of({}, {"id": optional(STRING), "dirty": optional(BOOLEAN)})),
         "onnxgate_baseline_history": optional(list_of(OBJECT))},
    )


def _run_row(record: type, round_fields: tuple[str, ...]) -> Check:
    checks, required = _record_checks(record)
    return fields_of({k: checks[k] for k in required - set(round_fields)},
                     {k: c for k, c in checks.items() if k not in required})


_ISSUE = fields_of({}, {"url": STRING, "why": STRING})
_RUN = fields_of(
    {},
    {"created": optional(STRING), "profile": optional(STRING), "manifest": optional(OBJECT),
     "models": optional(list_of(fields_of({"name": STRING}))),
     "parity": optional(list_of(fields_of({k: STRING for k in ("framework", "model", "path", "data_kind", "status")},
                                          {"issue": optional(_ISSUE)}))),
     "gate": optional(OBJECT), "notes": optional(list_of(STRING))},
)


def check_depth(doc: Any, source: str) -> None:
    """ResultsError if ``doc`` nests deeper than MAX_DEPTH (walked without recursion)."""
    todo = [(doc, 1)]
    while todo:
        value, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise ResultsError(f"{source} nests deeper than {MAX_DEPTH} levels; it is not a results file onnxgate "
                               "wrote (damaged or crafted)")
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)


def _checked(check: Check, doc: Any, source: str, made_by: str, root: str = "") -> None:
    try:
        check(doc, root)
    except _FieldError as bad:
        where = bad.where.lstrip(".") or "the top level"
        raise ResultsError(f"{source}: {where} is {bad.problem}; the file is damaged or was not written by "
                           f"{made_by}") from None


def check_bench_document(doc: dict[str, Any], source: str, record: type) -> None:
    """ResultsError naming the first field of a pytest-benchmark results file that onnxgate cannot read;
    a latency row's fields by the types of ``record`` (benchmark_runs.Record)."""
    _checked(_bench(record), doc, source, "`onnxgate bench`")


def check_run_document(doc: dict[str, Any], source: str) -> None:
    """ResultsError naming the first field of an onnxgate.run file that onnxgate cannot read (its latency
    rows: check_run_rows, once an old row has today's fields)."""
    _checked(_RUN, doc, source, "`onnxgate run`")


def check_run_rows(rows: list[Any], source: str, record: type, round_fields: tuple[str, ...]) -> None:
    """ResultsError naming the first field of a run file's latency rows that is not of its ``record``
    type; ``round_fields`` are the ones a run file does not keep."""
    _checked(list_of(_run_row(record, round_fields)), rows, source, "`onnxgate run`", root="latency")


def finite_or_null(doc: Any) -> Any:
    """``doc`` with every NaN or infinity replaced by null: JSON has no such numbers, and strict readers
    refuse the bare ``NaN`` token Python writes."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return None
    if isinstance(doc, dict):
        return {k: finite_or_null(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [finite_or_null(v) for v in doc]
    return doc
