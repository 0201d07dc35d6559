"""run_child: a subprocess that does not outlive the onnxgate process that started it.

A benchmark child left running keeps loading the machine and writing into the output folder
for minutes after the user pressed Ctrl-C or the CI job was cancelled; its valgrind
grandchildren (``--counts``) were found running for a minute after a SIGKILL of onnxgate,
next to their temp folders. So the child runs under a guard (child_guard.py): in a process
group of its own, with its own TMPDIR, and the guard ends the whole group and removes the
folder when the child exits or when the pipe from this process closes, which the kernel
does when this process dies, SIGKILL included, where no handler of ours runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["end_child", "run_child", "start_child"]

log = logging.getLogger(__name__)

GUARD = Path(__file__).with_name("child_guard.py")
_PASSED_FDS = "ONNXGATE_GUARD_PASS_FDS"  # descriptors run_child's caller passed, which the guard passes on
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_GRACE_S = 5.0  # the guard's own grace period for the child, plus this much for the guard


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turns SIGTERM into SystemExit while we wait, so cleanup runs (Python's default just dies)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _libc(name: str) -> Callable[..., int] | None:
    """The C library's ``name`` on Linux (prctl, personality), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to send SIGTERM to the child when ``parent`` dies (Linux)."""
    prctl = _libc("prctl")
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _end_group(proc: subprocess.Popen[Any]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def _stop(guard: subprocess.Popen[Any], stop: Any) -> None:
    """Closes the guard's pipe, so it ends the child's group; kills the guard if it does not finish."""
    stop.close()
    try:
        guard.wait(timeout=2 * _GRACE_S)
    except subprocess.TimeoutExpired:  # the child then gets SIGKILL from the kernel (its parent died)
        guard.kill()
        guard.wait()


def run_child(cmd: Sequence[str], **popen_kwargs: Any) -> int:
    """Runs ``cmd`` to completion and returns its exit code; never leaves it, or anything it
    started, running behind us, nor its temp files."""
    read_end, write_end = os.pipe()  # neither end is inherited by anything but the guard (pass_fds)
    passed = tuple(popen_kwargs.pop("pass_fds", ()))  # the guard hands these on to the child
    try:
        guard = subprocess.Popen([sys.executable, "-I", str(GUARD), str(read_end), "--", *cmd],
                                 pass_fds=(read_end, *passed), process_group=0,
                                 env={**(popen_kwargs.pop("env", None) or os.environ),
                                      _PASSED_FDS: ",".join(map(str, passed))}, **popen_kwargs)
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    with open(write_end, "wb", buffering=0) as stop:  # closed once, here or by _stop
        try:
            with _sigterm_raises():
                return guard.wait()
        except BaseException:
            log.warning("stopping the child process group of %d (%s)", guard.pid, " ".join(cmd[:3]))
            _stop(guard, stop)
            raise


_ADDR_NO_RANDOMIZE = 0x0040000  # from <linux/personality.h>


def _fixed_layout(then: Callable[[], None] | None) -> Callable[[], None] | None:
    """A preexec_fn that also turns address-space randomisation off for the child (Linux), then runs ``then``."""
    personality = _libc("personality")
    if personality is None:
        return then

    def preexec() -> None:
        current = personality(0xFFFFFFFF)  # the query form: changes nothing
        if current != -1:
            personality(current | _ADDR_NO_RANDOMIZE)
        if then is not None:
            then()

    return preexec


def start_child(cmd: Sequence[str], *, fixed_layout: bool = False, **popen_kwargs: Any) -> subprocess.Popen[Any]:
    """Starts ``cmd`` in its own process group, ended by the kernel if we die; end it with :func:`end_child`.

    ``fixed_layout``: no address-space randomisation, so two processes of one program lay out their
    code and heap alike (docs/gate.md: a one-row ONNX call's median moved 14-30 us between processes
    with it, 14-16 us without)."""
    preexec = _die_with_parent(os.getpid())
    return subprocess.Popen(list(cmd), process_group=0, preexec_fn=_fixed_layout(preexec) if fixed_layout else preexec,
                            **popen_kwargs)


def end_child(proc: subprocess.Popen[Any]) -> None:
    """Ends a child from :func:`start_child` and its whole process group."""
    _end_group(proc)
