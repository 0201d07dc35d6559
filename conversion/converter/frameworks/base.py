"""The adapter contract: one subclass per framework, the only code that imports that framework."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import warnings
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import onnx

from ...optional import import_optional
from ..emit_onnx import emit
from ..tree_ir import Head, TreeEnsembleIR

__all__ = ["Adapter", "FastNative", "Lowered", "NativeInput", "import_optional", "unnamed_rows", "with_names"]


@dataclass(frozen=True)
class Lowered:
    """An adapter's result: the ONNX graph (outputs named after native methods) and its head."""

    onnx: onnx.ModelProto
    head: Head
    n_features: int
    converter: str
    converter_version: str


@dataclass(frozen=True)
class NativeInput:
    """The precision the native model reads its input in: ``floats`` for a float64 array,
    ``integers`` for an integer or boolean one (a float32 array is always read as float32)."""

    floats: str = "float32"
    integers: str = "float32"
    # The native arithmetic runs in the input's dtype (scikit-learn's scalers and imputers): a
    # float32 graph then reproduces float32 rows only, even float64 rows that are float32 values.
    follows_input: bool = False


@dataclass(frozen=True)
class FastNative:
    """The fastest native call an adapter knows for one model and method: ``call(X)`` answers
    what ``native(model, method, X)`` answers, on rows in the model's column order, without the
    wrapper's input validation. ``call`` is None where there is none, and ``why_not`` says why."""

    name: str  # the call a user would write: "Booster.inplace_predict"
    call: Callable[[np.ndarray], np.ndarray] | None
    why_not: str = ""


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
        from ..._version import __version__

        return Lowered(graph, ir.head, ir.n_features, "onnxgate", __version__)

    @abstractmethod
    def native(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        """Runs the native model's ``method`` on a 2-D float array."""

    def native_call(self, model: Any, method: str, X: np.ndarray) -> Callable[[], Any]:
        """``native`` bound to rows onnxgate has already put in the model's column order
        (inputs.py), turned once into the form the native model reads (an adapter's override:
        names back, category labels): the one native path. Benchmarks and calibration time the
        call it returns, so that turning is done here, outside the timed call."""
        return functools.partial(self.native, model, method, X)

    def fast_native(self, model: Any, method: str, *, threads: int | None = None) -> FastNative:
        """The framework's fastest call that answers what ``native`` answers (the wrapper's head
        applied where it has one), for the benchmark's second native row and Predictor's native
        side; ``FastNative.call`` is None, with the reason, where the wrapper is already that call.
        ``threads``: on that many threads (the benchmark's threads at scale); None: the model's own."""
        return FastNative("", None, f"onnxgate knows no faster {self.name} call than {method}")

    def native_rows(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        """``native`` on rows in the model's column order, answered once (``native_call``)."""
        return np.asarray(self.native_call(model, method, X)())

    def native_frame(self, model: Any, method: str, frame: Any) -> np.ndarray:
        """``native`` on a DataFrame of category labels, columns in the model's order, which the
        native model reads itself (inputs.label_frame): what a user's own call computes."""
        if not frame.shape[0]:  # natives refuse empty frames; native_rows answers them in shape
            return self.native_rows(model, method, np.zeros(frame.shape))
        return np.asarray(self.native(model, method, frame))

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

    # convert() asks for the fingerprint right after lowering: an adapter that has just serialised
    # the model hands over the digest of that text (used once, so no change is missed) instead of
    # serialising it again.
    _handoff: tuple[weakref.ref[Any], str] | None = None

    def _fingerprint_key(self, model: Any) -> Any:
        """The object a handed-over digest belongs to (LightGBM: the Booster inside a wrapper)."""
        return model

    def hand_over(self, model: Any, digest: str) -> None:
        self._handoff = (weakref.ref(self._fingerprint_key(model)), digest)

    def digest(self, model: Any) -> str:
        """sha256 of what identifies the model: by default its native bytes."""
        return hashlib.sha256(self.native_bytes(model)).hexdigest()

    def fingerprint(self, model: Any) -> str:
        handed, self._handoff = self._handoff, None
        if handed is not None and handed[0]() is self._fingerprint_key(model):
            return handed[1]
        return self.digest(model)

    def upstream(self, model: Any, *, dtype: np.dtype) -> Lowered:
        """Converts with the framework's public converter (onnxmltools, skl2onnx or the
        framework's own exporter), outputs renamed to native methods, for the parity matrix."""
        raise NotImplementedError(f"no upstream converter path for {self.name}")

    def feature_names(self, model: Any) -> list[str] | None:
        """The column names the model was trained on, or None (trained on an unnamed array:
        names a framework made up, such as LightGBM's ``Column_0``, count as none)."""
        return None

    def native_sample(self, model: Any, *, n: int = 2000, seed: int = 0) -> tuple[np.ndarray, str] | None:
        """``n`` rows the native model reads, and its task, for a model onnxgate refuses to convert
        (its native latency is still benchmarked); None where only its conversion tells them."""
        return None

    def native_input(self, model: Any) -> NativeInput:
        """How the native model reads float64 and integer inputs (float32 unless overridden)."""
        return NativeInput()


def with_names(model: Any, X: np.ndarray) -> Any:
    """Rows already in the model's column order, as the DataFrame it was fitted on.

    A scikit-learn-style model fitted on a DataFrame warns on every array ("X does not have
    valid feature names"), so the adapters whose models do that hand the names back.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is None or not X.shape[0]:
        return X
    pd = import_optional("pandas", "all", "pass named rows to a model fitted on a DataFrame")
    return pd.DataFrame(X, columns=list(names), copy=False)


@contextlib.contextmanager
def unnamed_rows(model: Any, X: Any) -> Iterator[None]:
    """Silences "X does not have valid feature names" while a model fitted on a DataFrame reads
    an array: onnxgate hands it rows already in its column order (inputs.py), and a benchmark
    would print the warning once per timed call (issue 19: 318 times for one bench). Only that
    message, only for such a model and an array; a DataFrame is checked by name as usual."""
    if not isinstance(X, np.ndarray) or getattr(model, "feature_names_in_", None) is None:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
        yield
