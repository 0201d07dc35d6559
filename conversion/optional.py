"""Optional dependencies: import one, or raise MissingDependencyError naming the pip extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["import_optional"]


def import_optional(package: str, extra: str, purpose: str = "") -> ModuleType:
    """Imports ``package`` or raises MissingDependencyError naming the pip extra."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise MissingDependencyError(package, extra, purpose) from exc
