"""Lossy variants of a converted dense graph: INT8 (onnxruntime.quantization) and float16.

Only graphs of dense layers (scikit-learn's linear models, MLPs and the scalers around them)
have one: onnxruntime quantizes MatMul and Gemm, never TreeEnsemble, and its CPU provider
refuses a float16 TreeEnsemble (onnxruntime 1.32: "Attribute 'nodes_splits' must have same type
as input"). A variant is never exact: its metadata says so, and its verdict is an accuracy delta
(accuracy.py), not parity.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ..errors import ConversionRefusedError, InputError, MissingDependencyError
from .converted import ConvertedModel

__all__ = ["LOSSY", "QUANTIZE_MODES", "is_dense", "make_variant", "quantize", "to_float16"]

QUANTIZE_MODES = ("dynamic-int8", "static-int8")
LOSSY = (*QUANTIZE_MODES, "float16")  # every variant whose outputs are not the native model's
_DENSE_OPS = frozenset({"MatMul", "Gemm"})
_CALIBRATION_BATCH = 64
# Operators whose float16 form the CPU provider lacks or that carry labels, not arithmetic.
_FLOAT16_KEEP = ["ArrayFeatureExtractor", "ArgMax", "ZipMap", "LabelEncoder", "Normalizer", "Scaler", "Binarizer"]


def is_dense(converted: ConvertedModel) -> bool:
    """Whether the graph computes with dense layers and holds no tree ensemble."""
    ops = {n.op_type for n in converted.onnx.graph.node}
    return bool(ops & _DENSE_OPS) and not any(op.startswith("TreeEnsemble") for op in ops)


def _require_dense(converted: ConvertedModel, what: str) -> None:
    if is_dense(converted):
        return
    kind = converted.metadata.get("model_type", converted.framework)
    if any(n.op_type.startswith("TreeEnsemble") for n in converted.onnx.graph.node):
        raise ConversionRefusedError(
            f"{what} does not apply to this {kind}: onnxruntime has no INT8 or float16 path for tree ensembles "
            "(it quantizes MatMul/Gemm only). Serve the float graph; graph optimization levels do not change "
            "tree latency either (docs/variants.md)")
    raise ConversionRefusedError(f"{what} does not apply to this {kind}: its graph has no MatMul or Gemm to reduce")


def _in_float32(converted: ConvertedModel, what: str) -> ConvertedModel:
    """The float32 conversion with every operation in float32: onnxruntime quantizes and halves
    float MatMuls only, and a float32 conversion keeps float64 arithmetic where scikit-learn does
    (float32 rows times float64 weights)."""
    if converted.dtype != np.float32:
        raise ConversionRefusedError(
            f"{what} starts from a float32 graph, but this one computes in {converted.dtype}; "
            "convert with dtype='float32' (convert(model, quantize=...) does so itself)")
    from .frameworks.sklearn_graphs import in_float32

    doubles = any(i.data_type == onnx.TensorProto.DOUBLE for i in converted.onnx.graph.initializer)
    if not doubles:
        return converted
    graph = onnx.ModelProto()
    graph.CopyFrom(converted.onnx)
    return replace(converted, onnx=in_float32(graph, round_constants=True))


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime.quantization advises pre-processing (shape inference for image models) through
    the root logger, which would also configure console logging for the whole process; dense
    graphs have their shapes already, so the advice is dropped for the call."""
    root = logging.getLogger()

    def drop(record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname or "quantization" not in record.pathname

    guard = logging.NullHandler()
    root.addFilter(drop)
    root.addHandler(guard)  # a root logger without handlers would run basicConfig() on the warning
    try:
        yield
    finally:
        root.removeFilter(drop)
        root.removeHandler(guard)


class _Rows:
    """onnxruntime's CalibrationDataReader over the user's rows, in batches."""

    def __init__(self, name: str, rows: np.ndarray) -> None:
        starts = range(0, len(rows), _CALIBRATION_BATCH)
        self._batches = iter([{name: rows[i : i + _CALIBRATION_BATCH]} for i in starts])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _import_quantization() -> Any:
    try:
        from onnxruntime import quantization
    except ImportError as exc:  # some minimal onnxruntime builds leave the package out
        raise MissingDependencyError("onnxruntime.quantization", "all", "quantize a graph to INT8") from exc
    return quantization


def _calibration_rows(converted: ConvertedModel, rows: Any) -> np.ndarray:
    from .inputs import as_matrix

    if rows is None:
        raise InputError("static-int8 is calibrated on rows like the ones you will serve: pass calibration rows "
                         "(convert(model, quantize='static-int8', calibration=X) or --data FILE)")
    X = as_matrix(rows, n_features=converted.n_features, dtype=np.dtype(np.float32), allow_nan=False,
                  allow_inf=False, feature_names=converted.feature_names)
    if X.shape[0] == 0:
        raise InputError("static-int8 needs at least one calibration row; the rows given are empty")
    return X


def quantize(converted: ConvertedModel, mode: str, *, calibration: Any = None) -> ConvertedModel:
    """An INT8 variant of a float32 dense graph: ``dynamic-int8`` (weights per channel, activations
    scaled per call) or ``static-int8`` (QDQ, per-channel weights, activation ranges calibrated on
    ``calibration`` rows)."""
    if mode not in QUANTIZE_MODES:
        raise InputError(f"quantize={mode!r}; allowed: {', '.join(QUANTIZE_MODES)}")
    _require_dense(converted, mode)
    converted = _in_float32(converted, mode)
    q = _import_quantization()
    rows = _calibration_rows(converted, calibration) if mode == "static-int8" else None
    with tempfile.TemporaryDirectory(prefix="onnxgate-q-") as folder:
        src, dst = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        src.write_bytes(converted.onnx.SerializeToString())
        ops = sorted(_DENSE_OPS)
        # reduce_range (7-bit weights): without VNNI, onnxruntime's x86 int8 kernels multiply with
        # VPMADDUBSW, whose 16-bit sums saturate (onnxruntime's quantization docs, "When and why do I
        # need to try U8U8?"). On an AMD EPYC without VNNI the 8-bit static-int8 logistic pipeline
        # flipped 159 of 300 labels (accuracy 0.91 -> 0.51), and exact on VNNI machines; with
        # reduce_range it stays within tolerance on both.
        with _quiet_quantizer():
            if mode == "dynamic-int8":
                q.quantize_dynamic(src, dst, weight_type=q.QuantType.QInt8, per_channel=True, reduce_range=True,
                                   op_types_to_quantize=ops)
            else:
                q.quantize_static(src, dst, _Rows(converted.onnx.graph.input[0].name, rows),
                                  quant_format=q.QuantFormat.QDQ, per_channel=True, reduce_range=True,
                                  weight_type=q.QuantType.QInt8, activation_type=q.QuantType.QInt8,
                                  op_types_to_quantize=ops)
        graph = onnx.load_model_from_string(dst.read_bytes())
    if not {n.op_type for n in graph.graph.node} & {"MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear"}:
        # never label an unchanged float graph INT8
        raise ConversionRefusedError(f"onnxruntime.quantization quantized no MatMul or Gemm of this graph ({mode})")
    return _variant(converted, graph, mode)


def to_float16(converted: ConvertedModel) -> ConvertedModel:
    """A float16 variant of a float32 dense graph; inputs and outputs stay float32 (cast in and out)."""
    _require_dense(converted, "float16")
    converted = _in_float32(converted, "float16")
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime.transformers", "all", "convert a graph to float16") from exc
    graph = onnx.ModelProto()
    graph.CopyFrom(converted.onnx)  # the converter rewrites the model it is given in place
    graph = convert_float_to_float16(graph, keep_io_types=True, op_block_list=_FLOAT16_KEEP, disable_shape_infer=True)
    return _variant(converted, _sorted(graph), "float16")


def _sorted(graph: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with its nodes in topological order (the float16 converter appends its input
    casts last, which ONNX Runtime accepts and onnx.checker, hence ``load``, refuses)."""
    ready = {i.name for i in graph.graph.input} | {i.name for i in graph.graph.initializer} | {""}
    pending, ordered = list(graph.graph.node), []
    while pending:
        runnable = [n for n in pending if all(i in ready for i in n.input)]
        if not runnable:
            raise ConversionRefusedError("the float16 graph has a cycle or an input no node computes")
        for node in runnable:
            ordered.append(node)
            ready.update(node.output)
        pending = [n for n in pending if n not in runnable]
    out = onnx.ModelProto()
    out.CopyFrom(graph)
    del out.graph.node[:]
    out.graph.node.extend(ordered)
    return out


def _variant(converted: ConvertedModel, graph: onnx.ModelProto, name: str) -> ConvertedModel:
    import onnxruntime

    onnx.checker.check_model(graph)
    meta = {**converted.metadata, "variant": name, "exact": "false", "variant_onnxruntime": onnxruntime.__version__}
    return replace(converted, onnx=graph, metadata=meta)


# variant name -> how it is made from a float32 conversion
_MAKERS = {"dynamic-int8": lambda c, rows: quantize(c, "dynamic-int8"),
           "static-int8": lambda c, rows: quantize(c, "static-int8", calibration=rows),
           "float16": lambda c, rows: to_float16(c)}


def make_variant(converted: ConvertedModel, name: str, *, calibration: Any = None) -> ConvertedModel:
    """The named lossy variant (one of LOSSY) of a float32 conversion."""
    if name not in _MAKERS:
        raise InputError(f"variant {name!r} is not known; allowed: {', '.join(LOSSY)}")
    return _MAKERS[name](converted, calibration)
