"""Instruction counts per call, from valgrind's callgrind: the gate's noise-free measure.

For each benchmarked model (a zoo model, or a user's model file: the same spec the latency
suite prepares, rebuilt in the worker from JSON, so a user's ``.pkl`` loads only where the
config trusts it), one valgrind process (``python -m conversion.bench.counts --worker SPEC``, counts_worker.py)
trains or loads and converts it *without* instrumentation (callgrind's ``--instr-atstart=no``: no
counting, so setup costs a few times native speed, not fifty), then switches counting on
with a client request (callgrind_requests.py) and runs, per batch size and path,

    a warm-up, then REPEATS x (N calls, dump, 2N calls, dump)

so ``(sum(2N phases) - sum(N phases)) / (REPEATS * N)`` is the cost of one call: imports,
setup, the dump itself and the client request cancel. The paths are the native model's
predict, onnxgate's engine (call path pinned to ``run``, since the engine otherwise picks
one by timing) and a raw ONNX Runtime session, all on the calling thread: 1 intra-op
thread, spinning off, ``PYTHONHASHSEED`` fixed, garbage collector off while counting, and
only thread 1's counts read (``--separate-threads=yes``).

The phase sequence is fixed because Python 3.11's adaptive interpreter makes phases differ by a
few %, alike from run to run; how far counts repeat across processes (run-to-run spread) is in
docs/gate.md. Cache simulation (``--cache-sim``)
adds estimated cycles: Ir + 10 x L1 misses + 100 x last-level misses, the weights of
callgrind's and KCachegrind's cycle estimate (an L1 miss that hits L2 costs ~10 cycles, a
miss to memory ~100), so memory-bound changes at large batches show.

What the kernel does is counted too, since time spent there is no user-space instruction:
syscalls per call (callgrind's ``sysCount`` from ``--collect-systime``, deterministic, less the
clock reads that the vDSO serves natively) and page
faults per call (the calling thread's minor + major faults from ``getrusage`` around each
phase), by the same N/2N difference.

Cold start is counted once per model, after the calls: a new raw session made from the
graph's bytes (graph load and optimisation: onnxruntime #27391 made this O(n^2) for one
LightGBM model) and its first one-row call, each between a zero and a dump. They are the
paths ``session-creation`` and ``first-call`` of the smallest batch, so the gate judges them
like any count and names the phase that rose.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conversion.bench.callgrind_objects import add_origins, clock_syscalls
from conversion.bench.counts_worker import PATHS, REFERENCE, calls_for, repeats_for, work
from conversion.errors import OnnxGateError

__all__ = ["CountsUnavailableError", "count_model", "count_models", "cycles", "valgrind"]

log = logging.getLogger(__name__)

# Cycle estimate weights (callgrind/KCachegrind's): L1 miss ~10 cycles, last-level miss ~100.
L1_MISS_CYCLES = 10
LL_MISS_CYCLES = 100
ENV = {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
# The simulated caches are pinned (a typical server core: 32 KiB 8-way L1s, a 32 MiB 16-way
# last level) instead of read from cpuid, which VMs report oddly (this one: a 512 MiB 2-way
# LL, in which nothing ever misses), so estimated cycles mean the same on every runner.
CACHES = ("--I1=32768,8,64", "--D1=32768,8,64", "--LL=33554432,16,64")
VALGRIND_ARGS = ("--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes", "--cache-sim=yes", *CACHES,
                 "--collect-systime=yes", "--dump-instr=no", "--dump-line=no")
# What one call's entry holds, and the dump's event (or the plan's field) each comes from.
MEASURES = ("instructions", "cycles", "syscalls", "faults")


class CountsUnavailableError(OnnxGateError):
    """Instruction counts were asked for but valgrind cannot produce them here."""


def valgrind() -> str:
    """Path of valgrind, or CountsUnavailableError saying how to get it."""
    from conversion.bench.callgrind_requests import available

    if not available():
        raise CountsUnavailableError("instruction counts (--counts) need valgrind on x86-64 Linux; "
                                     "run without --counts on this machine")
    path = os.environ.get("ONNXGATE_VALGRIND") or shutil.which("valgrind")
    if not path or not os.access(path, os.X_OK):
        raise CountsUnavailableError(
            "instruction counts (--counts) need valgrind, which is not installed (not on PATH"
            + (f", ONNXGATE_VALGRIND={os.environ['ONNXGATE_VALGRIND']!r} is not executable" if
               os.environ.get("ONNXGATE_VALGRIND") else "")
            + "); install it (Debian/Ubuntu: apt-get install valgrind) or run without --counts"
        )
    return path


def cycles(events: dict[str, int]) -> int:
    """Estimated cycles: instructions plus weighted cache misses."""
    l1 = events.get("I1mr", 0) + events.get("D1mr", 0) + events.get("D1mw", 0)
    ll = events.get("ILmr", 0) + events.get("DLmr", 0) + events.get("DLmw", 0)
    return events["Ir"] + L1_MISS_CYCLES * l1 + LL_MISS_CYCLES * ll


# --- the parent -------------------------------------------------------------------------

_VALGRIND_LINE = re.compile(r"^==\d+==")
_PART = re.compile(r"^cg\.\d+\.(\d+)-01$")  # cg.PID.PART-THREAD; thread 01 is the caller


def _read_part(path: Path) -> dict[str, int]:
    """One dump's events: the ``summary:`` line's, with syscalls less clock reads.

    Syscalls come from the ``totals:`` line, the sum of the per-function costs that the clock reads
    are taken from (callgrind_objects.py): in the first dump after counting starts the summary
    held 34 syscalls where the functions held 131 (129 of them clock_gettime).
    """
    events: list[str] = []
    lines: dict[str, dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("summary:", "totals:")):
            lines[line.split(":")[0]] = dict(zip(events, (int(v) for v in line.split()[1:]), strict=False))
    if lines:
        out = dict(lines.get("summary") or lines["totals"])
        if "sysCount" in out:
            out["sysCount"] = lines.get("totals", out)["sysCount"] - clock_syscalls(path)
        return out
    raise CountsUnavailableError(f"callgrind output {path} has no summary line; valgrind may have been killed")


PerCall = dict[str, dict[str, dict[str, float]]]  # {batch: {path: {measure: per call}}}, MEASURES


def _phase(entry: dict[str, Any], events: dict[str, int]) -> dict[str, float]:
    """One phase's totals per measure (``faults`` comes from the plan: getrusage, not callgrind)."""
    return {"instructions": events["Ir"], "cycles": cycles(events), "syscalls": events.get("sysCount", 0),
            "faults": entry.get("faults", 0), "calls": entry["calls"]}


