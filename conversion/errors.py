"""The exception hierarchy: every refusal and every bad input raises one of these."""

from __future__ import annotations

__all__ = [
    "OnnxGateError",
    "MissingDependencyError",
    "UnsupportedModelError",
    "NotFittedError",
    "ConversionRefusedError",
    "InputError",
    "ModelFileError",
    "ProviderError",
    "RuntimeVersionError",
    "RegistryError",
    "ResultsError",
    "ConfigError",
]


class OnnxGateError(Exception):
    """Base class of every error onnxgate raises on purpose."""


class MissingDependencyError(OnnxGateError, ImportError):
    """An optional framework or converter is not installed."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        self.package = package
        self.extra = extra
        why = f" to {purpose}" if purpose else ""
        super().__init__(
            f"{package} is not installed; it is needed{why}. Install it with: pip install 'onnxgate[{extra}]'"
        )


class UnsupportedModelError(OnnxGateError, TypeError):
    """The object is not a model type onnxgate knows how to convert."""


class NotFittedError(OnnxGateError, ValueError):
    """The model has not been fitted yet."""


class ConversionRefusedError(OnnxGateError):
    """The model type is known, but this configuration cannot be converted exactly."""


class InputError(OnnxGateError, ValueError):
    """Input data has the wrong shape, type or values for the model."""


class ModelFileError(OnnxGateError, ValueError):
    """A model file is missing, truncated, corrupt or of the wrong format."""


class ProviderError(OnnxGateError):
    """An ONNX Runtime execution provider was asked for but cannot be used."""


class RuntimeVersionError(OnnxGateError):
    """The installed onnxruntime is too old to load this model (or to load it fast)."""


class RegistryError(OnnxGateError):
    """A model registry entry is invalid, missing or unsafe."""


class ResultsError(OnnxGateError):
    """A benchmark results or baseline file is missing, malformed or incompatible."""


class ConfigError(OnnxGateError, ValueError):
    """The ``[tool.onnxgate]`` configuration is missing, malformed or names something that is not there."""
