"""Prove the gate on slowdowns that instruction counts cannot see, on a quiet and a busy machine.

    .venv/bin/python -m benchmarks.proof.prove_gate --injections [--trials 20] [--batches 1,256]

Four slowdowns are injected after every call of the ONNX row's target (onnxgate's engine on a
fresh session of the zoo's small XGBoost model), inside its timed call:

- ``kernel``: ``os.urandom(65536)``, about 200 us of kernel CPU time per call (an allocator or
  arena change that makes syscalls looks like this);
- ``wait``: ``time.sleep(200e-6)``: the call waits (a lock, another thread); no CPU clock sees it;
- ``faults``: a fresh 4 MiB anonymous mapping touched once per page, 1,024 minor page faults;
- ``tail``: 1 call in 10 spends 9 times the call's median CPU time more in the kernel (10x slower).

Each trial is one whole gate decision (``gate_runs``) of a current run against a baseline run of
unchanged code, both with the same instruction counts (by construction: none of these adds
counted work, as a change inside onnxruntime's allocator would not), so the noise rule is in
force. Baselines are measured quiet; current runs quiet, and busy (a second process spinning on
the other core). False alarms: unchanged current runs against the other baselines. Runs are made in
two worker processes per load, the second with a different import order (heap layout).
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.proof.prove_gate import BASE_TREES, Config, _models, _record, build_parser

__all__ = ["INJECTIONS", "inject", "main"]

log = logging.getLogger("onnxgate.prove_blind")

INJECTIONS = ("kernel", "wait", "faults", "tail")
FAULT_BYTES = 4 << 20
PAGE = mmap.PAGESIZE
COUNTS = {"engine": {"instructions": 1e5, "cycles": 2e5}, "onnxruntime": {"instructions": 9e4, "cycles": 1.8e5}}


def _kernel_for(seconds: float) -> None:
    """Spends about ``seconds`` of this thread's CPU time in the kernel (getrandom)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        os.urandom(16384)


def _faults() -> None:
    buf = mmap.mmap(-1, FAULT_BYTES)
    try:
        for off in range(0, FAULT_BYTES, PAGE * 64):  # a slice write per 64 pages: few interpreted steps
            buf[off:off + PAGE * 64:PAGE] = b"\1" * 64
    finally:
        buf.close()


def inject(kind: str, target: Callable[[], Any], call_cpu_s: float) -> Callable[[], Any]:
    """``target`` with ``kind`` of extra cost after each call (``call_cpu_s``: its median CPU time)."""
    extra: Callable[[], Any]
    if kind == "kernel":
        def extra() -> Any:
            return os.urandom(65536)
    elif kind == "wait":
        def extra() -> Any:
            return time.sleep(200e-6)
    elif kind == "faults":
        extra = _faults
    elif kind == "tail":
        calls = [0]

        def extra() -> Any:
            calls[0] += 1
            if calls[0] % 10 == 0:
                _kernel_for(9 * call_cpu_s)
    else:
        raise ValueError(f"unknown injection {kind!r}; choose from {', '.join(INJECTIONS)}")

    def call() -> Any:
        out = target()
        extra()
        return out
    return call


def _run(cfg: Config, prep: Any, X: Any, converted: Any, kind: str | None) -> dict[str, Any]:
    """One run of one ONNX row, as test_latency measures it (quick-profile rounds, then the tail block)."""
    from conversion.bench.cases import PROFILES
    from conversion.bench.interleave import measure
    from conversion.bench.measure import tail_fields
    from conversion.bench.pairing import pair
    from conversion.results.benchmark_runs import percentile

    pairing = pair(prep, X, runtime=cfg.runtime, threads=cfg.threads, converted=converted)
    if kind is not None:
        probe = []
        for _ in range(30):
            t0 = time.thread_time()
            pairing.target()
            probe.append(time.thread_time() - t0)
        pairing = replace(pairing, target=inject(kind, pairing.target, percentile(probe, 50)))
    profile = PROFILES["quick"]
    rounds = measure(pairing.target, pairing.partners, rounds=profile.rounds_for(cfg.batch_size),
                     warmup_rounds=profile.warmup_rounds, target_clock=pairing.target_clock)
    per_call = percentile(rounds.target_wall, 50) + percentile(rounds.partner_wall["reference"], 50)
    return {"rounds": vars(rounds), "tail": tail_fields(pairing, per_call, cfg.batch_size)}


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    for name in spec.get("preimport", ()):  # another import order: another heap layout
        __import__(name)
    prep, batch, converted = _models([BASE_TREES])
    out: dict[str, Any] = {}
    for b in spec["batches"]:
        cfg, X = Config("onnx", b, 1), batch(b)
        runs = out.setdefault(cfg.name, {k: [] for k in ("unchanged", *spec["injections"])})
        for _ in range(spec["runs"]):
            for kind in ("unchanged", *spec["injections"]):
                runs[kind].append(_run(cfg, prep, X, converted[BASE_TREES], None if kind == "unchanged" else kind))
    return out


