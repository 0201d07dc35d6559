"""A user's own model file for `onnxgate run --model FILE` and the convert/check commands.

Each adapter knows its framework's suffixes and formats (``file_suffixes``, ``sniff``); this
module asks them in turn and handles what belongs to no framework (pickle, ONNX). Formats are
recognised from their first bytes, so a file whose content does not match
``--framework`` is refused with a message naming both, before the framework's own loader
fails with something cryptic. Pickle is never read without ``trust_pickle``.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from conversion.converter.converted import META_PREFIX, ConvertedModel
from conversion.converter.frameworks import adapter_for, adapter_named, adapters, framework_names
from conversion.converter.inputs import CategoryLabels
from conversion.csv_rows import read_csv_rows
from conversion.errors import InputError, ModelFileError, OnnxGateError
from conversion.parity.tree_summary import summarize_trees
from conversion.regular_files import check_regular_file, read_regular_file

__all__ = ["FileFormat", "UserModel", "attach_onnx", "fingerprint_differs", "load_rows", "load_user_model", "rows_for",
           "sniff", "suffixes"]

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


@dataclass(frozen=True)
class FileFormat:
    description: str  # "an XGBoost JSON model"
    framework: str | None = None  # None: no one framework's format (pickle, ONNX)


PICKLE = FileFormat("a Python pickle")
ONNX = FileFormat("an ONNX model")


def suffixes() -> dict[str, str]:
    """suffix -> framework, for when --framework is not given."""
    return {suffix: a.name for a in adapters() for suffix in a.file_suffixes}


@dataclass
class UserModel:
    path: Path
    framework: str
    model: Any


def _read_head(path: Path, n: int = 64) -> bytes:
    # A FIFO, device or folder is refused before it is opened, a file over the cap before a
    # framework reads all of it (regular_files.py).
    check_regular_file(path, what="model file", kind="model", error=ModelFileError)
    try:
        with path.open("rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from exc


def sniff(path: Path) -> FileFormat | None:
    """The file's format from its first bytes, or None when it is not recognised."""
    head = _read_head(path)
    if not head:
        raise ModelFileError(f"model file {path} is empty; it was not saved completely")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return PICKLE
    for adapter in adapters():
        description = adapter.sniff(head)
        if description is not None:
            return FileFormat(description, adapter.name)
    if head[:1] == b"\x08":  # protobuf field 1 (ir_version), varint: how every ONNX file starts
        return ONNX
    return None


def load_user_model(path: str | Path, *, framework: str | None = None, trust_pickle: bool = False) -> UserModel:
    """Reads a native model file, refusing pickle unless trusted and formats that do not match."""
    p = Path(path)
    fmt = sniff(p)
    if fmt == ONNX or p.suffix == ".onnx":
        raise InputError(
            f"{p} is an ONNX file; pass the native model as --model and the ONNX file as --onnx, "
            f"e.g. onnxgate run --model model.ubj --onnx {p.name}"
        )
    if fmt == PICKLE or p.suffix in PICKLE_SUFFIXES:
        return _load_pickle(p, framework, trust_pickle)
    expected = fmt.framework if fmt else None
    name = framework or suffixes().get(p.suffix) or expected
    if name is None:
        raise InputError(
            f"cannot tell which framework wrote {p}; pass --framework (one of {', '.join(framework_names())})"
        )
    adapter = adapter_named(name)  # unknown names raise with the list of known ones
    if fmt is not None and expected is not None and expected != name:
        told = (f"--framework {name} was given" if framework else
                f"its {p.suffix} name says {name}")  # never a flag the user did not type
        raise ModelFileError(
            f"{p} looks like {fmt.description}, but {told}; "
            + (f"pass --framework {expected} or the {name} model file" if framework else
               f"rename it to the {expected} file it is, or pass --framework {expected}")
        )
    try:
        model = adapter.load_native(p, allow_pickle=trust_pickle)
    except NotImplementedError as exc:
        raise ModelFileError(f"reading {name} model files is not supported yet ({exc})") from exc
    except OnnxGateError:
        raise
    except Exception as exc:  # a framework's loader raises its own types
        raise ModelFileError(f"{p} could not be read as a {name} model: {type(exc).__name__}: {exc}") from exc
    return UserModel(p, name, model)


def _load_pickle(p: Path, framework: str | None, trust_pickle: bool) -> UserModel:
    if not trust_pickle:
        formats = ", ".join("/".join(a.file_suffixes) for a in adapters())
        raise InputError(
            f"{p} is a pickle; unpickling runs code from the file, so onnxgate refuses it by default. "
            f"Save the model in its framework's format ({formats}), or pass "
            "--trust-pickle if you trust where the file came from"
        )
    if framework is not None:
        adapter_named(framework)
    try:
        with p.open("rb") as fh:
            model = pickle.load(fh)  # only with --trust-pickle, by the user's decision
    except Exception as exc:  # unpickling fails in many ways
        raise ModelFileError(f"{p} could not be unpickled: {type(exc).__name__}: {exc}") from exc
    adapter = adapter_for(model)
    if framework is not None and adapter.name != framework:
        raise ModelFileError(
            f"{p} holds a {adapter.name} model ({type(model).__name__}), but --framework {framework} was given")
    return UserModel(p, adapter.name, model)


def _rename_outputs(model: onnx.ModelProto, mapping: dict[str, str]) -> None:
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]
    for out in model.graph.output:
        if out.name in mapping:
            out.name = mapping[out.name]


def _elem_kind(output: onnx.ValueInfoProto) -> str:
    elem = output.type.tensor_type.elem_type
    return "float" if elem in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16) else "label"


