"""Rate-limited logging for anything an outsider can trigger (junk packets, bad frames, failed decrypts).

One log line per kind of problem per interval; the rest are counted, and the next line says how many
were suppressed. Every log line that a peer or a stranger on the network can cause goes through
``RateLimitedLog``, so a flood costs one line per interval, never one per packet.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """One log line per kind of problem per ``interval`` seconds; the rest are counted.

    The next line after a quiet period says how many were suppressed, so a flood of garbage
    costs one line per interval, never one per packet.
    """

    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    def warn(self, kind: str, msg: str, *args: object) -> bool:
        """Log (or count) one occurrence; True when a line was written."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._last[kind] = now
        suppressed = self._suppressed.pop(kind, 0)
        if suppressed:
            msg += " (%d more like this in the last %.0f s not logged)"
            args = (*args, suppressed, self.interval)
        self.logger.warning(msg, *args)
        return True
