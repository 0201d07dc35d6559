"""What a model is, in numbers a gate can compare across runs: trees, nodes, leaves, features,
the ONNX graph's size and the hash of its computation, and the native file's size and hash.

Counted from the emitted graph's TreeEnsemble operators (both the ai.onnx.ml opset 3 and 5
forms), so every framework is counted one way. A retrained model shows up here first.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

    from conversion.converter.converted import ConvertedModel

__all__ = ["computation_sha256", "file_facts", "graph_facts", "model_facts"]


def _ensemble_counts(node: onnx.NodeProto) -> tuple[int, int, int]:
    """(trees, nodes, leaves) of one TreeEnsemble* operator."""
    attrs = {a.name: a for a in node.attribute}
    if node.op_type == "TreeEnsemble":  # opset 5: interior nodes and leaves are separate arrays
        splits, leaves = len(attrs["nodes_featureids"].ints), len(attrs["leaf_targetids"].ints)
        return len(attrs["tree_roots"].ints), splits + leaves, leaves
    modes = list(attrs["nodes_modes"].strings)
    return len(set(attrs["nodes_treeids"].ints)), len(modes), modes.count(b"LEAF")


def graph_facts(model: onnx.ModelProto) -> dict[str, int]:
    """Trees, nodes and leaves summed over the graph's tree ensembles (empty for a graph without one)."""
    ensembles = [n for n in model.graph.node if n.domain == "ai.onnx.ml" and n.op_type.startswith("TreeEnsemble")]
    if not ensembles:
        return {}
    trees, nodes, leaves = (sum(c) for c in zip(*(_ensemble_counts(n) for n in ensembles), strict=True))
    return {"trees": trees, "nodes": nodes, "leaves": leaves}


def file_facts(path: Path) -> dict[str, Any]:
    """The native model file's size and sha256 (what changes when it is retrained)."""
    data = Path(path).read_bytes()
    return {"file_bytes": len(data), "file_sha256": hashlib.sha256(data).hexdigest()}


def computation_sha256(model: onnx.ModelProto) -> str:
    """sha256 of what the graph computes: its operators, attributes, weights and interface.

    Left out: the metadata (the native model's fingerprint and library versions, which the gate
    reports on their own), doc strings, and the names a converter draws (skl2onnx names its
    graph at random on each conversion). Graph, node and intermediate value names become their
    order of appearance; the inputs and outputs keep theirs, since callers feed and read by them.
    """
    import onnx

    graph = onnx.GraphProto()
    graph.CopyFrom(model.graph)
    kept = {v.name for v in (*graph.input, *graph.output)}
    names: dict[str, str] = {}

    def rename(name: str) -> str:
        if not name or name in kept:
            return name
        return names.setdefault(name, f"v{len(names)}")

    graph.name, graph.doc_string = "", ""
    del graph.value_info[:]  # shape annotations, not computation
    for tensor in graph.initializer:
        tensor.name, tensor.doc_string = rename(tensor.name), ""
    for node in graph.node:
        node.name, node.doc_string = "", ""
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
    for value in (*graph.input, *graph.output):
        value.doc_string = ""
    return hashlib.sha256(graph.SerializeToString(deterministic=True)).hexdigest()


def model_facts(converted: ConvertedModel, *, source: Path | None = None) -> dict[str, Any]:
    """Everything above for one converted model; ``source`` is its native file, where there is one."""
    facts: dict[str, Any] = {**graph_facts(converted.onnx), "features": converted.n_features,
                             "onnx_bytes": len(converted.to_bytes()),
                             "computation_sha256": computation_sha256(converted.onnx)}
    if source is not None:
        facts.update(file_facts(source))
    return facts
