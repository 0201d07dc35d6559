"""ONNXConverter: the seed project's interface, kept call-compatible, over onnxgate's core.

Unlike the seed, failures are not swallowed: a model that cannot be converted exactly raises
one of onnxgate's errors saying why, instead of returning None and serving something else.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .converter.frameworks import adapters, framework_names
from .errors import InputError

__all__ = ["ONNXConverter"]

_CONVERTERS: dict[str, tuple[tuple[str, ...], str]] = {
    "onnx": (("onnx",), "core"),
    # onnxruntime comes as one of several distributions, all importing as `onnxruntime`.
    "onnxruntime": (("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"), "core"),
    "onnxmltools": (("onnxmltools",), "xgboost"),
    "skl2onnx": (("skl2onnx",), "sklearn"),
    "skops": (("skops",), "sklearn"),
}
_MODEL_TYPES = {"xgboost": "xgboost", "xgb": "xgboost", "lightgbm": "lightgbm", "lgbm": "lightgbm",
                "lgb": "lightgbm", "catboost": "catboost", "sklearn": "sklearn", "scikit-learn": "sklearn"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _version(dists: Sequence[str]) -> str | None:
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _n_features(input_shape: Any) -> int | None:
    """The seed passed ``(n_features,)``; ``(None, n)``, ``(batch, n)`` and a bare int mean the same."""
    if input_shape is None:
        return None
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if not shape or not isinstance(shape[-1], int) or shape[-1] < 1 or len(shape) > 2:
        raise InputError(f"input_shape={input_shape!r}; pass (n_features,) or (None, n_features)")
    return shape[-1]


class ONNXConverter:
    """Converts models to ``<onnx_dir>/<model_name>.onnx`` and measures them against the native model."""

    def __init__(self, onnx_dir: str | os.PathLike[str] = "models/onnx") -> None:
        self.onnx_dir = Path(onnx_dir)

    def convert_model(
        self,
        model: Any,
        model_name: str,
        input_shape: Any = None,
        model_type: str | None = None,
    ) -> str:
        """Converts ``model`` exactly and saves it; returns the path of the .onnx file."""
        from .converter.convert import convert
        from .converter.frameworks import adapter_for

        if not isinstance(model_name, str) or not _NAME.fullmatch(model_name) or ".." in model_name:
            raise InputError(
                f"model_name {model_name!r} is not a plain file name; use letters, digits, '.', '_' and '-'"
            )
        detected = adapter_for(model).name
        if model_type is not None:
            wanted = _MODEL_TYPES.get(str(model_type).lower())
            if wanted is None:
                allowed = ", ".join(sorted(framework_names()))
                raise InputError(f"model_type={model_type!r} is unknown; use one of {allowed} or None")
            if wanted != detected:
                raise InputError(
                    f"model_type={model_type!r} but the model is a {type(model).__name__} ({detected}); "
                    "pass the matching model_type or leave it None to detect it"
                )
        converted = convert(model, n_features=_n_features(input_shape), name=model_name)
        self.onnx_dir.mkdir(parents=True, exist_ok=True)
        return str(converted.save(self.onnx_dir / f"{model_name}.onnx"))

    def measure_latency_improvement(
        self, model: Any, onnx_path: str | os.PathLike[str], test_data: Any, n_runs: int = 100
    ) -> dict[str, Any]:
        """The seed's keys (``native_avg_ms``, ``onnx_avg_ms``, ``improvement_pct``, ``speedup_factor``) and more."""
        from .runtime.latency import measure_latency_improvement

        return measure_latency_improvement(model, onnx_path, test_data, n_runs)

    def status(self) -> dict[str, Any]:
        """Each framework and converter library: its version, or the command that installs it."""
        import onnxruntime as ort

        def entry(dists: Sequence[str], extra: str) -> dict[str, Any]:
            version = _version(dists)
            if version is not None:
                return {"available": True, "version": version}
            return {"available": False, "install": "pip install onnxgate" if extra == "core"
                    else f"pip install 'onnxgate[{extra}]'"}

        return {
            "onnx_dir": str(self.onnx_dir),
            "frameworks": {a.name: entry((a.dist_name(),), a.extra) for a in adapters()},
            "converters": {name: entry(dists, extra) for name, (dists, extra) in _CONVERTERS.items()},
            "providers": list(ort.get_available_providers()),
        }
