"""`onnxgate run`: the main job's command line; the job itself is run_job.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from conversion.app.model_sources import add_model_sources, user_config
from conversion.app.output import FORMATTER, emit
from conversion.errors import InputError, OnnxGateError

__all__ = ["command", "register"]

CONVENTIONAL_BASELINES = Path("benchmarks") / "baselines"  # docs/ci.md's folder, one file per machine type


def register(subparsers: Any) -> argparse.ArgumentParser:
    run = subparsers.add_parser(
        "run", help="the main job: zoo (or your model) -> conversion, parity, latency, HTML report",
        formatter_class=FORMATTER, description="Train the default zoo (or load --model), convert, check parity, "
        "measure latency and write an HTML report with its JSON and plots.",
        epilog="examples:\n  onnxgate run --quick\n  onnxgate run --framework xgboost --output out/\n"
               "  onnxgate run --model model.ubj\n  onnxgate run --model model.txt --onnx model.onnx --data rows.csv\n"
               "  onnxgate run                     # in a folder whose pyproject.toml lists models in [tool.onnxgate]")
    speed = run.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="CI-sized profile (the default; a few minutes)")
    speed.add_argument("--full", action="store_true", help="every model size and batch size; for investigations")
    run.add_argument("--output", type=Path, help="report folder (default reports/<timestamp>/)")
    add_model_sources(run, model_help="your native model file instead of the zoo, named by its file stem "
                                      "(repeatable)")
    run.add_argument("--framework", help="with --model: its framework; without: zoo frameworks, comma-separated")
    run.add_argument("--datasets", help="zoo datasets, comma-separated (default: all)")
    run.add_argument("--onnx", type=Path, help="with --model: an ONNX file to check instead of converting")
    run.add_argument("--data", type=Path, help="with --model: rows to test (.npy or numeric .csv)")
    run.add_argument("--trust-pickle", action="store_true", help="allow --model to be a pickle you trust")
    run.add_argument("--baseline", type=Path,
                     help="benchmark results (or a folder of baselines) to gate against; the verdict goes in the "
                          "report (default with your own models: benchmarks/baselines/ beside their config, if "
                          "it exists)")
    run.add_argument("--no-upstream", action="store_true", help="skip the public converters' path")
    run.add_argument("--no-bench", action="store_true",
                     help="skip the benchmark profile (conversion and parity only; no latency)")
    run.add_argument("--no-variants", action="store_true",
                     help="skip each model's variants table (optimization levels, INT8, float16)")
    run.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    run.set_defaults(func=command)
    return run


def _user_subject(entry: Any, args: argparse.Namespace, opts: Any) -> Any:
    """One of the user's models (a config entry or --model FILE) as a subject of the run."""
    import numpy as np

    from conversion.converter.convert import convert
    from conversion.converter.inputs import CategoryLabels
    from conversion.model_files import attach_onnx, load_rows, load_user_model, rows_for
    from conversion.parity.matrix import Subject

    user = load_user_model(entry.path, framework=entry.framework, trust_pickle=entry.trust_pickle)
    reference = None
    try:
        reference = convert(user.model)
    except OnnxGateError as exc:
        if args.onnx:
            raise InputError(f"cannot read {args.onnx} against this model: onnxgate needs its own conversion "
                             f"to know the outputs, and it refused: {exc}") from exc
    if args.onnx:
        opts.given[entry.name] = attach_onnx(args.onnx, reference)
    # A refused model still gets its report: the matrix shows the reason, which is the answer.
    data = entry.data
    if data:
        X = load_rows(data, reference.n_features if reference else None,
                      reference.feature_names if reference else None,
                      CategoryLabels.from_metadata(reference.metadata) if reference else None)
    elif reference is not None:
        X = rows_for(reference)
    else:
        X = np.zeros((0, 0), dtype=np.float32)
    return Subject(entry.name, user.framework, "user data" if data else "generated rows",
                   reference.task if reference else "unknown", user.model, X)


