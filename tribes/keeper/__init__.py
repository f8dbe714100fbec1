"""The keeper: a cluster member that persists every session (``tribes keeper``), plus cluster-wide
duplicate-login prevention and forced logout. Tomcat has no counterpart; see docs/keeper.md."""
from __future__ import annotations

from tribes.keeper.store import (SessionStore, SqliteStore, StoreCorruptError, StoredSession, StoreError,
                                 StoreFullError)

__all__ = ["SessionStore", "SqliteStore", "StoredSession", "StoreError", "StoreCorruptError", "StoreFullError",
           "SessionKeeper"]


def __getattr__(name: str) -> object:
    if name == "SessionKeeper":
        from tribes.keeper.keeper import SessionKeeper
        return SessionKeeper
    raise AttributeError(name)
