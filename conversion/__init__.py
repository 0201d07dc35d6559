"""onnxgate: exact ONNX conversion for tree models, proven parity, honest latency."""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

# Before any submodule imports onnxruntime: the variable is read when onnxruntime loads.
from .telemetry import disable_ort_telemetry

disable_ort_telemetry()

from ._version import __version__

if TYPE_CHECKING:
    from .converter.convert import convert
    from .converter.converted import ConvertedModel, load
    from .errors import (
        ConversionRefusedError,
        InputError,
        MissingDependencyError,
        ModelFileError,
        NotFittedError,
        OnnxGateError,
        ProviderError,
        RegistryError,
        ResultsError,
        RuntimeVersionError,
        UnsupportedModelError,
    )
    from .parity.check import ParityReport, Tolerance, check_parity
    from .runtime.engine import InferenceEngine
    from .runtime.latency import measure_latency_improvement
    from .seed_api import ONNXConverter
    from .serving.predictor import Predictor, ShadowPredictor
    from .serving.registry import ModelRegistry

# Public name -> the module defining it, imported on first use (PEP 562): `onnxgate --help` and
# `import conversion` then cost no onnx/onnxruntime import (0.3 s quiet, ~1 s on a loaded machine).
_HOMES: dict[str, str] = {
    "convert": "converter.convert", "ConvertedModel": "converter.converted", "load": "converter.converted",
    "InferenceEngine": "runtime.engine",
    "measure_latency_improvement": "runtime.latency", "ParityReport": "parity.check", "Tolerance": "parity.check",
    "check_parity": "parity.check", "Predictor": "serving.predictor", "ShadowPredictor": "serving.predictor",
    "ModelRegistry": "serving.registry", "ONNXConverter": "seed_api",
    "accuracy_delta": "parity.accuracy", "AccuracyDelta": "parity.accuracy", "AccuracyTolerance": "parity.accuracy",
    **dict.fromkeys(("OnnxGateError", "MissingDependencyError", "UnsupportedModelError", "NotFittedError",
                     "ConversionRefusedError", "InputError", "ModelFileError", "ProviderError", "RegistryError",
                     "ResultsError", "RuntimeVersionError"), "errors"),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


class _Facade(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule sets the package attribute of its name to the module; where that name is
        # public (conversion.convert was once a module), the public name stays the function.
        if isinstance(value, types.ModuleType) and name in _HOMES:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade

__all__ = [
    "__version__",
    "convert",
    "load",
    "ConvertedModel",
    "InferenceEngine",
    "check_parity",
    "ParityReport",
    "Tolerance",
    "accuracy_delta",
    "AccuracyDelta",
    "AccuracyTolerance",
    "measure_latency_improvement",
    "Predictor",
    "ShadowPredictor",
    "ModelRegistry",
    "ONNXConverter",
    "OnnxGateError",
    "MissingDependencyError",
    "UnsupportedModelError",
    "NotFittedError",
    "ConversionRefusedError",
    "InputError",
    "ModelFileError",
    "ProviderError",
    "RegistryError",
    "ResultsError",
    "RuntimeVersionError",
]