def _per_call(plan: Sequence[dict[str, Any]], parts: Sequence[dict[str, int]]) -> PerCall:
    """{batch: {path: {"instructions", "cycles", "syscalls", "faults"}}} from the dumps in plan order."""
    sums: dict[tuple[int, str], dict[str, list[float]]] = {}
    out: PerCall = {}
    for entry, events in zip(plan, parts, strict=True):
        if entry.get("cold"):  # counted once: the phase's own totals
            phase = _phase(entry, events)
            out.setdefault(str(entry["batch"]), {})[entry["path"]] = {m: float(phase[m]) for m in MEASURES}
            continue
        acc = sums.setdefault((entry["batch"], entry["path"]), {})
        slot = 0 if entry["calls"] == calls_for(entry["batch"]) else 1  # the N-call or the 2N-call phase
        for measure, value in _phase(entry, events).items():
            acc.setdefault(measure, [0.0, 0.0])[slot] += value
    for (batch, path), acc in sums.items():
        calls = acc["calls"][1] - acc["calls"][0]
        out.setdefault(str(batch), {})[path] = {m: (acc[m][1] - acc[m][0]) / calls for m in MEASURES}
    return out


def _hook_folders(hooks: dict[str, Any]) -> list[str]:
    """The folders this process imports the hooks' modules from, for the worker's ``sys.path``.

    The worker runs in the folder holding ``conversion``, so a hook module this process found in
    another folder (``benchmarks.proof`` of another checkout, a user's own folder) would not
    import there.
    """
    import importlib.util

    folders = []
    for hook in [*hooks.get("setup", ()), *([hooks["maker"]] if hooks.get("maker") else [])]:
        top = hook["call"].partition(":")[0].split(".")[0]
        spec = importlib.util.find_spec(top)
        if spec is None:
            raise CountsUnavailableError(f"counts hook {hook['call']!r}: no module {top!r} can be imported here; "
                                         "run from the folder that holds it or put it on PYTHONPATH")
        # a package's folder, or a module's file: either way its parent goes on the path
        where = next(iter(spec.submodule_search_locations or ()), None) or spec.origin
        folders.append(str(Path(str(where)).parent))
    return list(dict.fromkeys(folders))


