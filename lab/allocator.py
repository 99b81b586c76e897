"""Allocator: keep glibc from returning and re-faulting the memory of large temporaries.

Small models allocate and free the same few-MB temporaries every step. glibc's defaults hand
such blocks back to the kernel (trim, munmap) and fault them in again on the next step; on a
quiet 2-core CPU, 8 batched runs took 2.41-2.52 s with glibc's defaults and 1.91-2.13 s with
these thresholds, which keep the blocks in the heap. LAB_MALLOC=default leaves glibc alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # blocks above this still come from (and return to) mmap
TRIM_THRESHOLD = 256 << 20  # free heap kept for reuse before trimming

_tuned: bool | None = None


def tune() -> bool:
    """Apply the thresholds once per process (glibc on Linux only); whether they are set."""
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if sys.platform != "linux" or os.environ.get("LAB_MALLOC") == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    _tuned = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                  and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _tuned
