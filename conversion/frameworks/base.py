"""The adapter contract: one subclass per framework, the only code that imports that framework."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import onnx

from ..emit_onnx import emit
from ..optional import import_optional
from ..tree_ir import Head, TreeEnsembleIR

__all__ = ["Adapter", "Lowered", "import_optional"]


@dataclass(frozen=True)
class Lowered:
    """An adapter's result: the ONNX graph (outputs named after native methods) and its head."""

    onnx: onnx.ModelProto
    head: Head
    n_features: int
    converter: str
    converter_version: str


class Adapter(ABC):
    """Turns one framework's fitted models into ONNX and runs their native predictions.

    ``convert`` validates through ``to_ir`` (tree models) or overrides ``lower`` (models that
    go through skl2onnx); ``native`` runs the native method the ONNX output reproduces.
    """

    name: ClassVar[str]
    package: ClassVar[str]
    extra: ClassVar[str]
    supported: ClassVar[tuple[str, ...]]

    def matches(self, model: Any) -> bool:
        return any(cls.__module__.split(".")[0] == self.package for cls in type(model).__mro__)

    def framework(self) -> ModuleType:
        return import_optional(self.package, self.extra, f"convert {self.name} models")

    def version(self) -> str:
        return str(getattr(self.framework(), "__version__", "unknown"))

    @abstractmethod
    def to_ir(self, model: Any) -> TreeEnsembleIR:
        """Reads the fitted model into the tree IR, or refuses it with a project error."""

    def lower(self, model: Any, *, dtype: np.dtype, ml_opset: int | None) -> Lowered:
        ir = self.to_ir(model)
        graph = emit(ir, dtype=dtype, ml_opset=ml_opset)
        from .._version import __version__

        return Lowered(graph, ir.head, ir.n_features, "onnxgate", __version__)

    @abstractmethod
    def native(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        """Runs the native model's ``method`` on a 2-D float array."""

    @abstractmethod
    def native_bytes(self, model: Any) -> bytes:
        """The model in its framework's own serialised format (for hashing and the registry)."""

    # The file suffix of the native format save_native writes (".ubj", ".txt", ".cbm", ".skops").
    native_suffix: ClassVar[str] = ""
    # Every suffix a file of this framework's may have, for reading a user's model file.
    file_suffixes: ClassVar[tuple[str, ...]] = ()
    # The pip distribution, where it differs from the import name (scikit-learn vs sklearn).
    distribution: ClassVar[str] = ""

    def sniff(self, head: bytes) -> str | None:
        """A readable name of this framework's file format if a file starting with ``head`` is
        in it ("an XGBoost JSON model"), else None. Refuses mismatched --framework early."""
        return None

    def dist_name(self) -> str:
        return self.distribution or self.package

    def save_native(self, model: Any, path: Path) -> None:
        """Writes the model in its framework's own format (never pickle)."""
        raise NotImplementedError(f"saving {self.name} models is not supported")

    def load_native(self, path: Path, *, allow_pickle: bool = False) -> Any:
        """Reads a model written by save_native (or the framework's usual file). Unpickles only
        with ``allow_pickle=True``; raises ModelFileError for a file of another format."""
        raise NotImplementedError(f"loading {self.name} models is not supported")

    def fingerprint(self, model: Any) -> str:
        return hashlib.sha256(self.native_bytes(model)).hexdigest()

    def upstream(self, model: Any, *, dtype: np.dtype) -> Lowered:
        """Converts with the framework's public converter (onnxmltools, skl2onnx or the
        framework's own exporter), outputs renamed to native methods, for the parity matrix."""
        raise NotImplementedError(f"no upstream converter path for {self.name}")
