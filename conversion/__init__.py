"""onnxgate: exact ONNX conversion for tree models, proven parity, honest latency."""

from __future__ import annotations

from ._version import __version__
from .convert import convert
from .converted import ConvertedModel, load
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
from .latency import measure_latency_improvement
from .parity import ParityReport, Tolerance, check_parity
from .predictor import Predictor, ShadowPredictor
from .registry import ModelRegistry
from .seed_api import ONNXConverter

__all__ = [
    "__version__",
    "convert",
    "load",
    "ConvertedModel",
    "InferenceEngine",
    "check_parity",
    "ParityReport",
    "Tolerance",
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
]
