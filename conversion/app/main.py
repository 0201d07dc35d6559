"""The onnxgate command: its parser, one subcommand per module, and the dispatch around them.

Exit codes: 0 ok, 1 a parity or performance failure, 2 a usage or input error. Results for
people go to stdout (or JSON with --json), diagnostics and progress to stderr. Each subcommand's
module registers its arguments and handler, and imports its layer only when it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from conversion._version import __version__
from conversion.app import bench, check, convert, gate, report, run
from conversion.app.output import EXIT_OK, EXIT_USAGE, FORMATTER, emit_error
from conversion.errors import OnnxGateError

__all__ = ["build_parser", "main"]

log = logging.getLogger("onnxgate")

# The subcommands, in the order --help lists them.
SUBCOMMANDS = (run, convert, check, report, bench, gate)


class _Parser(argparse.ArgumentParser):
    """argparse, remembering its usage error so that --json can report it as JSON too."""

    last_error: str | None = None

    def error(self, message: str) -> Any:
        _Parser.last_error = message
        super().error(message)


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
    for subcommand in SUBCOMMANDS:
        subcommand.register(sub)
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
