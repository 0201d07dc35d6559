"""What every onnxgate subcommand prints: its help's layout, its result (text, or JSON with --json), its
one-line error, its exit code.

Results for people go to stdout, diagnostics and progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "FORMATTER", "emit", "emit_error"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FORMATTER = argparse.RawDescriptionHelpFormatter  # help texts keep their line breaks (the examples)


def emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    """A subcommand's result on stdout: ``data`` as JSON with --json, else ``text``."""
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def emit_error(command: str, message: str, *, as_json: bool, exit_code: int = EXIT_USAGE) -> int:
    """One line on stderr and, with --json, one JSON object on stdout, so a script always gets JSON."""
    print(f"onnxgate {command}: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message, "exit_code": exit_code}))
    return exit_code
