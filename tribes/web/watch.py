"""Which worker connections hold a copy of which session (sans-I/O bookkeeping for the agent).

A worker's blocking client keeps the last load answer of each session it served (one per
connection) and answers the next ``load`` of that session from it, without a round trip, until the
agent tells it the session changed. The agent registers a *watch* for each copy it hands out and,
when anything touches that session (another worker's commit, a message from another cluster member,
an expiry, an id change), sends the watching connections a ``changed`` notice before anything else
is done with that session, then forgets the watch (one notice per copy). A worker drains its notices
(a non-blocking read) at the start of every load, so it never serves a copy older than what a load
round trip at that moment would return.

The table is bounded per connection: a connection that watches ``per_conn`` sessions gets a notice
for its oldest watch when it asks for one more (it drops that copy).
"""
from __future__ import annotations

from typing import Generic, Hashable, TypeVar

__all__ = ["WatchTable"]

C = TypeVar("C", bound=Hashable)


class WatchTable(Generic[C]):
    """session id -> watching connections, and connection -> its watched ids (in watch order)."""

    def __init__(self, per_conn: int = 2048) -> None:
        self.per_conn = per_conn
        self.by_id: dict[str, set[C]] = {}
        self.by_conn: dict[C, dict[str, None]] = {}

    def add(self, sid: str, conn: C) -> str | None:
        """Watch ``sid`` for ``conn``; returns the id whose watch was evicted to make room (notify it)."""
        ids = self.by_conn.setdefault(conn, {})
        evicted = None
        if sid in ids:
            return None
        if len(ids) >= self.per_conn:
            evicted = next(iter(ids))
            self._unwatch(evicted, conn)
        ids[sid] = None
        self.by_id.setdefault(sid, set()).add(conn)
        return evicted

    def _unwatch(self, sid: str, conn: C) -> None:
        self.by_conn.get(conn, {}).pop(sid, None)
        conns = self.by_id.get(sid)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.by_id[sid]

    def pop(self, sid: str, exclude: C | None = None) -> list[C]:
        """The connections to tell that ``sid`` changed (their watches end); ``exclude`` keeps its own."""
        conns = self.by_id.get(sid)
        if not conns:
            return []
        out = [c for c in conns if c != exclude]
        for c in out:
            self._unwatch(sid, c)
        return out

    def pop_all(self, exclude: C | None = None) -> list[C]:
        """Every watching connection (a change that names no session): all their watches end."""
        out = [c for c, ids in self.by_conn.items() if ids and c != exclude]
        for c in out:
            for sid in list(self.by_conn[c]):
                self._unwatch(sid, c)
        return out

    def drop(self, conn: C) -> None:
        """A connection closed: its watches end."""
        for sid in list(self.by_conn.pop(conn, {})):
            conns = self.by_id.get(sid)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self.by_id[sid]

    def __len__(self) -> int:
        return len(self.by_id)
