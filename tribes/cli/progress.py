"""Progress bars (``rich``) for long-running commands, shown only where a person watches.

``file_progress(path)`` is a context manager yielding what to read: the path itself (no bar: stderr
is not a terminal, or the file is small) or a binary file object whose reads advance a bar on
stderr (bytes read / file size). ``TRIBES_PROGRESS=1`` forces the bar, ``TRIBES_PROGRESS=0`` hides it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any, Iterator

_log = logging.getLogger("tribes.cli.progress")

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
        data: bytes = self._f.read(n)
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


class StateTransferProgress:
    """Shows a state transfer as it arrives: one line per context with the sessions received so far.

    Feed it the cluster's session events (``cluster.add_listener(progress)``). Where a person watches
    (stderr is a terminal, or ``TRIBES_PROGRESS=1``) it draws a ``rich`` spinner per context; it always
    logs each received chunk at INFO on ``tribes.cli.progress`` so a long transfer is visible in logs too.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        forced = os.environ.get("TRIBES_PROGRESS")
        if enabled is None:
            enabled = forced == "1" if forced in ("0", "1") else sys.stderr.isatty()
        self.received: dict[str, int] = {}
        self.done: set[str] = set()
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        if enabled:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=False)

    def __enter__(self) -> "StateTransferProgress":
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _describe(self, context: str) -> str:
        state = "done" if context in self.done else "receiving"
        return f"state transfer {context or '(ROOT)'}: {self.received.get(context, 0)} sessions {state}"

    def __call__(self, event: Any) -> None:
        kind = getattr(event, "kind", None)
        if kind not in ("state_received", "state_transfer_complete"):
            return
        context = event.context
        if kind == "state_received":
            count = event.value if isinstance(event.value, int) else 0
            self.received[context] = self.received.get(context, 0) + count
            _log.info("state transfer %s: %d sessions received so far", context, self.received[context])
        else:
            self.done.add(context)
            _log.info("state transfer %s: complete (%s), %d sessions", context, event.value,
                      self.received.get(context, 0))
        if self._bar is not None:
            if context not in self._tasks:
                self._tasks[context] = self._bar.add_task(self._describe(context), total=None)
            self._bar.update(self._tasks[context], description=self._describe(context))
            if context in self.done:
                self._bar.update(self._tasks[context], total=1, completed=1)
