"""Selects the hot-path implementation: the Cython extension ``tribes._fastpath`` when it is built,
else its pure-Python twin ``tribes._purepath`` (same functions, same results, same exceptions).

``TRIBES_PURE=1`` in the environment forces the pure path. ``ENABLED`` says whether the Cython
extension is active; ``IMPLEMENTATION`` is ``"cython"`` or ``"pure"``.
"""
from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import TYPE_CHECKING

log = logging.getLogger("tribes.io")

__all__ = [
    "ENABLED", "IMPLEMENTATION", "impl", "FrameDecoderCore", "encode_frame", "parse_member", "build_member",
    "parse_channel_data", "build_channel_data", "tune_allocator",
]


def _select() -> tuple[ModuleType, bool]:
    if os.environ.get("TRIBES_PURE", "").strip() not in ("", "0"):
        from tribes import _purepath
        return _purepath, False
    try:
        from tribes import _fastpath
    except ImportError as exc:
        log.debug("tribes._fastpath not available (%s); using the pure-Python path", exc)
        from tribes import _purepath
        return _purepath, False
    return _fastpath, True


def tune_allocator(cache_bytes: int = 32 * 1024 * 1024) -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the OS at once (opt-in).

    Large frame bodies (hundreds of KiB and more) are allocated and freed at a high rate; with
    glibc's defaults many of those allocations touch fresh pages (page faults), which halves the
    decode throughput of 1 MiB frames (measured: ~10 GB/s -> ~19 GB/s with this call). It sets
    ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` to ``cache_bytes`` (process-wide, like a JVM
    heap that is never given back). Returns False where glibc's ``mallopt`` is not available.
    ``TRIBES_TUNE_MALLOC=1`` in the environment calls it when this module is imported.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = bool(mallopt(m_mmap_threshold, int(cache_bytes)) == 1)
    ok = (mallopt(m_trim_threshold, int(cache_bytes) * 2) == 1) and ok
    if ok:
        log.debug("glibc allocator tuned: mmap/trim thresholds %d/%d bytes", cache_bytes, cache_bytes * 2)
    return ok


impl, ENABLED = _select()
if os.environ.get("TRIBES_TUNE_MALLOC", "").strip() not in ("", "0"):
    tune_allocator()
IMPLEMENTATION: str = impl.IMPLEMENTATION

if TYPE_CHECKING:  # both implementations have the API of the stub tribes/_fastpath.pyi
    from tribes._fastpath import (FrameDecoderCore, build_channel_data, build_member, encode_frame,
                                  parse_channel_data, parse_member)
else:
    FrameDecoderCore = impl.FrameDecoderCore
    encode_frame = impl.encode_frame
    parse_member = impl.parse_member
    build_member = impl.build_member
    parse_channel_data = impl.parse_channel_data
    build_channel_data = impl.build_channel_data