def _spin() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure_all(batches: Sequence[int], trials: int, *, injections: Sequence[str] = INJECTIONS) -> dict[str, Any]:
    """{load: {config: {"unchanged" | injection: [run, ...]}}}, ``trials`` runs of each, in 2 processes."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for load in ("quiet", "busy"):
            spinner = _spin() if load == "busy" else None
            try:
                for k, preimport in enumerate(((), ("sklearn.ensemble", "lightgbm", "scipy.stats"))):
                    spec_path, res = Path(tmp, f"{load}{k}.json"), Path(tmp, f"{load}{k}.out")
                    runs = trials // 2 + (trials % 2 if k == 0 else 0)
                    spec_path.write_text(json.dumps({"batches": list(batches), "runs": runs, "out": str(res),
                                                     "injections": list(injections), "preimport": list(preimport)}))
                    log.info("%s worker %d: %d runs of each", load, k + 1, runs)
                    subprocess.run([sys.executable, "-m", "benchmarks.proof.prove_blind", "--injections",
                                    "--worker", str(spec_path)], check=True)
                    for name, parts in json.loads(res.read_text()).items():
                        for kind, lists in parts.items():
                            out.setdefault(load, {}).setdefault(name, {}).setdefault(kind, []).extend(lists)
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
    return out


def _gate(cfg: Config, base: dict[str, Any], cur: dict[str, Any]) -> tuple[bool, set[str]]:
    """One gate decision on one row: (failed, the measures that flagged it)."""
    from conversion.results.benchmark_runs import Run
    from conversion.results.gate.judge import gate_runs

    def run(raw: dict[str, Any], name: str) -> Run:
        rec = replace(_record(cfg, raw["rounds"], raw["tail"]), counts=COUNTS)
        return Run(Path(name), {"machine": {}, "software": {}}, "", False, "", "quick", [rec])

    outcome = gate_runs(run(base, "baseline"), run(cur, "current"))
    return outcome.exit_code == 1, {c.measure for c in outcome.changes if c.verdict == "regression"}


def analyse(runs: dict[str, Any]) -> dict[str, Any]:
    """Detection per (injection, config, load) and false alarms per (config, load); baselines: quiet runs."""
    out: dict[str, Any] = {}
    for name, quiet in runs["quiet"].items():
        cfg = Config("onnx", int(name.split("-b")[1].split("-")[0]), 1)
        bases = quiet["unchanged"]
        for load in ("quiet", "busy"):
            parts = runs[load][name]
            for kind, currents in parts.items():
                hits, trials, by = 0, 0, {}
                for i, cur in enumerate(currents):
                    # unchanged quiet runs: against every other baseline; else each against one baseline
                    pool = [b for j, b in enumerate(bases) if j != i] if (kind == "unchanged" and load == "quiet") \
                        else [bases[(i + 1) % len(bases)]]
                    for base in pool:
                        failed, measures = _gate(cfg, base, cur)
                        trials += 1
                        hits += int(failed)
                        for m in measures:
                            by[m] = by.get(m, 0) + 1
                out[f"{kind}|{name}|{load}"] = {"flagged": hits, "trials": trials, "by_measure": by}
    return out


def _print(summary: dict[str, Any]) -> None:
    print(f"{'slowdown':<10} {'row':<10} {'load':<6} {'failed':>9}  measures that flagged it")
    for key, row in summary.items():
        kind, name, load = key.split("|")
        what = ", ".join(f"{m} {n}" for m, n in sorted(row["by_measure"].items())) or "-"
        print(f"{kind:<10} {name:<10} {load:<6} {row['flagged']:>4}/{row['trials']:<4}  {what}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.worker:
        spec = json.loads(args.worker.read_text())
        Path(spec["out"]).write_text(json.dumps(_worker(spec)))
        return 0
    if args.from_raw:
        runs = json.loads(args.from_raw.read_text())
    else:
        runs = measure_all([int(b) for b in args.batches.split(",")], args.trials,
                           injections=[k for k in args.only.split(",") if k])
        if args.raw:
            args.raw.write_text(json.dumps(runs))
    summary = analyse(runs)
    _print(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
