"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The temporary file sits beside the target (a rename is atomic only within one filesystem),
named ``.onnxgate-tmp-<target name>-XXXX.part``: hidden, and ending in ``.part`` so no glob a
user writes for the real files (``*.json``, ``*.onnx``) matches it, and a person can tell
what left it. A writer that needs the target's suffix (XGBoost picks its format from it)
gets a file of the target's name inside such a ``.part`` folder instead.

The writer holds an advisory lock (``flock``) on its temp entry until the rename. A writer
killed mid-write drops that lock with its process, so a temp entry whose lock can be taken
is provably orphaned, and every write removes those in its folder. Nothing else is removed:
no age rule, and never a file of the old naming (``.onnxgate-tmp-*.json``), which an older
onnxgate may have used as a real baseline.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock, so no temp is ever provably orphaned and none is removed
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "TMP_PREFIX", "TMP_SUFFIX", "atomic_target", "folder_lock", "is_temp_name",
           "remove_orphaned_temps", "write_bytes_atomic", "write_text_atomic"]

log = logging.getLogger(__name__)

TMP_PREFIX = ".onnxgate-tmp-"
TMP_SUFFIX = ".part"
LOCK_NAME = ".onnxgate.lock"  # folder_lock's file where a folder cannot be locked: never a candidate
_umask_lock = threading.Lock()


def is_temp_name(name: str) -> bool:
    """Whether a file name is an onnxgate temp or lock file (any onnxgate version's): never a real file."""
    return name.startswith(TMP_PREFIX) or name == LOCK_NAME


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


def _same_entry(fd: int, path: str) -> bool:
    """Whether ``path`` still names the file or folder open as ``fd`` (not removed or replaced)."""
    try:
        st, here = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino)


def _remove_if_orphaned(path: str) -> bool:
    """Removes one temp entry if no live writer holds its lock; True if removed."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # gone already, a link, or not ours to open
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live writer holds it (or the filesystem has no locks: then never remove)
            return False
        if not _same_entry(fd, path):
            return False
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_orphaned_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Removes the temp entries in ``folder`` whose writer died before its rename."""
    removed = []
    try:
        entries = [e.path for e in os.scandir(folder) if e.name.startswith(TMP_PREFIX) and e.name.endswith(TMP_SUFFIX)]
    except OSError:
        return removed
    for path in entries:
        if _remove_if_orphaned(path):
            removed.append(Path(path))
    if removed:
        log.info("removed %d orphaned temp file(s) in %s: %s", len(removed), folder,
                 ", ".join(p.name for p in removed))
    return removed


def _locked_temp(folder: Path, stem: str, *, as_folder: bool) -> tuple[int, str]:
    """A new temp file (or folder) in ``folder`` and a descriptor holding its lock."""
    while True:
        if as_folder:
            name = tempfile.mkdtemp(prefix=stem, suffix=TMP_SUFFIX, dir=folder)
            fd = os.open(name, os.O_RDONLY)
        else:
            fd, name = tempfile.mkstemp(prefix=stem, suffix=TMP_SUFFIX, dir=folder)
        if fcntl is None:
            return fd, name
        fcntl.flock(fd, fcntl.LOCK_EX)
        # Between creating and locking, another writer's cleanup may have found it unlocked and
        # removed it; then this one is not in the folder any more: make another.
        if _same_entry(fd, name):
            return fd, name
        os.close(fd)


@contextmanager
def atomic_target(path: str | os.PathLike[str], *, inner_name: str | None = None) -> Iterator[Path]:
    """Yields a temp path beside ``path`` for a writer that needs a file name; on success it
    gets the mode the umask gives a new file and is renamed over ``path``, else removed.

    ``inner_name``: the yielded file has this name, inside a temp folder, for writers that
    choose their format from the suffix (XGBoost's save_model).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temps(target.parent)
    keep_suffix = inner_name is not None
    fd, name = _locked_temp(target.parent, f"{TMP_PREFIX}{target.name}-", as_folder=keep_suffix)
    tmp = Path(name) / inner_name if inner_name is not None else Path(name)
    try:
        yield tmp
        # mkstemp creates 0600; a file written for the user should be as readable as any other.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            if keep_suffix:
                shutil.rmtree(name)
            else:
                os.unlink(name)
        os.close(fd)  # the lock goes last: until here no cleanup may take the entry


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


def _lock_directory(fd: int, deadline: float) -> bool:
    """flock on the folder itself; False where the filesystem has no such locks."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
        except OSError:  # e.g. NFS, where flock on a folder is refused
            return False


@contextmanager
def folder_lock(folder: str | os.PathLike[str], *, timeout_s: float = 600.0) -> Iterator[None]:
    """Holds an exclusive lock on ``folder`` for a read-modify-write of the files in it.

    The lock is the kernel's, so a killed holder never leaves it taken. It is taken on the
    folder itself, so no lock file is left among the user's files (``git add baselines/``
    adds nothing of ours); where the filesystem refuses that, on a hidden ``.onnxgate.lock``
    in the folder, with filelock.
    """
    from conversion.errors import OnnxGateError

    where = Path(folder)
    where.mkdir(parents=True, exist_ok=True)
    busy = OnnxGateError(f"another onnxgate process has held a lock on {where} for over {timeout_s:.0f} s; "
                         "wait for it to finish, or end it and try again")
    deadline = time.monotonic() + timeout_s
    fd = os.open(where, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if fcntl is not None else -1
    try:
        try:
            locked = fd >= 0 and _lock_directory(fd, deadline)
        except BlockingIOError:
            raise busy from None
        if locked:
            yield
            return
        from filelock import FileLock, Timeout

        lock = FileLock(str(where / LOCK_NAME), timeout=max(0.0, deadline - time.monotonic()))
        try:
            lock.acquire()
        except Timeout:
            raise busy from None
        try:
            yield
        finally:
            lock.release()
    finally:
        if fd >= 0:
            os.close(fd)  # drops the flock
