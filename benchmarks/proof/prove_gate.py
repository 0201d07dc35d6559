"""Measure the gate on this machine: how often it catches a real 25% ONNX slowdown, and how
often it cries wolf on unchanged code.

    .venv/bin/python -m benchmarks.proof.prove_gate            # 7-17 minutes on 2 cores, by load

Design. A trial is one gate decision on one benchmark: a baseline run's ``ratio_rounds``
against a current run's, judged by the gate's own rule (``RatioRegression.fails``). Runs
are measured exactly as the quick profile measures them (same rounds, warm-up and
interleaving, a fresh ONNX Runtime session per run) in several separate worker processes
run one after another, so between-process drift (memory layout, thread placement, other
jobs on the machine) is part of what the gate must survive.

- False alarms: every ordered pair of unchanged runs (native rows too). Reported per
  benchmark and per whole-suite gate decision (a pair of
  runs is one false alarm if any benchmark is flagged).
- Detection: the slowed model is the same XGBoost model trained with more trees, the
  number chosen per batch size and threading by calibration so that the ONNX call really
  takes at least 25% longer (measured interleaved against native); every (slow run,
  unchanged run) pair is a trial.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Config", "analyse", "main"]

log = logging.getLogger("onnxgate.prove_gate")

BASE_TREES = 100
TREE_CANDIDATES = (125, 135, 150, 175, 200, 250, 300, 400, 500)
TARGET_SLOWDOWN = 0.25


@dataclass(frozen=True)
class Config:
    runtime: str  # "native" | "onnx"
    batch_size: int
    threads: int | None

    @property
    def name(self) -> str:
        return f"{self.runtime}-b{self.batch_size}" + (f"-t{self.threads}" if self.threads else "")


def _configs(batches: Sequence[int], threads: Sequence[int]) -> list[Config]:
    return [Config("native", b, None) for b in batches] + [Config("onnx", b, t) for b in batches for t in threads]


# --- measurement (runs in the workers and, for calibration, in the parent) -------------------

def _models(trees: Sequence[int]) -> tuple[Any, Any, dict[int, Any]]:
    """(zoo model, batch maker, {trees: ConvertedModel}); extra-tree models share the zoo's data and seed."""
    from conversion import convert
    from conversion.bench.prepared import held_out_batch, prepare
    from conversion.bench.zoo import DATASETS, ZooSpec, train

    prep = prepare(ZooSpec("xgboost", "synthetic", "small"))
    X, y, task = DATASETS["synthetic"]()
    converted = {BASE_TREES: prep.converted}
    for t in sorted(set(trees) - {BASE_TREES}):
        n_train = int(len(X) * 0.8)
        converted[t] = convert(train("xgboost", task, t, 6, X[:n_train].astype("float32"), y[:n_train]))
    return prep, (lambda b: held_out_batch(prep, b)), converted


def _measure(cfg: Config, prep: Any, X: Any, converted: Any) -> list[float]:
    """Per-round ONNX/reference ratios of one run: the steadiest measure of the ONNX call's cost."""
    return _rounds(cfg, prep, X, converted).cpu_ratios("reference")


def _rounds(cfg: Config, prep: Any, X: Any, converted: Any) -> Any:
    """One run of one benchmark, measured exactly as test_latency measures it (a fresh session)."""
    from conversion.bench.cases import PROFILES
    from conversion.bench.interleave import measure
    from conversion.bench.pairing import pair

    profile = PROFILES["quick"]
    pairing = pair(prep, X, runtime=cfg.runtime, threads=cfg.threads, converted=converted)
    return measure(pairing.target, pairing.partners, rounds=profile.rounds.get(cfg.batch_size, 30),
                   warmup_rounds=profile.warmup_rounds, target_clock=pairing.target_clock)


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    configs = [Config(**c) for c in spec["configs"]]
    slow_trees = {k: int(v) for k, v in spec["slow_trees"].items()}
    prep, batch, converted = _models([BASE_TREES, *slow_trees.values()])
    out: dict[str, Any] = {c.name: {"unchanged": [], "slow": []} for c in configs}
    for _ in range(spec["runs"]):
        for cfg in configs:
            X = batch(cfg.batch_size)
            out[cfg.name]["unchanged"].append(vars(_rounds(cfg, prep, X, converted[BASE_TREES])))
            if cfg.runtime == "onnx":
                out[cfg.name]["slow"].append(vars(_rounds(cfg, prep, X, converted[slow_trees[cfg.name]])))
    return out


