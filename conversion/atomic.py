"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The temporary file sits beside the target (a rename is atomic only within one filesystem),
named ``.onnxgate-tmp-<target name>-XXXX`` so a person can tell what left it. A writer
killed mid-write cannot clean up after itself, so every write first removes such files in
its folder that are older than an hour: no live writer takes that long.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["STALE_AFTER_S", "TMP_PREFIX", "atomic_target", "remove_stale_temps", "write_bytes_atomic",
           "write_text_atomic"]

log = logging.getLogger(__name__)

TMP_PREFIX = ".onnxgate-tmp-"
STALE_AFTER_S = 3600.0
_umask_lock = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (os.umask can only set)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Umask:"):
                        return int(line.split()[1], 8)
        except (OSError, ValueError):
            pass
    with _umask_lock:  # set and restore; other threads never create files in between
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def remove_stale_temps(folder: str | os.PathLike[str], *, older_than: float = STALE_AFTER_S) -> list[Path]:
    """Removes temp files of writers that died mid-write (older than ``older_than`` seconds)."""
    removed = []
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(TMP_PREFIX):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # another writer removed it first, or it is not ours to remove
            continue
    if removed:
        log.info("removed %d stale temp file(s) in %s: %s", len(removed), folder, ", ".join(p.name for p in removed))
    return removed


@contextmanager
def atomic_target(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yields a temp path beside ``path`` for a writer that needs a file name; on success it
    gets the mode the umask gives a new file and is renamed over ``path``, else removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target.parent)
    # The target's suffix is kept: some writers (XGBoost's save_model) choose the format from it.
    fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{target.name}-", dir=target.parent,
                                suffix=target.suffix if suffix is None else suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp creates 0600; a file written for the user should be as readable as any other.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes ``data`` to a temporary file beside ``path``, fsyncs it, then renames it over ``path``."""
    target = Path(path)
    with atomic_target(target) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return target


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))
