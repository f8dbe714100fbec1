"""Progress bars (``rich``) for long-running commands, shown only where a person watches.

``file_progress(path)`` is a context manager yielding what to read: the path itself (no bar: stderr
is not a terminal, or the file is small) or a binary file object whose reads advance a bar on
stderr (bytes read / file size). ``TRIBES_PROGRESS=1`` forces the bar, ``TRIBES_PROGRESS=0`` hides it.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

MIN_BYTES = 4 * 1024 * 1024  # smaller files decode in well under a second: no bar
_STEP = 256 * 1024  # update the bar every this many bytes


def wanted(size: int, min_bytes: int = MIN_BYTES) -> bool:
    forced = os.environ.get("TRIBES_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    return size >= min_bytes and sys.stderr.isatty()


class _CountingReader:
    """A binary file whose ``read`` reports the position to a callback (everything else delegates)."""

    def __init__(self, f: Any, on_pos: Any) -> None:
        self._f = f
        self._on_pos = on_pos
        self._pos = 0
        self._last = 0
        self.name = getattr(f, "name", "?")

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._pos += len(data)
        if self._pos - self._last >= _STEP or not data:
            self._last = self._pos
            self._on_pos(self._pos)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> "_CountingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


@contextlib.contextmanager
def file_progress(path: str, label: str = "decoding", min_bytes: int = MIN_BYTES) -> Iterator[Any]:
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    if not wanted(size, min_bytes):
        yield path
        return
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    bar = Progress(TextColumn(f"{label} {os.path.basename(path)}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task(label, total=size)
    with open(path, "rb") as raw, bar:
        yield _CountingReader(raw, lambda pos: bar.update(task, completed=pos))