def _median(xs: Sequence[float]) -> float:
    from conversion.results.benchmark_runs import percentile

    return percentile(xs, 50)


def calibrate(configs: Sequence[Config], *, repeats: int = 5) -> tuple[dict[str, int], dict[str, float]]:
    """Per batch size, the fewest trees whose single-threaded ONNX call is >= 25% slower.

    Calibrated single-threaded (the steadiest measurement); multi-threaded configs of the same
    batch reuse that model, and the trials report the slowdown each config really saw.
    """
    prep, batch, converted = _models([BASE_TREES, *TREE_CANDIDATES])
    by_batch: dict[int, tuple[int, float]] = {}
    for cfg in (c for c in configs if c.runtime == "onnx" and c.batch_size not in by_batch):
        probe = Config("onnx", cfg.batch_size, 1)
        X = batch(cfg.batch_size)

        def ratio(trees: int, probe: Config = probe, X: Any = X) -> float:
            return _median([_median(_measure(probe, prep, X, converted[trees])) for _ in range(repeats)])

        base = ratio(BASE_TREES)
        for t in TREE_CANDIDATES:
            slowdown = ratio(t) / base - 1
            if slowdown >= TARGET_SLOWDOWN or t == TREE_CANDIDATES[-1]:
                by_batch[cfg.batch_size] = (t, slowdown)
                break
        log.info("calibrated batch %d: %d trees make ONNX %.0f%% slower", cfg.batch_size, *by_batch[cfg.batch_size][:1],
                 100 * by_batch[cfg.batch_size][1])
    onnx = [c for c in configs if c.runtime == "onnx"]
    return ({c.name: by_batch[c.batch_size][0] for c in onnx}, {c.name: by_batch[c.batch_size][1] for c in onnx})


# --- analysis ---------------------------------------------------------------------------

def _record(cfg: Config, raw: dict[str, Any], tail: dict[str, list[float]] | None = None) -> Any:
    from conversion.bench.interleave import Rounds
    from conversion.bench.pairing import with_ratios
    from conversion.results.benchmark_runs import Record

    nan = float("nan")
    record = Record(
        framework="xgboost", model="xgboost-synthetic-small", size="small", dataset="synthetic",
        batch_size=cfg.batch_size, runtime=cfg.runtime,
        provider=None if cfg.runtime == "native" else "CPUExecutionProvider",
        threads=cfg.threads, p50=nan, p90=nan, p99=nan, mean=nan, min=nan, stddev=nan, rounds=len(raw["target_wall"]),
        rows_per_s=nan, parity="passed", parity_detail="", conversion_s=None, onnx_bytes=None, session_s=None,
        first_call_s=None, peak_rss_mb=None, ratio_kind="", ratio_rounds=(), name=cfg.name, group="",
        **{k: tuple(v) for k, v in (tail or {}).items()},
    )
    return with_ratios(record, cfg.runtime, Rounds(**raw))


def _drift_p95(records: Sequence[Any], partner: str) -> float | None:
    from conversion.results.benchmark_runs import percentile

    meds = [percentile(r.rounds_vs(partner)[1], 50) for r in records if r.rounds_vs(partner)[1]]
    drift = sorted(abs(b / a - 1) for a, b in itertools.permutations(meds, 2))
    return drift[int(0.95 * (len(drift) - 1))] if drift else None


