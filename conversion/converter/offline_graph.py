"""Graphs optimized offline: ONNX Runtime's optimized graph saved once, loaded with optimization off.

ONNX Runtime rewrites a graph on every session creation (constant folding, node fusion). Saving
the rewritten graph (``SessionOptions.optimized_model_filepath``) skips that work on later loads.
The rewritten graph may hold fused operators of the ONNX Runtime version that wrote it, so the
version is recorded beside it and an engine of another version refuses the file rather than run
operators it may define differently. The extended level is used, not ``all``: ``all`` adds layout
rewrites that ONNX Runtime documents as specific to the machine that ran them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx
import onnxruntime as ort

from ..errors import ModelFileError

__all__ = ["OPTIMIZED_FOR", "check_offline_graph", "optimize_graph"]

# The metadata key (under onnxgate.) naming the onnxruntime version a graph was optimized by.
OPTIMIZED_FOR = "optimized_for_onnxruntime"


def optimize_graph(graph: onnx.ModelProto) -> onnx.ModelProto:
    """The graph as this ONNX Runtime optimizes it at the extended level (CPU provider)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="onnxgate-opt-") as folder:
        target = Path(folder) / "optimized.onnx"
        so.optimized_model_filepath = str(target)
        ort.InferenceSession(graph.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
        return onnx.load_model_from_string(target.read_bytes())


def check_offline_graph(metadata: dict[str, str]) -> bool:
    """Whether the graph was optimized offline (load it with optimization off); raises
    ModelFileError when another ONNX Runtime version optimized it."""
    made_by = metadata.get(OPTIMIZED_FOR)
    if made_by is None:
        return False
    if made_by != ort.__version__:
        raise ModelFileError(
            f"this ONNX file holds a graph optimized offline by onnxruntime {made_by}, but onnxruntime "
            f"{ort.__version__} is installed; its fused operators are not guaranteed to mean the same here. "
            "Load the unoptimized file, or save it again with save(..., optimized=True) under this onnxruntime"
        )
    return True
