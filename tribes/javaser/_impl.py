"""Selects the reader/writer implementation: the typed Cython compiles of reader.py / writer.py
(``_creader`` / ``_cwriter``, built from the same source by setup.py) when they are built, else the
pure-Python modules themselves. Both give the same values, bytes and exceptions
(tests/unit/test_javaser_speedups*.py).

``TRIBES_PURE=1`` in the environment forces the pure path. ``IMPLEMENTATION`` is ``"cython"``
when both compiled modules are active, ``"pure"`` when none is (``"mixed"`` otherwise).
"""
from __future__ import annotations

import logging
import os
from types import ModuleType

from . import reader as pure_reader
from . import writer as pure_writer

log = logging.getLogger("tribes.javaser")


def _compiled(name: str, pure: ModuleType) -> tuple[ModuleType, bool]:
    if os.environ.get("TRIBES_PURE", "").strip() not in ("", "0"):
        return pure, False
    try:
        mod = __import__(f"tribes.javaser.{name}", fromlist=["_"])
    except ImportError as exc:
        log.debug("tribes.javaser.%s not available (%s); using the pure-Python %s", name, exc, pure.__name__)
        return pure, False
    return mod, True


reader, READER_COMPILED = _compiled("_creader", pure_reader)
writer, WRITER_COMPILED = _compiled("_cwriter", pure_writer)
IMPLEMENTATION = (
    "cython" if READER_COMPILED and WRITER_COMPILED else "pure" if not (READER_COMPILED or WRITER_COMPILED) else "mixed"
)
ObjectInputStream = reader.ObjectInputStream
ObjectOutputStream = writer.ObjectOutputStream
