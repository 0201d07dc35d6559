"""convert(): native model -> adapter -> ONNX, checked, with metadata."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import onnx

from ..errors import ConversionRefusedError, InputError
from .converted import ConvertedModel
from .emit_set_columns import has_set_splits, sets_as_columns
from .frameworks import adapter_for, adapter_named
from .frameworks.base import Lowered
from .inputs import CategoryLabels
from .ort_versions import needed_onnxruntime, parse_version
from .tree_ir import Head

__all__ = ["convert", "parse_dtype", "finish"]

_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def parse_dtype(dtype: Any) -> np.dtype:
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _DTYPES:
        raise ConversionRefusedError(f"dtype {dtype!r} is not supported; use 'float32' (default) or 'float64'")
    return _DTYPES[key]


def _ml_opset(target_opset: int | dict[str, int] | None) -> int | None:
    if isinstance(target_opset, dict):
        return target_opset.get("ai.onnx.ml")
    return target_opset


def _category_metadata(head: Head) -> dict[str, str]:
    """``categories``: per categorical input column (its index), the ordered category labels as
    trained (text or numbers); the ONNX model takes a label's position in its list as the float
    input. ``category_unseen``: where the native model sends other labels (inputs.CategoryLabels)."""
    if not head.category_labels:
        return {}
    return CategoryLabels(head.category_labels, head.category_unseen).metadata()


def _for_onnxruntime(graph: onnx.ModelProto, target: str, n_features: int) -> onnx.ModelProto:
    """The graph, or its exact older form, that onnxruntime ``target`` loads fast; else a refusal."""
    try:
        wanted = parse_version(target)
    except ValueError:
        raise InputError(f"target_onnxruntime={target!r} is not a version; e.g. '1.22'") from None
    need = needed_onnxruntime(graph)
    if wanted >= need.key:
        return graph
    if has_set_splits(graph):
        columns = sets_as_columns(graph, n_features)
        if wanted >= needed_onnxruntime(columns).key:
            return columns
        need = needed_onnxruntime(columns)
    raise ConversionRefusedError(
        f"no exact graph of this model loads fast on onnxruntime {target}: it needs >= {need.version}, because "
        f"{need.reason}; upgrade onnxruntime, or leave target_onnxruntime unset"
    )


def finish(
    model: Any,
    lowered: Lowered,
    framework: str,
    framework_version: str,
    fingerprint: str,
    *,
    dtype: np.dtype,
    name: str | None,
) -> ConvertedModel:
    """Checks the graph and wraps it with onnxgate's metadata."""
    graph = lowered.onnx
    if name:
        graph.graph.name = name
    try:
        onnx.checker.check_model(graph, full_check=True)
    except onnx.checker.ValidationError as exc:  # a bug in onnxgate, not in the user's model
        raise ConversionRefusedError(
            f"the ONNX graph for this {type(model).__name__} failed onnx.checker: {exc}"
        ) from exc
    head = lowered.head
    adapter = adapter_named(framework)
    names = adapter.feature_names(model)
    native_input = adapter.native_input(model)
    needs = needed_onnxruntime(graph)
    return ConvertedModel(
        onnx=graph,
        framework=framework,
        task=head.task,
        n_features=lowered.n_features,
        classes=head.classes,
        methods=dict(head.methods),
        metadata={
            "framework_version": framework_version,
            "model_type": type(model).__name__,
            "converter": lowered.converter,
            "converter_version": lowered.converter_version,
            "model_sha256": fingerprint,
            "dtype": dtype.name,
            "allow_nan": str(head.allow_nan).lower(),
            "allow_inf": str(head.allow_inf).lower(),
            "finite_max": repr(head.finite_max),
            "native_floats": native_input.floats,
            "native_integers": native_input.integers,
            "native_follows_input": str(native_input.follows_input).lower(),
            "min_onnxruntime": needs.version,
            "min_onnxruntime_reason": needs.reason,
            **({"feature_names": json.dumps(names)} if names else {}),
            **({"sequential_sum": "true"} if head.sequential_sum else {}),
            **({"finite_columns": json.dumps(list(head.finite_columns))} if head.finite_columns else {}),
            **({"output_classes": json.dumps(list(head.output_classes))} if head.output_classes else {}),
            **_category_metadata(head),
        },
    )


def convert(
    model: Any,
    *,
    dtype: str | None = None,
    n_features: int | None = None,
    target_opset: int | dict[str, int] | None = None,
    name: str | None = None,
    target_onnxruntime: str | None = None,
    quantize: str | None = None,
    calibration: Any = None,
) -> ConvertedModel:
    """Converts a fitted model to ONNX that computes what the native model computes, or refuses.

    ``dtype=None`` takes the precision the native model reads float64 input in: float64 for
    LightGBM, HistGradientBoosting, linear models, MLPs and pipelines with preprocessing, so
    float64 rows are exact; float32 for XGBoost, CatBoost and the other scikit-learn trees
    (which round every input to float32 themselves).
    ``target_opset`` is the ai.onnx.ml opset (3, or 5 for the TreeEnsemble operator); float64
    needs 5 and gets it by default.
    ``target_onnxruntime`` (e.g. ``"1.22"``) asks for a graph that release loads fast: categorical
    set splits are then written as lookup columns ahead of threshold splits (exact, and loaded in
    milliseconds from 1.21 on, where set splits take minutes); what has no such form is refused.
    The graph records the release it needs in ``metadata["min_onnxruntime"]`` either way.
    """
    if quantize is not None:
        from .variants import QUANTIZE_MODES
        from .variants import quantize as quantize_graph

        if quantize not in QUANTIZE_MODES:
            raise InputError(f"quantize={quantize!r}; allowed: {', '.join(QUANTIZE_MODES)}")
        if dtype not in (None, "float32", np.float32):
            raise ConversionRefusedError(f"quantize={quantize!r} starts from a float32 graph; dtype={dtype!r} "
                                         "cannot be quantized (leave dtype unset)")
        float32 = convert(model, dtype="float32", n_features=n_features, target_opset=target_opset, name=name,
                          target_onnxruntime=target_onnxruntime)
        return quantize_graph(float32, quantize, calibration=calibration)
    adapter = adapter_for(model)
    np_dtype = parse_dtype(adapter.native_input(model).floats if dtype is None else dtype)
    lowered = adapter.lower(model, dtype=np_dtype, ml_opset=_ml_opset(target_opset))
    if n_features is not None and n_features != lowered.n_features:
        raise InputError(
            f"n_features={n_features} was given, but the model was trained on {lowered.n_features} features"
        )
    if target_onnxruntime is not None:
        lowered = replace(lowered, onnx=_for_onnxruntime(lowered.onnx, target_onnxruntime, lowered.n_features))
    return finish(
        model, lowered, adapter.name, adapter.version(), adapter.fingerprint(model), dtype=np_dtype, name=name
    )