def command(args: argparse.Namespace) -> int:
    from conversion.app.run_job import ZOO_DATASETS, JobOptions, run_job

    opts = JobOptions(profile="full" if args.full else "quick", output=args.output, baseline=args.baseline,
                      upstream=not args.no_upstream, benchmarks=not args.no_bench, progress=not args.json,
                      variants=not args.no_variants)
    user = user_config(args)
    if user is None:
        if args.onnx or args.data:
            raise InputError("--onnx and --data need --model FILE (the native model they belong to)")
        if args.framework:
            from conversion.converter.frameworks import adapter_named

            opts.frameworks = tuple(adapter_named(f.strip()).name for f in args.framework.split(","))
        if args.datasets:
            unknown = sorted(set(args.datasets.split(",")) - set(ZOO_DATASETS))
            if unknown:
                raise InputError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(ZOO_DATASETS)}")
            opts.datasets = tuple(args.datasets.split(","))
    else:
        if (args.onnx or args.data) and len(user.models) != 1:
            raise InputError("--onnx and --data belong to one model; with several models, give each its rows "
                             "as data = \"rows.csv\" in its [tool.onnxgate.models.NAME] table")
        from conversion.bench.config import with_flags

        # Once, here: conversion and the benchmark child then read every model the same way.
        user = with_flags(user, data=args.data, trust_pickle=args.trust_pickle, framework=args.framework)
        opts.subjects = [_user_subject(entry, args, opts) for entry in user.models.values()]
        if args.onnx:  # the benchmark child converts the native file itself; it never sees --onnx
            opts.notes.append(f"parity checked on {args.onnx}; latency measured on onnxgate's own conversion "
                              "of the native model")
        # The benchmark child reads the same models, flags included: one measurement for every model.
        opts.bench_user = user
        conventional = user.source.parent / CONVENTIONAL_BASELINES if user.source is not None else None
        if opts.baseline is None and opts.benchmarks and conventional is not None and conventional.is_dir():
            # The folder docs/ci.md sets up beside the config: a run there is gated as CI gates it.
            opts.baseline = conventional
            opts.notes.append(f"gated against {conventional}, the project's baselines folder "
                              "(--baseline chooses another)")
    outcome = run_job(opts)
    from conversion.report.verdict import model_verdict

    verdicts = [model_verdict(m["name"], [c for c in outcome.result.parity if c["model"] == m["name"]],
                              [r for r in outcome.result.latency if r.model == m["name"]])
                for m in outcome.result.models]
    lines = [f"{'model':<34} {'exact':<9} {'answer':<8} verdict"]
    for v in verdicts:
        lines.append(f"{v['model']:<34} {v['exact']:<9} {v['answer']:<8} {v['headline']}")
        if v["exact"] != "exact":  # the reason is what the user needs next
            lines.append(f"{'':<54}{v['exact_text'][:160]}")
    if outcome.gate:
        skipped = outcome.gate.get("gate_skipped")
        lines.append(skipped or f"gate: {outcome.gate['summary']}")
    for error in (outcome.bench_error, outcome.gate_error):
        if error:
            print(f"onnxgate run: error: {error}", file=sys.stderr)
    lines.append(f"report: {outcome.index}")
    lines += (outcome.gate or {}).get("regressions", [])  # last: which benchmarks regressed, and why
    data = {"report": str(outcome.index), "results": str(outcome.results_file), "exit_code": outcome.exit_code,
            "models": [{k: v[k] for k in ("model", "answer", "exact", "headline", "crossover", "batches")}
                       for v in verdicts],
            "gate": {k: outcome.gate.get(k) for k in ("passed", "summary", "gate_skipped")} if outcome.gate else None,
            "gate_error": outcome.gate_error, "bench_error": outcome.bench_error}
    emit(args, data, "\n".join(lines))
    return outcome.exit_code
