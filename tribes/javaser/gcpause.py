"""``gc_paused()``: Python's cyclic garbage collector held off while a bulk decode runs.

Decoding a session-state transfer makes hundreds of thousands of container objects (maps,
lists, JavaObject / ClassData) that all survive: every generation-0 collection in between
scans them again, only to promote them (about 10% of a 100 KiB session-state decode). Java's
young-generation collector pays little for the same pattern; this is how Python code does.

Reference counting still frees everything as usual; only the cycle detector waits, and runs at
its next turn after the block. The collector's switch is process-wide: while the block runs,
other threads' cycles wait too (for as long as the decode takes). A collector switched off
before the block stays off after it.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic GC inside the ``with`` block (restored after it, even on error)."""
    was_on = gc.isenabled()
    if was_on:
        gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
