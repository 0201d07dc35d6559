"""The machine fingerprint stored with every results file.

Two halves, used differently: ``machine`` (hardware identity) must match for the gate to
compare two runs, because timings from different CPUs say nothing about a code change;
``software`` (library versions, onnxruntime build and providers) is what an upgrade changes,
so the gate diffs it and reports it instead of refusing.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["DISPATCH_FLAGS", "TRACKED_DISTRIBUTIONS", "cpu_flags", "fingerprint", "machine_identity",
           "onnxgate_commit", "software_versions", "usable_providers"]

# Every distribution whose upgrade can change a conversion, a prediction or a timing.
TRACKED_DISTRIBUTIONS = (
    "onnxgate", "numpy", "scipy", "onnx", "onnxruntime", "xgboost", "lightgbm", "catboost",
    "scikit-learn", "onnxmltools", "skl2onnx", "treelite", "tl2cgen", "pytest-benchmark",
)

# CPU features ONNX Runtime (MLAS), numpy and the frameworks dispatch kernels on: the same
# model runs different instructions with and without them, so instruction counts and time
# ratios are comparable only between machines that share them.
DISPATCH_FLAGS = (
    "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl",
    "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8",
    "asimd", "sve", "sve2",  # aarch64 spellings
)

# Providers that are listed as available but cannot run a local TreeEnsemble (remote endpoints).
_NOT_COMPUTE = {"AzureExecutionProvider"}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The DISPATCH_FLAGS this CPU has, from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    present = set(line.split(":", 1)[1].split())
                    return [f for f in DISPATCH_FLAGS if f in present]
    except OSError:
        pass
    return []


def usable_providers() -> list[str]:
    """ONNX Runtime providers that can run the benchmarks on this machine, in ORT's preference order."""
    import onnxruntime as ort

    return [p for p in ort.get_available_providers() if p not in _NOT_COMPUTE]


@cache
def machine_identity() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "arch": platform.machine(),
        "system": platform.system(),
        "cpu_flags": cpu_flags(),
    }


@cache
def onnxgate_commit() -> str | None:
    """onnxgate's own git commit, ``+dirty`` when its package has uncommitted changes; None when installed.

    A user's results record *their* project's commit (pytest-benchmark's commit_info), so the
    gate needs this one to say that onnxgate itself changed between two runs.
    """
    package = Path(__file__).resolve().parents[1]

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(["git", *args], cwd=package, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None

    tracked = git("ls-files", "--error-unmatch", "__init__.py")  # a copy inside someone else's repository is not
    head = git("rev-parse", "HEAD") if tracked is not None and tracked.returncode == 0 else None
    if head is None or head.returncode != 0:
        return None
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    dirty = status is not None and bool(status.stdout.strip())
    return head.stdout.strip()[:12] + ("+dirty" if dirty else "")


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    commit = onnxgate_commit()
    if commit:
        versions["onnxgate_commit"] = commit
    for dist in TRACKED_DISTRIBUTIONS:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


@cache
def _ort_build() -> dict[str, Any]:
    import onnxruntime as ort

    return {
        "onnxruntime_build": ort.get_build_info(),
        "onnxruntime_device": ort.get_device(),
        "providers_available": list(ort.get_available_providers()),
        "providers_benchmarked": usable_providers(),
    }


def fingerprint() -> dict[str, Any]:
    """``{"machine_id", "machine", "software"}`` for machine_info["onnxgate"]."""
    machine = machine_identity()
    machine_id = hashlib.sha256(json.dumps(machine, sort_keys=True).encode()).hexdigest()[:16]
    return {"machine_id": machine_id, "machine": machine, "software": {**software_versions(), **_ort_build()}}
