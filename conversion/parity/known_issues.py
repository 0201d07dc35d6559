"""Known upstream bugs a parity cell may hit, so the report links a failure to its cause.

A cell that matches is shown as an expected failure (xfail) with the link, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["KNOWN_ISSUES", "KnownIssue", "match_known_issue"]


@dataclass(frozen=True)
class KnownIssue:
    framework: str
    path: str  # "onnxgate" or "upstream"
    data_kinds: tuple[str, ...]
    statuses: tuple[str, ...]
    url: str
    why: str

    def matches(self, cell: dict[str, Any]) -> bool:
        return (
            cell.get("framework") == self.framework
            and cell.get("path") == self.path
            and cell.get("data_kind") in self.data_kinds
            and cell.get("status") in self.statuses
        )


KNOWN_ISSUES: tuple[KnownIssue, ...] = (
    KnownIssue("xgboost", "upstream", ("clean", "nan"), ("wrong",),
               "https://github.com/onnx/onnxmltools/issues/732",
               "onnxmltools reads XGBoost >= 3.1's per-class base_score vector wrongly"),
    KnownIssue("sklearn", "upstream", ("nan",), ("wrong",),
               "https://github.com/onnx/sklearn-onnx/issues/1253",
               "skl2onnx ignores scikit-learn trees' NaN routing: a tree trained without NaN sends NaN "
               "to the child with more samples, one trained with NaN learns missing_go_to_left (dropped, #1253)"),
    KnownIssue("sklearn", "upstream", ("categorical",), ("wrong", "refused", "error"),
               "https://github.com/onnx/sklearn-onnx/issues/1051",
               "skl2onnx does not emit HistGradientBoosting bitset (categorical) splits"),
    KnownIssue("catboost", "upstream", ("categorical",), ("refused", "error"),
               "https://github.com/catboost/catboost/issues/863",
               "CatBoost's ONNX exporter cannot export categorical features"),
    KnownIssue("xgboost", "upstream", ("categorical",), ("wrong", "error"),
               "https://github.com/onnx/onnxmltools/pull/773",
               "onnxmltools compares XGBoost category codes as raw floats (no float32 truncation, no invalid-category "
               "rule); fix of the codes still open"),
    KnownIssue("lightgbm", "upstream", ("categorical",), ("wrong",),
               "https://github.com/onnx/onnxmltools/pull/464",
               "onnxmltools' LightGBM categorical set splits"),
)


def match_known_issue(cell: dict[str, Any]) -> KnownIssue | None:
    return next((k for k in KNOWN_ISSUES if k.matches(cell)), None)
