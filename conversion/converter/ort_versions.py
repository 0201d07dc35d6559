"""The lowest onnxruntime a graph loads fast on, from the operators it uses, and the guard
that refuses an older one before it creates a session (which could otherwise take minutes).

Each need was measured by loading the zoo's graphs under each onnxruntime release, one
release per venv (docs/versions.md has the table and the command).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import onnx

from ..errors import RuntimeVersionError

__all__ = ["ALLOW_OLD_ENV", "BASE", "SET_SPLITS", "Need", "check_onnxruntime", "installed_onnxruntime",
           "needed_onnxruntime", "parse_version"]

# Set to 1 to create the session anyway (e.g. to measure how slowly an old release loads).
ALLOW_OLD_ENV = "ONNXGATE_ALLOW_OLD_ONNXRUNTIME"


@dataclass(frozen=True)
class Need:
    """An onnxruntime release a graph needs, and why."""

    version: str
    reason: str

    @property
    def key(self) -> tuple[int, ...]:
        return parse_version(self.version)


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.24.3"`` -> (1, 24, 3); a dev or local suffix (``1.25.0.dev2026``, ``+cpu``) is ignored."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part or 0) for part in match.groups())


def _tree_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.domain == "ai.onnx.ml" and n.op_type.startswith("TreeEnsemble")]


def _modes(node: onnx.NodeProto) -> set[int]:
    """The split modes a tree node uses: opset-5 numbers, legacy names mapped to them."""
    legacy = {b"BRANCH_LEQ": 0, b"BRANCH_LT": 1, b"BRANCH_GTE": 2, b"BRANCH_GT": 3, b"BRANCH_EQ": 4, b"BRANCH_NEQ": 5}
    for attr in node.attribute:
        if attr.name != "nodes_modes":
            continue
        if attr.type == onnx.AttributeProto.STRINGS:
            return {legacy[m] for m in attr.strings if m in legacy}
        return {int(m) for m in onnx.numpy_helper.to_array(attr.t).ravel()}
    return set()


def _uses_tree_ensemble_5(model: onnx.ModelProto) -> bool:
    return any(n.op_type == "TreeEnsemble" for n in _tree_nodes(model))


def _has_ambiguous_root(model: onnx.ModelProto) -> bool:
    """A root whose true and false children are a leaf and a node with the same index: before
    1.24 onnxruntime takes such a root for a single-leaf tree (onnxruntime #24679)."""
    for node in _tree_nodes(model):
        a = {x.name: x for x in node.attribute}
        if node.op_type != "TreeEnsemble" or "tree_roots" not in a:
            continue
        roots = list(a["tree_roots"].ints)
        true, false = a["nodes_truenodeids"].ints, a["nodes_falsenodeids"].ints
        true_leaf, false_leaf = a["nodes_trueleafs"].ints, a["nodes_falseleafs"].ints
        if any(true[r] == false[r] and true_leaf[r] != false_leaf[r] for r in roots):
            return True
    return False


def _uses_scan(model: onnx.ModelProto) -> bool:
    return any(n.op_type == "Scan" for n in model.graph.node)


def _uses_set_splits(model: onnx.ModelProto) -> bool:
    # BRANCH_MEMBER (6), and BRANCH_EQ (4): chains of it are how the legacy operator writes a
    # set, and onnxruntime turns opset-5 sets into such chains before merging them back.
    return any(_modes(n) & {4, 6} for n in _tree_nodes(model))


SET_SPLITS = Need("1.24.3", "its categorical set splits load in O(n²) before 1.24.3 (onnxruntime #27391): "
                           "seconds on 1.23-1.24.2, minutes on 1.21-1.22 for 100 trees")

# (applies to the graph, the release it needs, why). The floor of pyproject.toml covers the
# rest: every graph onnxgate writes (ai.onnx opset 21, IR 10) loads in milliseconds there.
_RULES: tuple[tuple[Callable[[onnx.ModelProto], bool], Need], ...] = (
    (_uses_tree_ensemble_5, Need("1.21.0", "it uses the ai.onnx.ml opset-5 TreeEnsemble operator, which onnxruntime "
                                           "implements from 1.21 on")),
    (_uses_set_splits, SET_SPLITS),
    (_has_ambiguous_root, Need("1.24.1", "one of its trees has a root whose leaf and inner child share an index, "
                                         "which onnxruntime before 1.24 reads as a single leaf: wrong scores "
                                         "(onnxruntime #24679)")),
    (_uses_scan, Need("1.24.1", "its linear-tree leaves are summed by a Scan, which fails on the first run before 1.24 "
                                "(\"Subgraph must have the shape set for all outputs\")")),
)


def _declared_floor() -> str:
    """The ``onnxruntime>=`` floor of the installed onnxgate's requirements (pyproject.toml),
    so the need a plain graph records is the release `nox -s lowest` tests, not a second literal."""
    import tomllib
    from importlib.metadata import PackageNotFoundError, requires
    from pathlib import Path

    try:
        installed = requires("onnxgate") or []
    except PackageNotFoundError:
        installed = []
    source = Path(__file__).resolve().parents[2] / "pyproject.toml"  # a source tree, or a bare dist-info
    declared = tomllib.loads(source.read_text())["project"]["dependencies"] if source.is_file() else []
    for spec in (*installed, *declared):
        match = re.fullmatch(r"onnxruntime\s*>=\s*([0-9.]+)", spec.strip())
        if match:
            return ".".join(map(str, parse_version(match[1])))
    raise RuntimeError(f"onnxgate's requirements declare no onnxruntime>= floor: {installed or declared}")


# Every graph needs at least the floor: below it onnxgate is neither installable nor tested.
BASE = Need(_declared_floor(), "onnxgate declares and tests onnxruntime from this release on (pyproject.toml, "
                               "nox -s lowest)")


def needed_onnxruntime(model: onnx.ModelProto) -> Need:
    """The newest of the needs that apply to ``model``'s graph, and never below the declared floor
    (on a tie the rule's reason is kept: it says more than the floor's)."""
    return max([*(need for applies, need in _RULES if applies(model)), BASE], key=lambda n: n.key)


def installed_onnxruntime() -> str:
    import onnxruntime as ort

    return ort.__version__


def check_onnxruntime(need: Need, *, what: str = "this model") -> None:
    """Raises RuntimeVersionError when the installed onnxruntime is older than ``need``."""
    have = installed_onnxruntime()
    if parse_version(have) >= need.key or os.environ.get(ALLOW_OLD_ENV) == "1":
        return
    raise RuntimeVersionError(
        f"{what} needs onnxruntime >= {need.version} and {have} is installed: {need.reason}; "
        f"upgrade it (pip install 'onnxruntime>={need.version}'), or set {ALLOW_OLD_ENV}=1 to load it anyway"
    )
