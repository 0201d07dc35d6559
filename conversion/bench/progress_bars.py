"""Progress bars (tqdm) for a benchmark run, drawn by its child process on the user's terminal.

pytest captures the child's own stderr around each test, so the parent hands the child a copy
of its terminal's descriptor (``PROGRESS_FD``). Without a terminal, or with ``--json``, the parent
hands over nothing and no bar is drawn. tqdm estimates the time left from the rate so far.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import IO, Any

__all__ = ["PROGRESS_FD", "bar", "terminal_of"]

log = logging.getLogger(__name__)

PROGRESS_FD = "ONNXGATE_PROGRESS_FD"


@functools.cache
def _terminal() -> IO[str] | None:
    fd = os.environ.get(PROGRESS_FD)
    if not fd:
        return None
    try:
        return os.fdopen(int(fd), "w", buffering=1)
    except (OSError, ValueError) as exc:
        log.debug("no progress bars: %s=%s is not an open descriptor (%s)", PROGRESS_FD, fd, exc)
        return None


def bar(total: int, what: str, unit: str) -> Any:
    """A tqdm bar on the user's terminal, or None where there is none to draw on (or no tqdm)."""
    stream = _terminal()
    if stream is None or total <= 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    try:
        sized = os.get_terminal_size(stream.fileno()).columns > 0
    except OSError:
        sized = False
    # A terminal of no width (a pty nobody sized, as `script` makes) would get an empty bar: 80 columns.
    return tqdm(total=total, desc=what, unit=unit, file=stream, dynamic_ncols=sized, ncols=None if sized else 80,
                mininterval=0.5)


def terminal_of(enabled: bool) -> IO[str] | None:
    """The parent's side: stderr when bars are wanted and it is a terminal, else None (CI logs, --json)."""
    try:
        return sys.stderr if enabled and sys.stderr.isatty() else None
    except (AttributeError, ValueError):
        return None
