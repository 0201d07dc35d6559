"""onnxgate: exact ONNX conversion for tree models, proven parity, honest latency."""

from __future__ import annotations

__version__ = "0.1.0"

from .converted import ConvertedModel, load
from .convert import convert
from .engine import InferenceEngine
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
    UnsupportedModelError,
)
from .parity import ParityReport, Tolerance, check_parity

__all__ = [
    "__version__",
    "convert",
    "load",
    "ConvertedModel",
    "InferenceEngine",
    "check_parity",
    "ParityReport",
    "Tolerance",
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
]
