"""The environment manifest of a run: the benchmarks' machine fingerprint plus the commit.

The same fingerprint as results files from `onnxgate bench`, so runs of both kinds group by
one machine id in merged reports.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from conversion.bench.fingerprint import fingerprint

__all__ = ["environment_manifest", "manifest_rows"]


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment_manifest() -> dict[str, Any]:
    """``{"machine_id", "machine", "software", "commit"}``, JSON-ready."""
    return {**fingerprint(), "commit": _commit()}


def manifest_rows(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """The manifest as (name, value) rows for the report's table."""
    machine = manifest.get("machine") or {}
    software = dict(manifest.get("software") or {})
    rows = [("machine id", str(manifest.get("machine_id", "?")))]
    rows += [(k.replace("_", " "), str(v)) for k, v in machine.items()]
    if manifest.get("commit"):
        rows.append(("onnxgate commit", str(manifest["commit"])))
    for key in ("providers_available", "providers_benchmarked"):
        if key in software:
            rows.append((key.replace("_", " "), ", ".join(software.pop(key))))
    software.pop("onnxruntime_build", None)  # long; the version line says what matters
    rows += [(k, str(v)) for k, v in sorted(software.items())]
    return rows