def _match_outputs(outputs: list[onnx.ValueInfoProto], methods: dict[str, str]) -> dict[str, str] | None:
    """Pairs each native method with the first unused output of its kind (labels vs floats), in order.

    Converters put the label first and the scores after it; a raw Booster's only method
    returns floats, so it takes the float output, not the label.
    """
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for method, dtype in methods.items():
        kind = "float" if np.dtype(dtype).kind == "f" else "label"
        match = next((o for o in outputs if o.name not in used and _elem_kind(o) == kind), None)
        if match is None:
            return None
        used.add(match.name)
        mapping[match.name] = method
    return mapping


def attach_onnx(path: str | Path, reference: ConvertedModel) -> ConvertedModel:
    """Reads a user's ONNX file for comparison with the native model.

    A file without onnxgate metadata (e.g. from onnxmltools) borrows it from ``reference``,
    onnxgate's own conversion of the same native model, and its outputs are renamed by
    position to the native methods: label first, then probabilities.
    """
    from conversion.converter.converted import load

    p = Path(path)
    data = read_regular_file(p, what="ONNX file", kind="model", error=ModelFileError)
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf decode errors
        raise ModelFileError(f"{p} is not a readable ONNX file: {exc}") from exc
    if any(prop.key.startswith(META_PREFIX) for prop in proto.metadata_props):
        given = load(p)
        _refuse_other_model(p, given, reference)
        return given
    outputs = [o for o in proto.graph.output]
    if any(o.type.HasField("sequence_type") for o in outputs):
        raise ModelFileError(f"{p} ends in a ZipMap (a list of dicts); re-export it without ZipMap (zipmap=False)")
    mapping = _match_outputs(outputs, reference.methods)
    if mapping is None:
        listed = ", ".join(f"{o.name} ({_elem_kind(o)})" for o in outputs)
        wanted = ", ".join(f"{m} ({'float' if np.dtype(d).kind == 'f' else 'label'})"
                           for m, d in reference.methods.items())
        raise ModelFileError(f"{p} has outputs {listed}, which do not match the native model's methods {wanted}")
    _rename_outputs(proto, mapping)
    keep = [o for o in proto.graph.output if o.name in reference.methods]
    del proto.graph.output[:]
    proto.graph.output.extend(keep)
    return ConvertedModel(onnx=proto, framework=reference.framework, task=reference.task,
                          n_features=reference.n_features, classes=reference.classes, methods=dict(reference.methods),
                          metadata={**reference.metadata, "converter": f"file {p.name}"})


def _shape(c: ConvertedModel) -> str:
    classes = "" if c.classes is None else f", classes {list(np.asarray(c.classes).tolist())}"
    return f"{c.framework} {c.task}, {c.n_features} features{classes}"


def fingerprint_differs(given: ConvertedModel, reference: ConvertedModel) -> str | None:
    """Why ``given`` looks made from another model than ``reference``'s, from the stored fingerprints.

    Only a hint on its own: some frameworks' fingerprints change when a model is saved and
    loaded again (CatBoost, scikit-learn forests), so equal outputs still decide.
    """
    stored, ours = given.metadata.get("model_sha256"), reference.metadata.get("model_sha256")
    if not stored or not ours or stored == ours:
        return None
    return f"its stored fingerprint (model_sha256 {stored[:12]}...) is not this model's ({ours[:12]}...)"


def _refuse_other_model(path: Path, given: ConvertedModel, reference: ConvertedModel) -> None:
    """Refuses an onnxgate ONNX file whose inputs or outputs cannot be this model's."""
    same = (given.framework == reference.framework and given.task == reference.task
            and given.n_features == reference.n_features and set(given.methods) == set(reference.methods)
            and (given.classes is None) == (reference.classes is None)
            and (given.classes is None or np.array_equal(np.asarray(given.classes), np.asarray(reference.classes))))
    if same:
        return
    why = fingerprint_differs(given, reference) or "its stored description differs"
    raise InputError(
        f"{path} was made from another model: {why}; it converts {_shape(given)}, the native model is "
        f"{_shape(reference)}. Pass the model it was converted from, or convert this one (onnxgate convert)"
    )


def rows_for(converted: ConvertedModel, *, n: int = 2000, seed: int = 0) -> np.ndarray:
    """Rows spread over the model's split points, for when the user gives no data."""
    trees = summarize_trees(converted.onnx)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, converted.n_features))
    for f, splits in trees.splits.items():
        if splits.size and f < converted.n_features:
            lo, hi = float(splits.min()), float(splits.max())
            pad = max((hi - lo) * 0.1, 1e-3)
            # half uniform over the split range, half on split points: the rows where conversions break
            X[: n // 2, f] = rng.uniform(lo - pad, hi + pad, size=n // 2)
            X[n // 2:, f] = rng.choice(splits, size=n - n // 2)
    labels = CategoryLabels.from_metadata(converted.metadata)
    return (labels.draw_labels(X, rng) if labels is not None else X).astype(converted.dtype)


def load_rows(path: str | Path, n_features: int | None, feature_names: Sequence[str] | None = None,
              categories: CategoryLabels | None = None) -> np.ndarray:
    """Rows from a .npy file or a strictly read .csv (see csv_rows.py); a CSV header is matched
    to ``feature_names`` by name, and a CSV column of category labels read as codes."""
    p = Path(path)
    if p.suffix != ".npy":
        return read_csv_rows(p, n_features, feature_names, categories)
    check_regular_file(p, what="data file", kind="data", error=InputError)
    try:
        X = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read data rows from {p}: {exc}; pass a .npy array or a numeric .csv") from exc
    X = np.atleast_2d(X)
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"{p} has {X.shape[1]} columns, but the model expects {n_features} features")
    return X
