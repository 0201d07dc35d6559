"""Callgrind's client requests (start instrumentation, zero, dump) callable from Python.

Valgrind recognises a magic instruction sequence that is a no-op on a real CPU; its C
headers emit it with inline assembly (``callgrind.h``). Python has no inline assembly and
CI has no guarantee of a C compiler, so the 30-byte function below is written to an
executable page and called through ctypes. Outside valgrind it returns 0 and does nothing.
Only x86-64 Linux is supported; ``available()`` says so elsewhere.
"""

from __future__ import annotations

import ctypes
import mmap
import platform
from functools import cache

__all__ = ["DUMP_STATS", "START_INSTRUMENTATION", "ZERO_STATS", "available", "request"]

_BASE = (ord("C") << 24) | (ord("T") << 16)  # VG_USERREQ_TOOL_BASE('C','T'), callgrind.h
DUMP_STATS, ZERO_STATS, _TOGGLE, _DUMP_AT, START_INSTRUMENTATION, STOP_INSTRUMENTATION = range(_BASE, _BASE + 6)

# uint64 request(uint64 *args): rax = args; rdx = 0 (the default result); the preamble
# rotates rdi by 3+13+61+51 = 128 bits (unchanged); xchg rbx,rbx asks valgrind to serve
# the request at *rax and put its result in rdx; return rdx. Same sequence as valgrind.h.
_AMD64 = bytes.fromhex(
    "4889f8"  # mov rax, rdi
    "31d2"  # xor edx, edx
    "48c1c703" "48c1c70d" "48c1c73d" "48c1c733"  # rol rdi, 3 / 13 / 61 / 51
    "4887db"  # xchg rbx, rbx
    "4889d0"  # mov rax, rdx
    "c3"  # ret
)


def available() -> bool:
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


@cache
def _function() -> ctypes._CFuncPtr:
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(_AMD64)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    fn = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint64))(address)
    fn._page = page  # the page must live as long as the function
    return fn


def request(code: int, *args: int) -> int:
    """Serves one callgrind client request (0 when not running under valgrind)."""
    if not available():
        raise OSError(f"callgrind client requests need x86-64 Linux, not {platform.system()} {platform.machine()}")
    block = (ctypes.c_uint64 * 6)(code, *(list(args) + [0] * 5)[:5])
    return int(_function()(block))
