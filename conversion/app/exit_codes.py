"""Exit codes and the one-line error every onnxgate subcommand prints for a user error."""

from __future__ import annotations

import json
import sys

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "emit_error"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def emit_error(command: str, message: str, *, as_json: bool, exit_code: int = EXIT_USAGE) -> int:
    """One line on stderr and, with --json, one JSON object on stdout, so a script always gets JSON."""
    print(f"onnxgate {command}: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message, "exit_code": exit_code}))
    return exit_code
