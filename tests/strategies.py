"""Hypothesis strategies for the parity matrix: the ones users get from conversion.testing.

They live in the package so a user's own tests draw the same inputs as this matrix does.
"""

from __future__ import annotations

from conversion.testing import around, category_values, edge_values, parity_batches, probe_batch

__all__ = ["edge_values", "category_values", "parity_batches", "probe_batch", "around"]
