"""Where a counted call's instructions went: callgrind's per-object costs, grouped by origin.

onnxruntime's wheels are stripped, so function names cannot say whether extra work is in its
kernels or in onnxgate's wrapper; the shared object each instruction ran in can. A callgrind
output file names the object of every function (``ob=`` lines, compressed to ``ob=(id)`` after the
first use); the cost lines below a ``fn=`` are that function's own (self) cost, except the one
line after each ``calls=``, which is the callee's inclusive cost and is skipped. Summing self
``Ir`` per object, then per origin, splits the instructions exactly (the origins add up to the
part's total).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ORIGINS", "VDSO_CALLS", "add_origins", "clock_syscalls", "object_costs", "origin_of", "self_costs"]

# In the order they are tested: a path matching several (numpy's wheel lives under a Python
# site-packages) takes the first.
ORIGINS = ("onnxruntime", "numpy", "framework", "python", "other")
_FRAMEWORKS = ("xgboost", "lightgbm", "catboost", "sklearn", "scikit_learn")
_NAME = re.compile(r"^\((\d+)\)(?: (.*))?$")


def origin_of(obj: str) -> str:
    """The origin of one shared object (or executable) by its path."""
    low = obj.lower()
    base = os.path.basename(low)
    if "onnxruntime" in low:
        return "onnxruntime"
    if "numpy" in low:
        return "numpy"
    if any(f in low for f in _FRAMEWORKS):
        return "framework"
    if base.startswith(("python", "libpython")) or "lib-dynload" in low or ".cpython-" in base:
        return "python"  # the interpreter, its C modules, and so all of onnxgate's own (pure Python) code
    return "other"


def self_costs(path: str | os.PathLike[str], event: str = "Ir", *, by: str = "ob") -> dict[str, int]:
    """Self cost of ``event`` per object (``by="ob"``) or per function (``by="fn"``) of one callgrind
    output file."""
    names: dict[str, str] = {}
    column, current, skip_next = 0, "???", False
    out: dict[str, int] = {}
    key, callee = f"{by}=", f"c{by}="
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if skip_next:  # the inclusive cost of the call just named
                    skip_next = False
                    continue
                values = line.split()
                if len(values) > column + 1:
                    out[current] = out.get(current, 0) + int(values[column + 1])
            elif line.startswith(key):
                m = _NAME.match(line[len(key):].rstrip("\n"))
                if m is None:  # uncompressed name
                    current = line[len(key):].strip()
                else:
                    if m.group(2) is not None:
                        names[m.group(1)] = m.group(2)
                    current = names.get(m.group(1), "???")
            elif line.startswith("calls="):
                skip_next = True
            elif line.startswith(callee):  # name the callee (compression table only)
                m = _NAME.match(line[len(callee):].rstrip("\n"))
                if m is not None and m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
            elif line.startswith("events:"):
                column = line.split()[1:].index(event)
            elif line.startswith("positions:"):
                column = len(line.split()[1:]) - 1  # more than one position column shifts the events
    return out


def object_costs(path: str | os.PathLike[str], event: str = "Ir") -> dict[str, int]:
    """Self cost of ``event`` per object of one callgrind output file."""
    return self_costs(path, event, by="ob")


# Clock reads: natively served by the vDSO without entering the kernel, under valgrind real
# syscalls (it disables the vDSO). onnxruntime 1.23.0 made 4 clock_gettime calls per run where
# 1.22.0 made 2, which `strace` shows as no syscall at all; they are not kernel work of the call.
VDSO_CALLS = frozenset({"clock_gettime", "clock_getres", "gettimeofday", "time", "getcpu"})


def _plain(function: str) -> str:
    """``clock_gettime@@GLIBC_2.17`` / ``__GI___clock_gettime`` -> ``clock_gettime``."""
    return re.sub(r"^(__GI_)?_*", "", function.split("@")[0])


def clock_syscalls(path: str | os.PathLike[str]) -> int:
    """The syscalls of one callgrind output file that the vDSO serves natively (VDSO_CALLS)."""
    return sum(n for fn, n in self_costs(path, "sysCount", by="fn").items() if _plain(fn) in VDSO_CALLS)


def _origins(costs: dict[str, int]) -> dict[str, int]:
    out = dict.fromkeys(ORIGINS, 0)
    for obj, ir in costs.items():
        out[origin_of(obj)] += ir
    return out


def add_origins(per_call: dict[str, dict[str, dict[str, float]]], plan: Sequence[dict[str, Any]],
                files: Sequence[Path], calls_for: Callable[[int], int]) -> None:
    """Adds ``origin:NAME`` (instructions per call from that origin) to each path's counts, in place.

    Per call like the totals: the 2N-call phases minus the N-call phases, divided by N.
    """
    sums: dict[tuple[int, str], list[dict[str, int]]] = {}
    calls: dict[tuple[int, str], list[int]] = {}
    for entry, f in zip(plan, files, strict=True):
        key = (entry["batch"], entry["path"])
        slot = 0 if entry["calls"] == calls_for(entry["batch"]) else 1
        acc = sums.setdefault(key, [dict.fromkeys(ORIGINS, 0), dict.fromkeys(ORIGINS, 0)])
        for origin, ir in _origins(object_costs(f)).items():
            acc[slot][origin] += ir
        calls.setdefault(key, [0, 0])[slot] += entry["calls"]
    for (batch, path), (short, long) in sums.items():
        n = calls[(batch, path)][1] - calls[(batch, path)][0]
        counts = per_call.get(str(batch), {}).get(path)
        if counts is not None and n > 0:
            counts.update({f"origin:{o}": (long[o] - short[o]) / n for o in ORIGINS})
