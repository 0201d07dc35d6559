"""ConvertedModel: an ONNX model plus what onnxgate knows about the native model it came from."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from ..atomic import write_bytes_atomic
from ..errors import ModelFileError
from .ort_versions import Need, needed_onnxruntime

__all__ = ["ConvertedModel", "load", "META_PREFIX"]

META_PREFIX = "onnxgate."


def _classes_to_json(classes: np.ndarray | None) -> str:
    if classes is None:
        return "null"
    kind = classes.dtype.kind
    dtype = {"b": "bool", "i": "int64", "u": "int64", "f": "float64"}.get(kind, "str")
    return json.dumps({"dtype": dtype, "values": classes.tolist() if kind != "O" else [str(c) for c in classes]})


def _classes_from_json(text: str) -> np.ndarray | None:
    data = json.loads(text)
    if data is None:
        return None
    if data["dtype"] == "str":
        return np.array(data["values"], dtype=object)
    return np.array(data["values"], dtype=data["dtype"])


@dataclass
class ConvertedModel:
    """An ONNX model with one graph output per reproduced native method.

    ``methods`` maps each native method (``predict``, ``predict_proba``, ``decision_function``)
    to the dtype the native model returns; the engine casts ONNX outputs to it.
    """

    onnx: onnx.ModelProto
    framework: str
    task: str
    n_features: int
    classes: np.ndarray | None = None
    methods: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str] | None:
        """The native model's column names (from a DataFrame it was trained on), or None."""
        text = self.metadata.get("feature_names")
        return json.loads(text) if text else None

    @property
    def native_input(self) -> tuple[np.dtype, np.dtype, bool]:
        """The dtypes the native model reads a float64 and an integer array in, and whether its
        arithmetic follows the input's dtype (see inputs.py)."""
        meta = self.metadata
        return (np.dtype(meta.get("native_floats", "float32")), np.dtype(meta.get("native_integers", "float32")),
                meta.get("native_follows_input") == "true")

    @property
    def onnxruntime_needed(self) -> Need:
        """The lowest onnxruntime that loads this graph fast, and why: as recorded by ``convert``
        (``min_onnxruntime``), or derived from the graph for files written before it was."""
        meta = self.metadata
        if "min_onnxruntime" in meta:
            return Need(meta["min_onnxruntime"], meta.get("min_onnxruntime_reason", ""))
        return needed_onnxruntime(self.onnx)

    @property
    def finite_columns(self) -> tuple[int, ...]:
        """Columns where the native model rejects +-inf although it accepts them elsewhere."""
        return tuple(json.loads(self.metadata.get("finite_columns", "[]")))

    @property
    def output_classes(self) -> tuple[int, ...]:
        """A multi-output classifier's class count per output (its predict_proba is a list of
        one array per output); empty for every other model."""
        return tuple(json.loads(self.metadata.get("output_classes", "[]")))

    @property
    def dtype(self) -> np.dtype:
        elem = self.onnx.graph.input[0].type.tensor_type.elem_type
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))

    def to_bytes(self) -> bytes:
        model = onnx.ModelProto()
        model.CopyFrom(self.onnx)
        del model.metadata_props[:]
        props = dict(self.metadata)
        props.update(
            {
                "framework": self.framework,
                "task": self.task,
                "n_features": str(self.n_features),
                "classes": _classes_to_json(self.classes),
                "methods": json.dumps(self.methods),
            }
        )
        for key, value in sorted(props.items()):
            entry = model.metadata_props.add()
            entry.key, entry.value = META_PREFIX + key, str(value)
        return model.SerializeToString()

    def save(self, path: str | os.PathLike[str], *, optimized: bool = False) -> Path:
        """Writes the .onnx file atomically, with onnxgate's metadata in ``metadata_props``.

        ``optimized=True`` writes the graph as this ONNX Runtime optimizes it (offline_graph.py):
        it loads faster, and only under the onnxruntime version recorded in it.
        """
        return write_bytes_atomic(path, (self.optimized() if optimized else self).to_bytes())

    def optimized(self) -> ConvertedModel:
        """This model with its graph optimized offline by the installed onnxruntime."""
        from .offline_graph import OPTIMIZED_FOR, optimize_graph

        if OPTIMIZED_FOR in self.metadata:
            return self
        import onnxruntime

        return replace(self, onnx=optimize_graph(self.onnx),
                       metadata={**self.metadata, OPTIMIZED_FOR: onnxruntime.__version__})

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "<bytes>") -> ConvertedModel:
        if not data:
            raise ModelFileError(f"{source} is empty; expected an ONNX model written by onnxgate")
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except (DecodeError, ValueError) as exc:
            raise ModelFileError(
                f"{source} is not a readable ONNX file ({exc}); it may be truncated or of another format"
            ) from exc
        if not model.graph.node:
            raise ModelFileError(f"{source} holds no ONNX graph; it is truncated or not an ONNX model")
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            raise ModelFileError(f"{source} is not a valid ONNX model: {exc}") from exc
        props = {p.key[len(META_PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(META_PREFIX)}
        required = ("framework", "task", "n_features", "methods")
        missing = [k for k in required if k not in props]
        if missing:
            raise ModelFileError(
                f"{source} is an ONNX model without onnxgate metadata ({', '.join(missing)} missing); "
                "convert the native model with onnxgate.convert() first"
            )
        meta = {k: v for k, v in props.items() if k not in (*required, "classes")}
        return cls(
            onnx=model,
            framework=props["framework"],
            task=props["task"],
            n_features=int(props["n_features"]),
            classes=_classes_from_json(props.get("classes", "null")),
            methods=json.loads(props["methods"]),
            metadata=meta,
        )


def load(path: str | os.PathLike[str]) -> ConvertedModel:
    """Reads a .onnx file written by :meth:`ConvertedModel.save`."""
    from ..regular_files import read_regular_file

    p = Path(path)
    data = read_regular_file(p, what="ONNX file", kind="model", error=ModelFileError)
    return ConvertedModel.from_bytes(data, source=str(p))


def describe(converted: ConvertedModel) -> dict[str, Any]:
    """A JSON-ready summary for reports and the registry."""
    return {
        "framework": converted.framework,
        "task": converted.task,
        "n_features": converted.n_features,
        "methods": converted.methods,
        "dtype": str(converted.dtype),
        **converted.metadata,
    }
