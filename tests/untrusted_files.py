"""Untrusted files built the way an attacker (or a damaged CI artifact) would make them.

A malicious .skops file: a legitimate model whose object tree also calls
``numpy.testing._private.utils.runstring`` with a payload that writes a marker. Results files
with wrong types, non-finite judged values, other encodings and deep nesting.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def malicious_skops(path: Path, marker: Path, model: Any = None) -> Path:
    """Writes ``model`` (default: a small fitted decision tree) to ``path`` as .skops, with one
    parameter replaced by a call that creates ``marker`` when the file is loaded."""
    import numpy as np
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    if model is None:
        model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(np.eye(4), [0, 1, 1, 0])
    archive = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(archive.read("schema.json"))
    code = f"open({str(marker)!r}, 'w').write('code from the model file ran')"
    args = json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps((code, {})))).read("schema.json"))
    for key in ("protocol", "_skops_version"):
        args.pop(key, None)
    # A ConstructorFromReduceNode calls module.class(*args) when the tree is constructed.
    schema["content"]["content"]["ccp_alpha"] = {
        "__class__": "runstring", "__module__": "numpy.testing._private.utils",
        "__loader__": "ConstructorFromReduceNode", "content": args,
    }
    with zipfile.ZipFile(path, "w") as out:
        for name in archive.namelist():
            out.writestr(name, json.dumps(schema) if name == "schema.json" else archive.read(name))
    return path


# --- results files: what travels between CI jobs and forks, crafted or damaged ---

def _latency_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in doc["benchmarks"] if b["extra_info"].get("onnxgate_kind") == "latency"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Sets a dotted path of the first latency benchmark (``row.``) or of the document."""
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = _latency_rows(doc)[0] if parents and parents[0] == "row" else doc
        for key in parents[1:] if parents and parents[0] == "row" else parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return change


_DELETE = object()

# The ten type-confused files of issue 28: each was a traceback and exit 1 ("regression").
# name -> (change to a valid results file, the field path the refusal must name)
TYPE_CONFUSED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "extra_info-list": (_set("row.extra_info", [1, 2]), "extra_info"),
    "stats-null": (_set("row.stats", None), "stats"),
    "batch_size-missing": (_set("row.extra_info.batch_size", _DELETE), "extra_info.batch_size"),
    "history-int": (_set("onnxgate_baseline_history", 7), "onnxgate_baseline_history"),
    "machine_info-string": (_set("machine_info", "x86"), "machine_info"),
    "commit_info-list": (_set("commit_info", ["abc"]), "commit_info"),
    "counts-list": (_set("row.extra_info.counts", [1.0]), "extra_info.counts"),
    "machine-string": (_set("machine_info.onnxgate.machine", "amd"), "machine_info.onnxgate.machine"),
}


def hostile_results(valid: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """Files made from the valid results file ``valid``: name -> (file, what the refusal must name).
    The ten type-confused files, plus non-finite judged values."""
    folder.mkdir(parents=True, exist_ok=True)
    text = valid.read_text(encoding="utf-8")
    out: dict[str, tuple[Path, str]] = {}
    for name, (change, where) in TYPE_CONFUSED.items():
        doc = json.loads(text)
        change(doc)
        out[name] = (folder / f"{name}.json", where)
        out[name][0].write_text(json.dumps(doc), encoding="utf-8")
    (folder / "not-utf8.json").write_bytes(text[:200].encode() + b"\xff\xfe\x00bad" + text[200:].encode())
    out["not-utf8"] = (folder / "not-utf8.json", "not UTF-8")
    deep = 200_000
    (folder / "deep.json").write_text(text[:-2] + ', "x": ' + "[" * deep + "]" * deep + "}\n", encoding="utf-8")
    out["deep"] = (folder / "deep.json", "nests deeper")
    out["all-nan"] = (_all_nan(text, folder / "all-nan.json"), "ratio_rounds[0] is nan, expected a finite number")
    doc = json.loads(text)
    _latency_rows(doc)[0]["stats"]["p50"] = float("inf")
    (folder / "inf-p50.json").write_text(json.dumps(doc), encoding="utf-8")
    out["inf-p50"] = (folder / "inf-p50.json", "stats.p50 is inf")
    (folder / "bom.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    out["bom"] = (folder / "bom.json", "byte order mark (BOM)")
    return out


def _all_nan(text: str, path: Path) -> Path:
    """Every ratio round NaN: a file that once passed the gate as "unchanged"."""
    doc = json.loads(text)
    for row in _latency_rows(doc):
        for key, value in row["extra_info"].items():
            if key.endswith("ratio_rounds"):
                row["extra_info"][key] = [float("nan")] * len(value)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
