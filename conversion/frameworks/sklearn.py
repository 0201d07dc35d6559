"""sklearn adapter (in progress)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UnsupportedModelError
from .base import Adapter


class SklearnAdapter(Adapter):
    name = "sklearn"
    package = "sklearn"
    extra = "sklearn"
    supported = ()

    def to_ir(self, model: Any):
        raise UnsupportedModelError("sklearn conversion is not implemented yet")

    def native(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        return getattr(model, method)(X)

    def native_bytes(self, model: Any) -> bytes:
        raise UnsupportedModelError("sklearn conversion is not implemented yet")
