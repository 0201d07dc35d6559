"""The onnxgate command: run, convert, check, bench, report, gate.

Exit codes: 0 ok, 1 a parity or performance failure, 2 a usage or input error. Results for
people go to stdout (or JSON with --json), diagnostics and progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conversion._version import __version__
from conversion.app.bench_commands import add_model_sources, register_bench, register_gate, user_config
from conversion.app.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE, emit_error
from conversion.errors import InputError, OnnxGateError

__all__ = ["build_parser", "main"]

log = logging.getLogger("onnxgate")

FORMATTER = argparse.RawDescriptionHelpFormatter
CONVENTIONAL_BASELINES = Path("benchmarks") / "baselines"  # docs/ci.md's folder, one file per machine type


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


class _Parser(argparse.ArgumentParser):
    """argparse, remembering its usage error so that --json can report it as JSON too."""

    last_error: str | None = None

    def error(self, message: str) -> Any:
        _Parser.last_error = message
        super().error(message)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="native model file: .json/.ubj, .txt, .cbm, .skops (or a pickle)")
    p.add_argument("--framework", help="xgboost, lightgbm, catboost or sklearn (default: from the file)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow reading a pickle; unpickling runs code from the file, so only for files you trust")


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


def _cmd_run(args: argparse.Namespace) -> int:
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
    _emit(args, data, "\n".join(lines))
    return outcome.exit_code


def _cmd_convert(args: argparse.Namespace) -> int:
    from conversion.converter.convert import convert
    from conversion.model_files import load_user_model

    user = load_user_model(args.model, framework=args.framework, trust_pickle=args.trust_pickle)
    calibration = None
    if args.data is not None:
        from conversion.model_files import load_rows

        calibration = load_rows(args.data, convert(user.model).n_features, None)
    converted = convert(user.model, dtype=args.dtype, quantize=args.quantize, calibration=calibration)
    out = args.output or user.path.with_suffix(".onnx")
    try:
        path = converted.save(out, optimized=args.optimized)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}; pass --output with a writable path") from exc
    size = path.stat().st_size
    data = {"onnx": str(path), "framework": converted.framework, "task": converted.task,
            "n_features": converted.n_features, "methods": list(converted.methods), "bytes": size}
    what = f"{converted.framework} {converted.task}, {converted.n_features} features"
    if args.quantize:
        what += f", {args.quantize}: not exact, check it with onnxgate check --quantize {args.quantize}"
    if args.optimized:
        what += ", graph optimized offline for this onnxruntime"
    _emit(args, data, f"converted {user.path} ({what}) -> {path} ({size:,} bytes)")
    return EXIT_OK


def _check_one(path: Path, args: argparse.Namespace, *, trust_pickle: bool, data: Path | None
               ) -> tuple[bool, dict[str, Any], str]:
    """Parity of one model file on its rows and the same rows with NaN: (passed, JSON, text)."""
    from conversion.converter.convert import convert
    from conversion.converter.inputs import CategoryLabels
    from conversion.model_files import attach_onnx, fingerprint_differs, load_rows, load_user_model, rows_for
    from conversion.parity.check import check_parity
    from conversion.parity.matrix import NAN_NOT_CHECKED, takes_nan, with_nan

    user = load_user_model(path, framework=args.framework, trust_pickle=trust_pickle)
    reference = convert(user.model)
    converted = attach_onnx(args.onnx, reference) if args.onnx else reference
    labels = CategoryLabels.from_metadata(converted.metadata)
    X = load_rows(data, converted.n_features, converted.feature_names, labels) if data else rows_for(converted)
    if args.quantize:
        converted = convert(user.model, quantize=args.quantize, calibration=X)
    if converted.metadata.get("exact") == "false":  # a lossy variant: a stated accuracy delta, not parity
        from conversion.parity.accuracy import AccuracyTolerance, accuracy_delta

        delta = accuracy_delta(user.model, converted, X,
                               tolerance=AccuracyTolerance(max_abs=args.max_abs, flip_rate=args.max_flip_rate))
        note = " (static-int8 calibrated on these rows)" if converted.metadata.get("variant") == "static-int8" else ""
        return delta.passed, {"passed": delta.passed, "accuracy": delta.to_dict()}, str(delta) + note
    reports = {"clean": check_parity(user.model, converted, X)}
    # NaN rows only where the native model takes NaN: otherwise both sides refuse them, by design.
    if takes_nan(reference):
        reports["nan"] = check_parity(user.model, converted, with_nan(X))
    passed = all(r.passed for r in reports.values())
    other = fingerprint_differs(converted, reference) if args.onnx else None
    if other and not passed:
        failed = max(r.mismatched_rows for r in reports.values())
        raise InputError(f"{args.onnx} was made from another model: {other}, and it differs from {user.path} on up to "
                         f"{failed} rows. Pass the model it was converted from, or convert this one (onnxgate convert)")
    text = "\n".join(f"{kind} rows: {report}" for kind, report in reports.items())
    if "nan" not in reports:
        text += f"\nnan rows: {NAN_NOT_CHECKED}"
    return passed, {"passed": passed, **{k: r.to_dict() for k, r in reports.items()}}, text


def _cmd_check(args: argparse.Namespace) -> int:
    if args.file is not None and args.config is None and not args.model:
        passed, data, text = _check_one(args.file, args, trust_pickle=args.trust_pickle, data=args.data)
        _emit(args, data, text)
        return EXIT_OK if passed else EXIT_FAILED
    if args.file is not None:
        args.model = [args.file, *args.model]
    user = user_config(args)
    if user is None:
        raise InputError("no model to check: pass a model file, --model FILE, or --config FILE (or run in a folder "
                         "whose pyproject.toml lists models in [tool.onnxgate])")
    if (args.onnx or args.data) and len(user.models) != 1:
        raise InputError("--onnx and --data belong to one model; with several models, give each its rows as "
                         "data = \"rows.csv\" in its [tool.onnxgate.models.NAME] table")
    results = {name: _check_one(entry.path, args, trust_pickle=args.trust_pickle or entry.trust_pickle,
                                data=entry.data or args.data)
               for name, entry in user.models.items()}
    passed = all(r[0] for r in results.values())
    text = "\n".join(f"{name}: {'passed' if ok else 'FAILED'}\n  " + body.replace("\n", "\n  ")
                     for name, (ok, _, body) in results.items())
    _emit(args, {"passed": passed, "models": {name: r[1] for name, r in results.items()}}, text)
    return EXIT_OK if passed else EXIT_FAILED


def _cmd_report(args: argparse.Namespace) -> int:
    from conversion.app.run_job import default_output
    from conversion.report.build import report_from_files
    from conversion.results.gate.summary import gate_view
    from conversion.results.results_path import results_file
    from conversion.results.run_results import load_run_results

    results = load_run_results(args.files)  # each file parsed once: the report and the gate read these
    gate = None
    if args.baseline:
        current = args.current and results_file(args.current)
        if current is None:
            benches = [r for r in results if r.run is not None]
            if not benches:
                raise InputError(
                    "--baseline needs a results file from `onnxgate bench` among the files, or --current FILE")
            current = benches[-1].run
        gate = gate_view(args.baseline, current)
    index = report_from_files(results, args.output or default_output(), gate=gate)
    _emit(args, {"report": str(index), "gate": gate and {"passed": gate["passed"], "summary": gate["summary"]}},
          f"report: {index}")
    return EXIT_FAILED if gate and not gate["passed"] else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="onnxgate", formatter_class=FORMATTER,
        description="Convert tree models to ONNX exactly, prove parity, benchmark latency and gate CI.",
        epilog="example:\n  onnxgate run --quick            # default model zoo -> reports/<timestamp>/index.html\n"
               "exit codes: 0 ok, 1 parity or performance failure, 2 usage or input error",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"onnxgate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
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
    run.set_defaults(func=_cmd_run)

    conv = sub.add_parser("convert", help="convert a native model file to ONNX", formatter_class=FORMATTER,
                          epilog="example:\n  onnxgate convert model.ubj --output model.onnx")
    _add_model_args(conv)
    conv.add_argument("--output", type=Path, help="ONNX file to write (default: beside the model, .onnx)")
    conv.add_argument("--dtype", default=None, choices=("float32", "float64"),
                      help="the ONNX input dtype (default: the precision the native model compares in)")
    conv.add_argument("--quantize", metavar="MODE",
                      help="dynamic-int8 or static-int8: an INT8 graph of a linear/logistic/MLP model "
                           "(not exact; static-int8 needs --data)")
    conv.add_argument("--data", type=Path, help="with --quantize static-int8: calibration rows (.npy or numeric .csv)")
    conv.add_argument("--optimized", action="store_true",
                      help="save the graph as this onnxruntime optimizes it (loads faster; only under this version)")
    conv.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    conv.set_defaults(func=_cmd_convert)

    check = sub.add_parser("check", help="check that an ONNX model computes what the native model computes",
                           formatter_class=FORMATTER,
                           epilog="examples:\n  onnxgate check model.ubj\n"
                                  "  onnxgate check          # every model of ./pyproject.toml\n"
                                  "  onnxgate check model.txt --onnx model.onnx --data rows.npy\n"
                                  "exit code 1 when any row differs")
    check.add_argument("file", nargs="?", type=Path, metavar="model",
                       help="native model file: .json/.ubj, .txt, .cbm, .skops (or a pickle); without it, the "
                            "models of --config / --model / ./pyproject.toml's [tool.onnxgate]")
    check.add_argument("--framework", help="xgboost, lightgbm, catboost or sklearn (default: from the file)")
    check.add_argument("--trust-pickle", action="store_true",
                       help="allow reading a pickle; unpickling runs code from the file, so only for files you trust")
    add_model_sources(check, model_help="also check this native model file, named by its stem (repeatable)")
    check.add_argument("--onnx", type=Path, help="the ONNX file to check (default: convert the model now)")
    check.add_argument("--data", type=Path,
                       help="rows to test (.npy or numeric .csv; default: rows on the split points)")
    check.add_argument("--quantize", metavar="MODE",
                       help="dynamic-int8 or static-int8: check that INT8 variant, as an accuracy delta judged by "
                            "--max-abs and --max-flip-rate")
    check.add_argument("--max-abs", type=float, default=0.05,
                       help="lossy variants: largest allowed absolute score error (default 0.05)")
    check.add_argument("--max-flip-rate", type=float, default=0.01,
                       help="lossy variants: largest allowed share of flipped labels (default 0.01)")
    check.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    check.set_defaults(func=_cmd_check)

    rep = sub.add_parser("report", help="build the HTML report from results files alone", formatter_class=FORMATTER,
                         epilog="examples:\n  onnxgate report results/*.json --output report/\n"
                                "  onnxgate report reports/*/run.json results/*.json --baseline B.json")
    rep.add_argument("files", nargs="+", type=Path,
                     help="run.json files from `onnxgate run`, results files from `onnxgate bench`")
    rep.add_argument("--output", type=Path, help="report folder (default reports/<timestamp>/)")
    rep.add_argument("--baseline", type=Path, help="gate the newest benchmark results against this baseline")
    rep.add_argument("--current", type=Path,
                     help="with --baseline: the results file to gate, or its folder (default: the newest bench file)")
    rep.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    rep.set_defaults(func=_cmd_report)

    register_bench(sub)
    register_gate(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Logging before parsing, so anything the parser builds can log too.
    verbose = sum(a in ("-v", "--verbose") for a in (argv if argv is not None else sys.argv[1:]))
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = build_parser()
    argv = list(argv if argv is not None else sys.argv[1:])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and its message on stderr
        if exc.code == EXIT_USAGE and "--json" in argv:
            print(json.dumps({"error": _Parser.last_error or "usage error", "exit_code": EXIT_USAGE}))
        raise
    try:
        return int(args.func(args))
    except OnnxGateError as exc:
        # One line: the reason and the way out; the chained cause is for -vv only.
        log.debug("details", exc_info=True)
        return emit_error(args.command, str(exc), as_json=getattr(args, "json", False))
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): nothing left to say
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("onnxgate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
