"""The in-run reference model: a fixed tree ensemble run in ONNX Runtime beside every benchmark.

It is built here from a seeded random generator with onnx.helper, never by onnxgate's
converter, so a change in the converter, the emitter or the engine cannot change it. Timed
in the same round as the target, it feels the same machine state through the same kind of
work (tree traversal in ONNX Runtime), which cancels contention far better than a
different program (the native framework) does: under heavy load the native partner's
CPU time moved up to 2x while ONNX Runtime's moved 1.3x, but two ONNX Runtime tree
ensembles move together. It runs through a raw InferenceSession, so onnxgate's engine
overhead counts against the target only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

__all__ = ["REFERENCE_DEPTH", "REFERENCE_TREES", "reference_call", "reference_model"]

REFERENCE_TREES = 100
REFERENCE_DEPTH = 6


@cache
def reference_model(n_features: int) -> bytes:
    """100 complete trees of depth 6 on ``n_features`` float32 inputs (seed 0), serialised."""
    rng = np.random.default_rng(0)
    n_inner = 2**REFERENCE_DEPTH - 1
    n_nodes = 2 * n_inner + 1
    ids = np.arange(n_nodes)
    inner = ids < n_inner
    attrs: dict[str, list[Any]] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
        "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for tree in range(REFERENCE_TREES):
        attrs["nodes_treeids"] += [tree] * n_nodes
        attrs["nodes_nodeids"] += ids.tolist()
        attrs["nodes_featureids"] += np.where(inner, rng.integers(0, n_features, n_nodes), 0).tolist()
        attrs["nodes_values"] += np.where(inner, rng.normal(0.0, 1.5, n_nodes), 0.0).astype(np.float32).tolist()
        attrs["nodes_modes"] += ["BRANCH_LEQ" if i else "LEAF" for i in inner]
        attrs["nodes_truenodeids"] += np.where(inner, 2 * ids + 1, 0).tolist()
        attrs["nodes_falsenodeids"] += np.where(inner, 2 * ids + 2, 0).tolist()
        leaves = ids[~inner]
        attrs["target_treeids"] += [tree] * leaves.size
        attrs["target_nodeids"] += leaves.tolist()
        attrs["target_ids"] += [0] * leaves.size
        attrs["target_weights"] += rng.normal(0.0, 0.1, leaves.size).astype(np.float32).tolist()
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=1,
                            aggregate_function="SUM", **attrs)
    graph = helper.make_graph(
        [node], "onnxgate_reference",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def reference_call(X: np.ndarray, *, threads: int) -> Callable[[], Any]:
    """A zero-argument call running the reference model on ``X`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(reference_model(X.shape[1]), sess_options=opts, providers=["CPUExecutionProvider"])
    feed = {"X": np.ascontiguousarray(X, dtype=np.float32)}
    session.run(None, feed)
    return lambda: session.run(None, feed)
