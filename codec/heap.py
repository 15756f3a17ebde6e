"""Keep freed memory in the process heap while an image is coded on the CPU, so activations reuse pages.

Why: glibc serves every allocation above its mmap threshold (32 MB at most) with a fresh ``mmap`` and
gives it back to the kernel on ``free``. The synthesis of a 1080p image allocates and frees ~6.5 GB of
such activations (one 160 x 544 x 960 float32 map is 334 MB), so the kernel page-faults in and zeroes
every one of them again: 1.6 million page faults and ~3 s of system time per decode on the 2-core CPU,
about a third of the decode's CPU time (docs/history.md, "CPU decode speed"). With ``mmap`` off and
trimming raised, freed blocks stay in the heap and the next activation of the same size reuses them
(the measured decode then takes no page faults after the first).

Only the allocator's bookkeeping changes, never a computed value. The settings hold while
:func:`retained_heap` is entered (nested and concurrent uses count as one) and are restored on exit,
when the heap is also trimmed, so the process does not keep a decode's peak memory. Restoring pins
glibc's mmap threshold where its dynamic adjustment had taken it (``mallopt`` turns that adjustment
off). On other C libraries this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024  # glibc's defaults, restored on exit
_DEFAULT_MMAP_MAX = 65536
_RETAIN_TRIM_THRESHOLD = 2**31 - 1  # an int: never trim while retained

_lock = threading.Lock()
_depth = 0


def _load_glibc():
    """glibc's ``mallopt`` and ``malloc_trim``, or ``None`` on another C library."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return mallopt, trim


_GLIBC = _load_glibc()


def available() -> bool:
    """Whether this process's C library can retain freed memory (glibc)."""
    return _GLIBC is not None


@contextmanager
def retained_heap(enabled: bool = True) -> Iterator[None]:
    """While entered, large freed blocks stay in the heap for reuse instead of going back to the kernel.

    Args:
        enabled: ``False`` makes this a no-op (e.g. for GPU decodes, whose activations are not on the
            host).
    """
    global _depth
    if not enabled or _GLIBC is None:
        yield
        return
    mallopt, trim = _GLIBC
    with _lock:
        _depth += 1
        if _depth == 1:
            mallopt(_M_TRIM_THRESHOLD, _RETAIN_TRIM_THRESHOLD)
            mallopt(_M_MMAP_MAX, 0)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                trim(0)
