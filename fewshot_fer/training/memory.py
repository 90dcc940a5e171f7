"""Keep freed CPU memory in the process, so big activations are not page-faulted in every step.

glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh ``mmap`` and
unmaps it when freed. A Conv-4 activation of a 100-image episode at 48 px is ~60 MB, so every
CPU training step maps, zero-fills (page faults) and unmaps about a gigabyte. Serving large
blocks from the heap and not trimming it lets the next step reuse the same pages: 20-40% more
episodes per second on a CPU for ~150 MB more peak memory (``benchmarks/results/speed.md``).
GPU tensors use PyTorch's caching allocator and are not affected.

Set ``FEWSHOT_FER_MALLOC=default`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_MAX = -4
TRIM_THRESHOLD = 1 << 30  # return freed heap memory to the OS only above 1 GB


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to serve large blocks from the heap and keep them when freed.

    Returns ``True`` when applied; ``False`` off Linux/glibc or when ``FEWSHOT_FER_MALLOC=default``.
    Idempotent; affects the whole process from then on.
    """
    if os.environ.get("FEWSHOT_FER_MALLOC", "").lower() == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
