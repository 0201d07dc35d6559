"""Input files are regular files of a sane size: never a FIFO that blocks, a device that never
ends, or a folder.

Every model, data, results and baseline file onnxgate reads goes through here first. A
symbolic link is followed, and the file it names is what is checked. The check is made on
the open descriptor (``O_NONBLOCK``, so opening a FIFO cannot block), so what was checked is
what is read. Sizes are capped per kind of file, with one override for all:
``ONNXGATE_MAX_FILE_MB``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from conversion.errors import OnnxGateError

__all__ = ["LIMITS_MB", "MAX_FILE_MB_ENV", "check_regular_file", "read_regular_file"]

MAX_FILE_MB_ENV = "ONNXGATE_MAX_FILE_MB"
# Far above any real file of the kind (a committed baseline is under 1 MB, a quick results file
# a few MB; a 1000-tree model a few hundred MB), far below what fills a CI runner's memory.
LIMITS_MB = {"results": 256, "model": 2048, "data": 2048, "config": 16}

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _mb(n_bytes: float) -> str:
    mb = n_bytes / 1e6
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:.2g} MB"


def _what_it_is(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _limit_bytes(kind: str, error: type[OnnxGateError]) -> int:
    given = os.environ.get(MAX_FILE_MB_ENV)
    if not given:
        return LIMITS_MB[kind] * 1_000_000
    try:
        mb = float(given)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise error(f"{MAX_FILE_MB_ENV}={given!r} is not a positive number of megabytes; e.g. {MAX_FILE_MB_ENV}=4000")
    return int(mb * 1_000_000)


def _refuse(path: Path, st: os.stat_result, *, what: str, kind: str, error: type[OnnxGateError]) -> None:
    if not stat.S_ISREG(st.st_mode):
        hint = "; pass the file inside it" if stat.S_ISDIR(st.st_mode) else "; pass a regular file"
        raise error(f"{what} {path} is {_what_it_is(st.st_mode)}, not a regular file{hint}")
    limit = _limit_bytes(kind, error)
    if st.st_size > limit:
        raise error(f"{what} {path} is {_mb(st.st_size)}, over onnxgate's {_mb(limit)} limit for {kind} files; "
                    f"if it really is one, set {MAX_FILE_MB_ENV} to a larger number of MB")


def _stat(path: Path, *, what: str, error: type[OnnxGateError]) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist; check the path") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def check_regular_file(path: str | os.PathLike[str], *, what: str, kind: str,
                       error: type[OnnxGateError]) -> Path:
    """``path`` if it names a regular file under the size cap of its ``kind``, else ``error`` saying what it is.

    For paths handed to a library that opens them itself; read_regular_file where onnxgate reads.
    """
    p = Path(path)
    _refuse(p, _stat(p, what=what, error=error), what=what, kind=kind, error=error)
    return p


def read_regular_file(path: str | os.PathLike[str], *, what: str, kind: str,
                      error: type[OnnxGateError]) -> bytes:
    """The bytes of a regular file under the size cap of its ``kind``, else ``error`` saying what it is."""
    p = Path(path)
    _refuse(p, _stat(p, what=what, error=error), what=what, kind=kind, error=error)  # before opening: a device
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        _refuse(p, st, what=what, kind=kind, error=error)  # what was opened, if the path changed since
        limit = _limit_bytes(kind, error)
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise error(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{what} {p} grew past onnxgate's {_mb(limit)} limit for {kind} files while it was read")
    return data
