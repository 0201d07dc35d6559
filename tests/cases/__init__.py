"""The parity model zoo: one module per framework, each a list of Case."""

from __future__ import annotations

from .base import Case
from .catboost import CASES as CATBOOST
from .lightgbm import CASES as LIGHTGBM
from .sklearn import CASES as SKLEARN
from .xgboost import CASES as XGBOOST

ALL_CASES: list[Case] = [*XGBOOST, *LIGHTGBM, *CATBOOST, *SKLEARN]

__all__ = ["ALL_CASES", "Case"]
