"""The benchmark child's guard: the child's whole process group and temp folder end with it.

run_child (child_process.py) starts ``python -I child_guard.py FD -- CMD...``; this process
starts CMD in a process group of its own, with ``TMPDIR`` set to a fresh folder, and then
waits for whichever comes first:

- the child exits: whatever it left running in its group (valgrind, pytest's helpers) is
  killed, while the child is not yet reaped, so its group id cannot have been reused;
- the pipe ``FD`` from run_child's process reaches end-of-file: run_child asked it to stop, or
  run_child's process died, by SIGKILL too (the kernel closes the pipe's write end then).
  The group gets SIGTERM, and SIGKILL once the child has gone or after a grace period.

Then the temp folder is removed and the child's exit status is passed on as this process's
own. The guard is the child's parent, so no group is signalled after its leader was reaped.
Standard library only: it runs isolated (``-I``), importing nothing of the package.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_guard() -> None:
    """In the child, before exec: SIGKILL when the guard dies, however it dies (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _exited(pid: int) -> bool:
    """Whether the child has exited, leaving it unreaped (its pid, and so its group id, stay taken)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


class _Stop(Exception):  # noqa: N818 - a request, not an error
    """SIGTERM to the guard itself: stop as when the pipe closes."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def _wait_for_stop(pid: int, stop_fd: int) -> bool:
    """Waits until the child exits (False) or the stop pipe reaches end-of-file (True)."""
    while not _exited(pid):
        ready, _, _ = select.select([stop_fd], [], [], 0.2)
        if ready and not os.read(stop_fd, 64):
            return True
    return False


def main(argv: list[str]) -> int:
    stop_fd, cmd = int(argv[1]), argv[3:]
    # Ctrl-C reaches run_child's process, which decides; it tells this one through the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    tmp = tempfile.mkdtemp(prefix="onnxgate-bench-")
    try:
        # Descriptors run_child's caller passed (a progress bar's terminal) go on to the child.
        passed = tuple(int(fd) for fd in os.environ.pop("ONNXGATE_GUARD_PASS_FDS", "").split(",") if fd)
        child = subprocess.Popen(cmd, env={**os.environ, "TMPDIR": tmp}, process_group=0,
                                 preexec_fn=_die_with_guard, pass_fds=passed)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"onnxgate: cannot start {cmd[0]}: {exc}", file=sys.stderr)
        return 127
    try:
        stopped = _wait_for_stop(child.pid, stop_fd)
    except _Stop:
        stopped = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # from here on nothing interrupts the cleanup
    if stopped:
        _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        while not _exited(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    _signal_group(child.pid, signal.SIGKILL)  # what is left of the group; the leader is still unreaped
    code = child.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    if code < 0:  # killed by a signal: end the same way, so run_child's caller sees the same status
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP have no handler to reset
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
