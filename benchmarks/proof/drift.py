"""Version drift: which tracked packages differ from the pins, and which of them a gate
failure points at.

    python -m benchmarks.proof.drift --constraints constraints.txt [--gate-json gate.json]

Used by ``nox -s latest`` after installing the newest releases. With everything upgraded at
once a failure cannot be pinned on one package for certain, so each failure lists the
upgraded packages on its path (ONNX rows: onnxruntime, onnx, the converter and the native
side; native rows: the framework; parity: framework, converter, onnxruntime). ``nox -s
latest -- one-at-a-time`` upgrades one package per step instead, which does attribute.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from conversion.results.latency_info import RowKey

__all__ = ["UPGRADABLE", "main", "pinned", "suspects", "upgrades"]

# The packages whose releases the users were hurt by; `latest` upgrades these.
UPGRADABLE = (
    "xgboost", "lightgbm", "catboost", "scikit-learn", "onnxmltools", "skl2onnx", "onnx", "onnxruntime", "numpy",
)

_FRAMEWORK_DIST = {"xgboost": "xgboost", "lightgbm": "lightgbm", "catboost": "catboost", "sklearn": "scikit-learn"}
_CONVERTERS = {"xgboost": ("onnxmltools",), "lightgbm": ("onnxmltools",), "catboost": (), "sklearn": ("skl2onnx",)}


def pinned(constraints: Path) -> dict[str, str]:
    """{distribution (lower case): version} from a pip constraints file."""
    pins = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def upgrades(pins: dict[str, str]) -> dict[str, tuple[str, str]]:
    """{dist: (pinned, installed)} for tracked packages whose installed version differs."""
    out = {}
    for dist in UPGRADABLE:
        try:
            now = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        if pins.get(dist) != now:
            out[dist] = (pins.get(dist, "unpinned"), now)
    return out


def suspects(change: dict[str, Any], changed: dict[str, tuple[str, str]]) -> list[str]:
    """The upgraded packages on the path of one gate change (a row of GateOutcome.to_dict())."""
    key = RowKey.parse(str(change.get("key", "")))
    framework = key.model.split("-")[0]
    native = [_FRAMEWORK_DIST.get(framework, framework), "numpy"]
    onnx_side = ["onnxruntime", "onnx", *_CONVERTERS.get(framework, ())]
    path = native if key.runtime == "native" else onnx_side + native
    return [d for d in path if d in changed]


def _report(changed: dict[str, tuple[str, str]], gate: dict[str, Any] | None) -> str:
    lines = ["upgraded since the pins:" if changed else "every tracked package is at its pinned version"]
    lines += [f"  {d}: {a} -> {b}" for d, (a, b) in sorted(changed.items())]
    if gate is None:
        return "\n".join(lines)
    bad = [c for c in gate.get("changes", []) if c.get("verdict") in ("regression", "improvement")]
    for reason in gate.get("parity", {}).get("failures", []):
        framework = reason.split("-")[0]
        path = [_FRAMEWORK_DIST.get(framework, framework), *_CONVERTERS.get(framework, ()), "onnxruntime"]
        lines.append(f"PARITY {reason}\n    suspects: {', '.join(d for d in path if d in changed) or 'none upgraded'}")
    for c in bad:
        effect = c.get("effect")
        lines.append(f"{c['verdict'].upper()} {c['key']} {effect:+.0%}" if effect is not None else c["key"])
        lines.append(f"    suspects: {', '.join(suspects(c, changed)) or 'none upgraded'}")
    if not bad and not gate.get("parity", {}).get("failures"):
        lines.append("no parity or performance change against the pinned baseline")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proof.drift", description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraints", type=Path, default=Path("constraints.txt"))
    parser.add_argument("--gate-json", type=Path, help="output of `onnxgate gate --json` against the pinned baseline")
    parser.add_argument("--only", help="print only this package's version change (one-at-a-time mode)")
    parser.add_argument("--list", action="store_true", help="print the packages `latest` upgrades, one a line")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(UPGRADABLE))
        return 0
    changed = upgrades(pinned(args.constraints))
    if args.only:
        changed = {k: v for k, v in changed.items() if k == args.only}
    gate = json.loads(args.gate_json.read_text()) if args.gate_json and args.gate_json.exists() else None
    print(_report(changed, gate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
