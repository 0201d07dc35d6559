"""`onnxgate report`: the HTML report from results files alone, optionally gated against a baseline."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from conversion.app.output import EXIT_FAILED, EXIT_OK, FORMATTER, emit
from conversion.errors import InputError

__all__ = ["command", "register"]



def register(subparsers: Any) -> argparse.ArgumentParser:
    rep = subparsers.add_parser(
        "report", help="build the HTML report from results files alone", formatter_class=FORMATTER,
        epilog="examples:\n  onnxgate report results/*.json --output report/\n"
               "  onnxgate report reports/*/run.json results/*.json --baseline B.json")
    rep.add_argument("files", nargs="+", type=Path,
                     help="run.json files from `onnxgate run`, results files from `onnxgate bench`")
    rep.add_argument("--output", type=Path, help="report folder (default reports/<timestamp>/)")
    rep.add_argument("--baseline", type=Path, help="gate the newest benchmark results against this baseline")
    rep.add_argument("--current", type=Path,
                     help="with --baseline: the results file to gate, or its folder (default: the newest bench file)")
    rep.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    rep.set_defaults(func=command)
    return rep


def command(args: argparse.Namespace) -> int:
    from conversion.app.run_job import default_output
    from conversion.report.build import report_from_files
    from conversion.results.gate.summary import gate_summary
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
        gate = gate_summary(args.baseline, current)
    index = report_from_files(results, args.output or default_output(), gate=gate)
    emit(args, {"report": str(index), "gate": gate and {"passed": gate["passed"], "summary": gate["summary"]}},
          f"report: {index}")
    return EXIT_FAILED if gate and not gate["passed"] else EXIT_OK
