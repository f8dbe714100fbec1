"""The one ISO 8601 time format of the package's output: UTC with milliseconds (``2026-11-22T02:35:42.123Z``).

Used by the CLI's event lines, the capture decoder and the JSON view of Java values alike.
"""
from __future__ import annotations

import datetime as _dt

__all__ = ["iso_time"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def iso_time(epoch_ms: float | int | None) -> str | None:
    """``epoch_ms`` (milliseconds since 1970, as Java's ``Date.getTime()``) as ISO 8601 UTC with
    milliseconds; None for None and beyond what Python's datetime holds (years 1..9999)."""
    if epoch_ms is None:
        return None
    try:
        t = _EPOCH + _dt.timedelta(milliseconds=epoch_ms)
    except OverflowError:
        return None
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
