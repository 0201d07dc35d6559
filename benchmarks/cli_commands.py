"""The `onnxgate bench` and `onnxgate gate` subcommands.

conversion/cli.py adds them with ``register(subparsers)`` (or ``register_bench`` /
``register_gate`` one at a time); each sets ``func`` to a handler ``(args) -> exit code``.
Exit codes: 0 ok, 1 a parity or performance regression (or a failed benchmark run), 2 bad
input (missing, malformed, empty or other-schema results; a refused machine comparison).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conversion.errors import OnnxGateError, ResultsError

__all__ = ["bench_command", "gate_command", "main", "register", "register_bench", "register_gate"]

log = logging.getLogger(__name__)

_BENCH_EXAMPLES = """examples:
  onnxgate bench --quick --output results/          # CI subset, a few minutes
  onnxgate bench --full --models xgboost-synthetic-large --output results/
  onnxgate bench --quick --save-as benchmarks/baselines/ci-2core.json   # refresh the CI baseline
  onnxgate bench --quick --counts --output results/ # also instructions per call (needs valgrind)
"""
_GATE_EXAMPLES = """examples:
  onnxgate gate --baseline benchmarks/baselines/ci-2core.json --current results/bench-quick-*.json
  onnxgate gate --baseline B.json --current C.json --force --all   # other machine, every row

exit codes: 0 no regression, 1 parity or performance regression, 2 bad input or refused comparison
"""


def register_bench(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bench", help="run the latency benchmarks and write their results JSON",
        description="Runs the pytest-benchmark latency suite (native vs ONNX Runtime, interleaved) "
                    "and writes a results file for `onnxgate gate` and `onnxgate report`.",
        epilog=_BENCH_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    profile = p.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="CI subset: small models, batches 1/256/4096 (default)")
    profile.add_argument("--full", dest="profile", action="store_const", const="full",
                         help="every size, batch size, provider and thread count")
    p.set_defaults(profile="quick", func=bench_command)
    p.add_argument("--output", type=Path, default=Path("results"),
                   help="folder for the results JSON (default: results/)")
    p.add_argument("--models", default="", help="comma-separated zoo models, e.g. xgboost-synthetic-small")
    p.add_argument("--frameworks", default="", help="comma-separated frameworks (default: all)")
    p.add_argument("--save-as", type=Path, help="also copy the results to this file (e.g. to refresh a baseline)")
    p.add_argument("--json", action="store_true", help="print {\"results\": PATH} instead of the path")
    p.add_argument("--counts", action="store_true",
                   help="also record instructions and estimated cycles per call (valgrind callgrind, single-threaded "
                        "rows); the gate then compares them directly. Adds about 2-4 minutes to the quick profile")
    return p


def register_gate(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gate", help="compare results with a baseline: parity and performance verdicts",
        description="Fails (exit 1) when parity broke, when a benchmark's interleaved time ratio rose "
                    "significantly (Mann-Whitney) and by more than its class's minimum effect, or (results "
                    "from `bench --counts`) when its instructions or estimated cycles per call rose 3% or more.",
        epilog=_GATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--baseline", type=Path, required=True, help="results JSON to compare against")
    p.add_argument("--current", type=Path, required=True, help="results JSON of the run under test")
    p.add_argument("--force", action="store_true", help="compare even if the machines differ")
    p.add_argument("--all", action="store_true", help="list every benchmark, not only those that changed")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.add_argument("--save", type=Path, help="also write the verdicts as JSON to this file")
    p.set_defaults(func=gate_command)
    return p


def register(subparsers: Any) -> None:
    """Adds `bench` and `gate` to an argparse subparsers object."""
    register_bench(subparsers)
    register_gate(subparsers)


def bench_command(args: argparse.Namespace) -> int:
    import json

    from benchmarks.cases import parse_specs
    from benchmarks.runner import BenchmarkRunError, run_benchmarks

    extra = ["--onnxgate-frameworks", args.frameworks] if args.frameworks else []
    if getattr(args, "counts", False):
        from benchmarks.counts import CountsUnavailableError, valgrind

        try:
            valgrind()
        except CountsUnavailableError as exc:
            print(f"onnxgate bench: --counts: {exc}", file=sys.stderr)
            return 2
        extra.append("--onnxgate-counts")
    code = 0
    try:
        specs = parse_specs([m for m in args.models.split(",") if m]) or None
        path = run_benchmarks(args.profile, args.output, specs=specs, extra_args=extra)
    except ValueError as exc:
        print(f"onnxgate bench: --models: {exc}", file=sys.stderr)
        return 2
    except BenchmarkRunError as exc:  # the other benchmarks' results are still worth keeping
        print(f"onnxgate bench: {exc}", file=sys.stderr)
        path, code = exc.results, 1
    except OnnxGateError as exc:
        print(f"onnxgate bench: {exc}", file=sys.stderr)
        return 2
    if args.save_as:
        path = _save_compact(path, args.save_as)
    print(json.dumps({"results": str(path)}) if args.json else path)
    return code


def _save_compact(results: Path, target: Path) -> Path:
    """Copies results without pytest-benchmark's raw per-round times (``stats.data``).

    A committed baseline stays small: percentiles are already in ``stats`` and the gate
    reads the per-round ratios in ``extra_info``, which are kept.
    """
    import json

    from conversion.atomic import write_text_atomic

    doc = json.loads(results.read_text(encoding="utf-8"))
    for bench in doc.get("benchmarks", []):
        bench.get("stats", {}).pop("data", None)
    return write_text_atomic(target, json.dumps(doc, indent=1) + "\n")


def gate_command(args: argparse.Namespace) -> int:
    from benchmarks.gate import gate_files, outcome_json

    try:
        outcome = gate_files(args.baseline, args.current, force=args.force)
    except ResultsError as exc:
        print(f"onnxgate gate: {exc}", file=sys.stderr)
        return 2
    if args.save:
        from conversion.atomic import write_bytes_atomic

        write_bytes_atomic(args.save, outcome_json(outcome).encode())
    print(outcome_json(outcome) if args.json else outcome.render(all_rows=args.all))
    return outcome.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (``python -m benchmarks.cli_commands gate ...``) until conversion/cli.py wires us in."""
    parser = argparse.ArgumentParser(prog="onnxgate")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