def analyse(configs: Sequence[Config], raw_runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Applies the gate's performance rules to every trial; rates per config and per whole-suite decision."""
    from conversion.results.gate.rules import DEFAULT_RULES, benchmark_class

    rules = [r for r in DEFAULT_RULES if r.verdict == "performance"]

    def flagged(cur: Any, base: Any) -> bool:
        return any(rule.fails(cur, base) for rule in rules)

    per_config: dict[str, dict[str, Any]] = {}
    n_runs = min(len(raw_runs[c.name]["unchanged"]) for c in configs)
    flagged_pairs: set[tuple[int, int]] = set()
    for cfg in configs:
        unchanged = [_record(cfg, r) for r in raw_runs[cfg.name]["unchanged"]]
        pairs = list(itertools.permutations(range(len(unchanged)), 2))
        fa = 0
        for i, j in pairs:
            if flagged(unchanged[j], unchanged[i]):
                fa += 1
                flagged_pairs.add((i, j))
        row: dict[str, Any] = {
            "false_alarms": fa, "unchanged_trials": len(pairs), "false_alarm_rate": fa / max(len(pairs), 1),
            "drift_p95_vs_reference": _drift_p95(unchanged, "reference"),
            "drift_p95_vs_native": _drift_p95(unchanged, "native"),
        }
        if raw_runs[cfg.name]["slow"]:
            slow = [_record(cfg, r) for r in raw_runs[cfg.name]["slow"]]
            hits = sum(flagged(s, u) for s in slow for u in unchanged)
            trials = len(slow) * len(unchanged)
            ref = [_median(s.ref_ratio_rounds) for s in slow], [_median(u.ref_ratio_rounds) for u in unchanged]
            row |= {"detections": hits, "slow_trials": trials, "detection_rate": hits / trials,
                    "measured_slowdown": _median(ref[0]) / _median(ref[1]) - 1,
                    "gated": any(getattr(r, "threshold", lambda c: None)(benchmark_class(unchanged[0])) is not None
                                 for r in rules)}
        per_config[cfg.name] = row
    suite_pairs = n_runs * (n_runs - 1)
    onnx = [r for r in per_config.values() if "detection_rate" in r and r["gated"]]
    return {
        "per_config": per_config,
        "suite_false_alarms": len(flagged_pairs),
        "suite_trials": suite_pairs,
        "suite_false_alarm_rate": len(flagged_pairs) / max(suite_pairs, 1),
        "per_benchmark_false_alarm_rate": sum(r["false_alarms"] for r in per_config.values())
        / max(sum(r["unchanged_trials"] for r in per_config.values()), 1),
        "detection_rate": sum(r["detections"] for r in onnx) / max(sum(r["slow_trials"] for r in onnx), 1),
        "min_detection_rate": min((r["detection_rate"] for r in onnx), default=None),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print(summary: dict[str, Any], calibration: dict[str, Any]) -> None:
    print(f"{'benchmark':<14} {'trees':>5} {'slowdown':>8} {'detected':>10} {'false alarms':>13} "
          f"{'drift p95 vs ref':>16} {'vs native':>9}")
    for name, row in summary["per_config"].items():
        det = f"{row['detections']}/{row['slow_trials']}" if "detections" in row else "-"
        slow = f"{row['measured_slowdown']:+.0%}" if "measured_slowdown" in row else "-"
        trees = str(calibration["trees"].get(name, "-"))
        print(f"{name:<14} {trees:>5} {slow:>8} {det:>10} {row['false_alarms']:>6}/{row['unchanged_trials']:<6} "
              f"{_pct(row['drift_p95_vs_reference']):>16} {_pct(row['drift_p95_vs_native']):>9}")
    print(f"detection rate (25% ONNX slowdown), gated benchmarks: {summary['detection_rate']:.1%} "
          f"(lowest single gated benchmark {summary['min_detection_rate']:.1%})")
    print(f"false-alarm rate per benchmark comparison: {summary['per_benchmark_false_alarm_rate']:.2%}")
    print(f"false-alarm rate per whole gate decision ({len(summary['per_config'])} benchmarks): "
          f"{summary['suite_false_alarm_rate']:.2%} ({summary['suite_false_alarms']}/{summary['suite_trials']})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proof.prove_gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3, help="worker processes, run one after another")
    parser.add_argument("--runs", type=int, default=5, help="unchanged and slowed runs per worker")
    parser.add_argument("--batches", default="1,256,4096")
    parser.add_argument("--threads", default=",".join(str(t) for t in sorted({1, os.cpu_count() or 1})))
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--raw", type=Path, default=None, help="also write every run's per-round times here")
    parser.add_argument("--from-raw", type=Path, help="re-judge the runs saved by --raw instead of measuring")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--injections", action="store_true",
                        help="prove the gate on slowdowns counts cannot see (kernel, wait, faults, tail)")
    parser.add_argument("--trials", type=int, default=20, help="--injections: runs of each slowdown per load")
    parser.add_argument("--only", default="kernel,wait,faults,tail", help="--injections: which slowdowns")
    parser.add_argument("--counts", action="store_true",
                        help="prove the instruction-count verdict instead (valgrind; prove_counts.py)")
    parser.add_argument("--busy-runs", type=int, default=3, help="--counts: runs beside spinning processes")
    parser.add_argument("--jobs", type=int, default=2, help="--counts: valgrind processes at a time")
    parser.add_argument("--ort-instructions", default="",
                        help="--counts: raw ONNX Runtime instructions per call, BATCH:N,... (default: count them)")
    parser.add_argument("--work", default="", help="--counts: injected work PER_ELEMENT,FIXED (default: calibrate)")
    parser.add_argument("--trees", default="1:250,256:125,4096:125",
                        help="--counts: trees of the bigger model per batch (the time calibration's choices)")
    parser.add_argument("--user-repo", type=Path, default=None,
                        help="--counts: prove it on a user's repository written in this folder (two model files in "
                             "[tool.onnxgate]; bigger = one retrained with 10%% more trees)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.counts:  # its own module, which builds on this one (models, configs, this parser)
        return subprocess.run([sys.executable, "-m", "benchmarks.proof.prove_counts", *argv], check=False).returncode
    if args.injections and not args.worker:  # likewise
        return subprocess.run([sys.executable, "-m", "benchmarks.proof.prove_blind", *argv], check=False).returncode
    if args.worker:  # internal: one worker process
        spec = json.loads(args.worker.read_text())
        Path(spec["out"]).write_text(json.dumps(_worker(spec)))
        return 0
    if args.from_raw:  # the gate's rules changed, the measurements did not
        saved = json.loads(args.from_raw.read_text())
        configs = [Config(**c) for c in saved["configs"]]
        _print(analyse(configs, saved["runs"]), {"trees": saved["trees"]})
        return 0
    configs = _configs([int(b) for b in args.batches.split(",")], [int(t) for t in args.threads.split(",")])
    trees, slowdown = calibrate(configs)
    runs: dict[str, dict[str, list[dict[str, list[float]]]]] = {c.name: {"unchanged": [], "slow": []} for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.processes):
            spec_path, out = Path(tmp, f"spec{k}.json"), Path(tmp, f"out{k}.json")
            spec_path.write_text(json.dumps({"configs": [c.__dict__ for c in configs], "slow_trees": trees,
                                             "runs": args.runs, "out": str(out)}))
            log.info("worker %d/%d: %d runs", k + 1, args.processes, args.runs)
            worker = [sys.executable, "-m", "benchmarks.proof.prove_gate", "--worker", str(spec_path)]
            subprocess.run(worker, check=True)
            for name, parts in json.loads(out.read_text()).items():
                for kind, lists in parts.items():
                    runs[name][kind] += lists
    if args.raw:
        args.raw.write_text(json.dumps({"configs": [c.__dict__ for c in configs], "trees": trees, "runs": runs}))
    summary = analyse(configs, runs)
    calibration = {"trees": trees, "calibrated_slowdown": slowdown}
    _print(summary, calibration)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "calibration": calibration}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
