"""InferenceEngine: ONNX Runtime sessions that return what the native model's methods return."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from .converted import ConvertedModel, load
from .errors import InputError
from .inputs import as_matrix

__all__ = ["InferenceEngine"]


class InferenceEngine:
    """Runs a converted model in ONNX Runtime.

    ``predict``, ``predict_proba`` and ``decision_function`` exist where the native model has
    them and return the same shapes, classes and dtypes.
    """

    def __init__(
        self,
        converted: ConvertedModel | str | os.PathLike[str],
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
    ) -> None:
        self.model = converted if isinstance(converted, ConvertedModel) else load(Path(converted))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            self.model.to_bytes(), sess_options=opts, providers=providers or ["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0].name
        self._widths = {o.name: (o.shape[1] if len(o.shape) > 1 else None) for o in self.session.get_outputs()}
        meta = self.model.metadata
        self._allow_nan = meta.get("allow_nan", "true") == "true"
        self._allow_inf = meta.get("allow_inf", "true") == "true"

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def _prepare(self, X: Any) -> np.ndarray:
        return as_matrix(
            X,
            n_features=self.model.n_features,
            dtype=self.model.dtype,
            allow_nan=self._allow_nan,
            allow_inf=self._allow_inf,
        )

    def run(self, method: str, X: Any) -> np.ndarray:
        if method not in self.model.methods:
            raise InputError(
                f"this {self.model.framework} model has no {method}(); it has: {', '.join(self.model.methods)}"
            )
        arr = self._prepare(X)
        native_dtype = np.dtype(self.model.methods[method])
        if arr.shape[0] == 0:
            width = self._widths[method]
            return np.empty((0,) if width is None else (0, width), dtype=native_dtype)
        out = self.session.run([method], {self._input: arr})[0]
        return out.astype(native_dtype, copy=False)

    def predict(self, X: Any) -> np.ndarray:
        return self.run("predict", X)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.run("predict_proba", X)

    def decision_function(self, X: Any) -> np.ndarray:
        return self.run("decision_function", X)