def count_model(model: Any, batches: Sequence[int], *, paths: Sequence[str] = PATHS,
                python: str = sys.executable, hooks: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counts one model in one valgrind process: ``{"per_call": {batch: {path: ...}}, "meta": ...}``.

    ``model``: a zoo model's name, REFERENCE, or a spec (ZooSpec, or a user model's UserSpec).
    ``hooks`` (prove_counts): ``{"setup": [{"call": "mod:fn", "kwargs": {}}], "maker": {...}}``, run in the worker.
    """
    from conversion.bench.user_models import subject_of

    tool = valgrind()
    if isinstance(model, str):
        name, subject = model, (None if model == REFERENCE else {"zoo": model})
    else:
        name, subject = model.name, subject_of(model)
    with tempfile.TemporaryDirectory(prefix="onnxgate-counts-") as tmp:
        spec_path, plan_path = Path(tmp, "spec.json"), Path(tmp, "plan.json")
        spec_path.write_text(json.dumps({"model": name, "subject": subject, "batches": list(batches),
                                         "paths": list(paths), "out": str(plan_path), **(hooks or {})}))
        cmd = [tool, *VALGRIND_ARGS, f"--callgrind-out-file={tmp}/cg.%p", python, "-m", "conversion.bench.counts",
               "--worker", str(spec_path)]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, **ENV}
        root = Path(__file__).resolve().parents[2]  # the folder holding the conversion package
        env["PYTHONPATH"] = os.pathsep.join([str(root), *_hook_folders(hooks or {}),
                                             *filter(None, [os.environ.get("PYTHONPATH")])])
        log.info("counting %s: %s", name, " ".join(cmd))
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not plan_path.exists():
            # the worker's own error, without valgrind's "==PID==" summary lines after it
            tail = "\n".join([ln for ln in (proc.stderr or "").splitlines() if not _VALGRIND_LINE.match(ln)][-15:])
            raise CountsUnavailableError(f"counting {name} under valgrind failed (exit {proc.returncode}):\n{tail}")
        plan = json.loads(plan_path.read_text())
        files = sorted((f for f in Path(tmp).glob("cg.*") if _PART.search(f.name)),
                       key=lambda f: int(_PART.search(f.name).group(1)))  # type: ignore[union-attr]
        if len(files) != len(plan):
            raise CountsUnavailableError(f"counting {name}: expected {len(plan)} callgrind dumps, found {len(files)}")
        per_call = _per_call(plan, [_read_part(f) for f in files])
        add_origins(per_call, plan, files, calls_for)  # where the instructions went (callgrind_objects.py)
    version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    meta = {"tool": version, "args": list(VALGRIND_ARGS), "repeats": {str(b): repeats_for(b) for b in batches},
            "engine_call_path": "run",
            "calls": {str(b): calls_for(b) for b in batches}, "env": ENV,
            "cycles": f"Ir + {L1_MISS_CYCLES} x L1 misses + {LL_MISS_CYCLES} x LL misses",
            "syscalls": "callgrind sysCount less clock reads",
            "faults": "getrusage(RUSAGE_THREAD) minor + major faults"}
    return {"per_call": per_call, "meta": meta}


def count_models(models: Iterable[Any], batches: Sequence[int], *, paths: Sequence[str] = PATHS,
                 jobs: int | None = None, done: Callable[[int], Any] | None = None) -> dict[str, dict[str, Any]]:
    """Counts several models (names or specs, as count_model), ``jobs`` valgrind processes at a time
    (default: one per core), by name. A model that cannot be counted gets ``{"error": why}``.
    ``done(1)`` is called as each model finishes (a progress bar's update)."""
    valgrind()  # fail before starting anything

    def one(model: Any) -> dict[str, Any]:
        try:
            return count_model(model, batches, paths=paths)
        except CountsUnavailableError as exc:
            return {"error": str(exc)}
        finally:
            if done is not None:
                done(1)

    chosen = list({(m if isinstance(m, str) else m.name): m for m in models}.items())
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        results = pool.map(lambda item: one(item[1]), chosen)
        return dict(zip([n for n, _ in chosen], results, strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conversion.bench.counts",
                                     description="Instruction counts per call of zoo models under callgrind.")
    parser.add_argument("models", nargs="*", default=["xgboost-synthetic-small"])
    parser.add_argument("--batches", default="1,256,4096")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated: native, engine, onnxruntime")
    parser.add_argument("--jobs", type=int, default=None, help="valgrind processes at a time (default: cores)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker.read_text())
        plan = work(spec)
        Path(spec["out"]).write_text(json.dumps(plan))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        result = count_models(args.models, [int(b) for b in args.batches.split(",")],
                              paths=args.paths.split(","), jobs=args.jobs)
    except CountsUnavailableError as exc:
        print(f"counts: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({m: r.get("per_call", r) for m, r in result.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
