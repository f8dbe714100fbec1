"""This package's version (for the ``kind="python"`` member's ``version`` label)."""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def tribes_version() -> str:
    try:
        from importlib.metadata import version
        return version("tribes")
    except Exception:  # noqa: BLE001 - run from a checkout without metadata
        return "unknown"


__all__ = ["tribes_version"]
