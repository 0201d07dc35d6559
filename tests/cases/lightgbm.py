"""lightgbm parity cases."""

from __future__ import annotations

from .base import Case

CASES: list[Case] = []
