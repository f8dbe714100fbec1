"""Durable session stores for the keeper: the ``SessionStore`` interface and its SQLite backend.

Tomcat has no counterpart: DeltaManager and BackupManager keep sessions in memory only, and
PersistentManager's stores write a session on shutdown or after ``maxIdleBackup``, never on every
change. A keeper persists every replicated change and can serve the sessions back by state transfer.

A stored session is one record: its context name (``localhost#/app``), its id, the session in the
very bytes Tomcat's state transfer uses for it (``DeltaSession.writeObjectData`` inside a one-session
``ALL_SESSION_DATA`` stream, for the Tomcat version of the cluster), and the columns the keeper needs
without decoding: last access, max inactive interval, expiry time and the principal's name.

The SQLite backend (stdlib ``sqlite3``, WAL journal, ``synchronous=FULL``) commits one transaction
per batch; :meth:`SqliteStore.commit` returns only when the batch is on disk, so a caller that ACKs
after it has made the change survive a crash of the keeper (and of the machine, as far as the disk's
own flush is honest). Every method is blocking: the keeper runs them on one dedicated thread.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol

log = logging.getLogger("tribes.keeper.store")

SCHEMA_VERSION = "1"

__all__ = ["StoredSession", "SessionStore", "SqliteStore", "StoreError", "StoreCorruptError",
           "StoreFullError", "SCHEMA_VERSION"]


class StoreError(RuntimeError):
    """A store operation failed; the message says what to do."""


class StoreCorruptError(StoreError):
    """The store file is damaged: the keeper refuses to serve partial state."""


class StoreFullError(StoreError):
    """The disk (or the database's size limit) is full: nothing of the batch was persisted."""


@dataclass(frozen=True)
class StoredSession:
    """One persisted session. ``state`` is a one-session ALL_SESSION_DATA stream (``tomcat_version``)."""

    context: str
    id: str
    state: bytes
    tomcat_version: str
    last_accessed: int          # ms since the epoch
    max_inactive: int           # seconds; <= 0: never expires
    principal: str | None = None

    @property
    def expires_at(self) -> int | None:
        """When the session expires unless accessed (ms), or None when it never does."""
        if self.max_inactive <= 0:
            return None
        return self.last_accessed + self.max_inactive * 1000

    def expired(self, now: int) -> bool:
        e = self.expires_at
        return e is not None and e <= now


class SessionStore(Protocol):
    """What the keeper needs of a durable backend (one writer; methods block; see module docs)."""

    def put(self, session: StoredSession) -> None: ...
    def delete(self, context: str, session_id: str) -> None: ...
    def rename(self, context: str, old_id: str, new_id: str) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def load(self) -> Iterator[StoredSession]: ...
    def count(self) -> int: ...
    def purge_expired(self, now: int) -> int: ...
    def sessions_of_user(self, user: str) -> list[tuple[str, str]]: ...
    def check(self) -> None: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    context        TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    state          BLOB    NOT NULL,
    tomcat_version TEXT    NOT NULL,
    last_accessed  INTEGER NOT NULL,
    max_inactive   INTEGER NOT NULL,
    expires_at     INTEGER,
    principal      TEXT,
    PRIMARY KEY (context, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_principal ON sessions (principal) WHERE principal IS NOT NULL;
"""

_RECOVER = ("move the damaged file aside (with its -wal and -shm files) and start the keeper again: it then "
            "starts empty and takes the sessions of the live cluster, if any; `sqlite3 FILE .recover` may "
            "salvage rows from the damaged copy")


def _is_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "full" in text or "no space" in text or getattr(exc, "sqlite_errorcode", None) == 13


def _is_corrupt(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


class SqliteStore:
    """SQLite in WAL mode. ``synchronous="FULL"`` makes every commit durable (the default);
    ``"NORMAL"`` trades the last commits on power loss (not on a crash of the keeper) for speed."""

    def __init__(self, path: str, *, synchronous: str = "FULL", check: bool = True) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous={synchronous!r}: use FULL, EXTRA or NORMAL")
        self.path = path
        self._lock = threading.Lock()
        existed = os.path.exists(path) and os.path.getsize(path) > 0
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            if existed and check:
                self.check()
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise StoreError(f"{path}: store schema {row[0]} is not {SCHEMA_VERSION} (written by another "
                                 "version of tribes); start this keeper with a new --store file")
        except sqlite3.DatabaseError as exc:
            if _is_corrupt(exc):
                raise StoreCorruptError(f"{path}: the store is damaged ({exc}); {_RECOVER}") from exc
            raise StoreError(f"{path}: cannot open the store: {exc}") from exc
        self._in_tx = False

    # -- writes (one batch = one transaction) -------------------------------------------------
    def _begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            try:
                self._begin()
                self._db.execute(sql, args)
            except sqlite3.DatabaseError as exc:
                self._fail(exc)

    def _fail(self, exc: sqlite3.DatabaseError) -> None:
        self._rollback_locked()
        if _is_full(exc):
            raise StoreFullError(f"{self.path}: disk full, the batch was not persisted ({exc}); free space on "
                                 "that file system") from exc
        if _is_corrupt(exc):
            raise StoreCorruptError(f"{self.path}: the store is damaged ({exc}); {_RECOVER}") from exc
        raise StoreError(f"{self.path}: {exc}") from exc

    def put(self, session: StoredSession) -> None:
        self._write("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (session.context, session.id, session.state, session.tomcat_version, session.last_accessed,
                     session.max_inactive, session.expires_at, session.principal))

    def delete(self, context: str, session_id: str) -> None:
        self._write("DELETE FROM sessions WHERE context=? AND id=?", (context, session_id))

    def rename(self, context: str, old_id: str, new_id: str) -> None:
        # never overwrite another session: a rename onto an existing id drops the old row only
        self._write("UPDATE OR IGNORE sessions SET id=? WHERE context=? AND id=?", (new_id, context, old_id))
        self._write("DELETE FROM sessions WHERE context=? AND id=?", (context, old_id))

    def commit(self) -> None:
        with self._lock:
            if not self._in_tx:
                return
            try:
                self._db.execute("COMMIT")
                self._in_tx = False
            except sqlite3.DatabaseError as exc:
                self._fail(exc)

    def _rollback_locked(self) -> None:
        if self._in_tx:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass
            self._in_tx = False

    def rollback(self) -> None:
        with self._lock:
            self._rollback_locked()

    # -- reads --------------------------------------------------------------------------------
    def load(self) -> Iterator[StoredSession]:
        """Every stored session (expired ones too: the caller decides)."""
        try:
            cur = self._db.execute("SELECT context, id, state, tomcat_version, last_accessed, max_inactive, "
                                   "principal FROM sessions")
            for row in cur:
                yield StoredSession(row[0], row[1], bytes(row[2]), row[3], row[4], row[5], row[6])
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(f"{self.path}: the store is damaged ({exc}); {_RECOVER}") from exc

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM sessions").fetchone()[0])

    def purge_expired(self, now: int) -> int:
        with self._lock:
            try:
                self._begin()
                n = self._db.execute("DELETE FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= ?",
                                     (now,)).rowcount
            except sqlite3.DatabaseError as exc:
                self._fail(exc)
        self.commit()
        return int(n)

    def sessions_of_user(self, user: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in
                self._db.execute("SELECT context, id FROM sessions WHERE principal=?", (user,))]

    def check(self) -> None:
        """Raise StoreCorruptError unless SQLite's quick_check passes (done at open)."""
        try:
            rows = self._db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(f"{self.path}: the store is damaged ({exc}); {_RECOVER}") from exc
        if rows != [("ok",)]:
            detail = "; ".join(str(r[0]) for r in rows[:3])
            raise StoreCorruptError(f"{self.path}: the store is damaged ({detail}); {_RECOVER}")

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.path.getsize(self.path + suffix)
            except OSError:
                pass
        return total

    def close(self) -> None:
        with self._lock:
            self._rollback_locked()
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError:
                pass
            self._db.close()


def put_all(store: SessionStore, sessions: Iterable[StoredSession]) -> int:
    """Write and commit many sessions (tests, imports); returns how many."""
    n = 0
    for s in sessions:
        store.put(s)
        n += 1
    store.commit()
    return n
