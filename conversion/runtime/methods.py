"""The native method names every serving object offers, as calls of its ``run``."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NativeMethods"]


class NativeMethods:
    """``predict``, ``predict_proba`` and ``decision_function`` as ``run(method, X)``."""

    def run(self, method: str, X: Any) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        return self.run("predict", X)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.run("predict_proba", X)

    def decision_function(self, X: Any) -> np.ndarray:
        return self.run("decision_function", X)
