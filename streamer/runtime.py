"""Process-wide settings for frame-rate work.

Every 720p frame makes a few dozen short-lived images of 1–3 MB (colour
conversions, masks, label images). glibc's malloc hands blocks that large out
as fresh ``mmap`` pages, or trims the heap when they are freed, so each frame
page-faults in ~25 MB of zeroed memory: measured on the shared Bundesliga clip,
that was a fifth of the ``pitch`` detector's time (14.5 → 11.7 ms per frame).
Raising the two thresholds keeps those blocks in the heap for reuse.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's ceiling for this setting on 64-bit
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024

_tuned: bool | None = None


def tune_allocator() -> bool:
    """Keep large freed blocks in glibc's heap (idempotent). False where not glibc.

    The heap may then hold up to ``TRIM_THRESHOLD_BYTES`` of freed memory instead
    of returning it to the system at once.
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; musl and other libcs without these options return 0
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return _tuned


def limit_torch_threads(threads: int) -> None:
    """Give torch's CPU intra-op pool ``threads`` threads (0: leave torch's default).

    The model stages and the sink thread (the overlay poses its bodies in torch) already
    run side by side on the cores; torch's own pool on top of them oversubscribes a small
    machine: posing 20 mannequins took 79 CPU-ms with torch's 2 threads on a loaded 2-core
    machine, 8 with 1. Imports torch, so call it only when a stage or sink uses torch.
    """
    if threads <= 0:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
