"""``--current`` and ``--baseline`` as a user types them: a results file, or a folder of them (the newest).

A folder, so the documented command works on every run: a glob such as ``results/bench-quick-*.json``
matches two files on the second local run, and argparse then refuses the second.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from conversion.errors import ResultsError

__all__ = ["newest_results", "results_file"]


def newest_results(folder: Path) -> Path:
    """The newest ``bench-*.json`` in ``folder`` (by modification time), else its newest ``*.json``."""
    found = sorted(folder.glob("bench-*.json")) or sorted(folder.glob("*.json"))
    if not found:
        raise ResultsError(f"{folder} holds no results file (bench-*.json); write one with "
                           f"`onnxgate bench --output {folder}`, or pass a results file")
    return max(found, key=lambda p: (p.stat().st_mtime, p.name))


def results_file(path: Path) -> Path:
    """``path`` itself, or the newest results file in it when it is a folder; refuses what is plainly
    not a results file (a CSV of rows passed by mistake) before a JSON parser calls it truncated."""
    file = newest_results(path) if path.is_dir() else path
    if not file.is_file():
        return file  # the loader names a missing file in its own words
    try:
        with file.open("rb") as fh:
            start = fh.read(4096).lstrip()
    except OSError:
        return file
    if start and not start.startswith((b"{", codecs.BOM_UTF8)):  # a BOM: the loader names it as one
        first = start.splitlines()[0] if start.splitlines() else b""
        kind = " (CSV?)" if file.suffix.lower() == ".csv" or b"," in first else ""
        raise ResultsError(f"{file} is not a results file{kind}: results are the JSON files `onnxgate bench` "
                           "writes (e.g. results/bench-quick-*.json); pass one, or the folder that holds them")
    return file
