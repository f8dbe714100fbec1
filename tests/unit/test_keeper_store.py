"""The keeper's SQLite store and its load/flush logic, without a network (SessionKeeper on a stub channel)."""
from __future__ import annotations

import asyncio
import os
import sqlite3
from typing import Any

import pytest

from tribes.javaser import JavaInteger
from tribes.keeper.keeper import SessionKeeper, stored_session
from tribes.keeper.store import SqliteStore, StoreCorruptError, StoredSession, StoreFullError
from tribes.managers.principal import Principal
from tribes.managers.session_state import SessionState, read_sessions

from tests.unit.keeper_stub import StubChannel


def _state(sid: str, last: int, max_inactive: int = 1800, user: str | None = None) -> SessionState:
    st = SessionState(sid, creation_time=last - 1000, last_accessed_time=last, max_inactive_interval=max_inactive,
                      this_accessed_time=last)
    st.attributes = {"cart": ["book", "pen"], "n": JavaInteger(7)}
    if user:
        st.principal = Principal(user, ["shopper"])
    return st


def test_put_commit_reopen_and_principal_index(tmp_path: Any) -> None:
    path = str(tmp_path / "s.db")
    store = SqliteStore(path)
    now = 1_700_000_000_000
    store.put(stored_session("localhost#/app", _state("A" * 32 + ".t1", now, user="alice"), "10.1"))
    store.put(stored_session("localhost#/app", _state("B" * 32 + ".t1", now), "10.1"))
    store.commit()
    store.close()
    again = SqliteStore(path)
    rows = {r.id: r for r in again.load()}
    assert set(rows) == {"A" * 32 + ".t1", "B" * 32 + ".t1"}
    st = read_sessions(rows["A" * 32 + ".t1"].state)[0]
    assert st.attributes["n"] == 7 and isinstance(st.attributes["n"], JavaInteger)
    assert st.principal.name == "alice"
    assert again.sessions_of_user("alice") == [("localhost#/app", "A" * 32 + ".t1")]
    again.close()


def test_uncommitted_batch_is_not_durable(tmp_path: Any) -> None:
    path = str(tmp_path / "s.db")
    store = SqliteStore(path)
    store.put(StoredSession("c", "X", b"\x00", "10.1", 1, 60))
    # a second connection (another process after a crash) sees nothing until the commit
    other = sqlite3.connect(path)
    assert other.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    store.commit()
    assert other.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
    other.close()
    store.close()


def test_rename_never_overwrites(tmp_path: Any) -> None:
    store = SqliteStore(str(tmp_path / "s.db"))
    store.put(StoredSession("c", "old", b"1", "10.1", 1, 60))
    store.put(StoredSession("c", "taken", b"2", "10.1", 1, 60))
    store.commit()
    store.rename("c", "old", "taken")
    store.commit()
    rows = {r.id: r.state for r in store.load()}
    assert rows == {"taken": b"2"}
    store.close()


def test_purge_expired(tmp_path: Any) -> None:
    store = SqliteStore(str(tmp_path / "s.db"))
    store.put(StoredSession("c", "short", b"1", "10.1", 1_000, 1))       # expires at 2_000
    store.put(StoredSession("c", "never", b"2", "10.1", 1_000, -1))
    store.put(StoredSession("c", "long", b"3", "10.1", 1_000, 3600))
    store.commit()
    assert store.purge_expired(10_000) == 1
    assert {r.id for r in store.load()} == {"never", "long"}
    store.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_store_is_refused_with_recovery_advice(tmp_path: Any, damage: str) -> None:
    path = str(tmp_path / "s.db")
    store = SqliteStore(path)
    for i in range(300):
        store.put(StoredSession("c", f"id{i}", os.urandom(300), "10.1", 1, 60))
    store.commit()
    store.close()
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        if damage == "garbage":
            f.seek(4096 + 100)
            f.write(os.urandom(8192))
        else:
            f.truncate(size // 2)
    with pytest.raises(StoreCorruptError, match="move the damaged file aside"):
        s = SqliteStore(path)
        list(s.load())


def test_full_disk_is_an_error_and_nothing_half_written(tmp_path: Any) -> None:
    path = str(tmp_path / "s.db")
    store = SqliteStore(path)
    store.put(StoredSession("c", "first", b"x" * 100, "10.1", 1, 60))
    store.commit()
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count={pages + 2}")   # SQLITE_FULL, as on a full file system
    with pytest.raises(StoreFullError, match="disk full"):
        for i in range(50):
            store.put(StoredSession("c", f"big{i}", os.urandom(4000), "10.1", 1, 60))
        store.commit()
    assert {r.id for r in store.load()} == {"first"}
    store.close()


def test_keeper_loads_store_skips_expired_and_keeps_idle_clock(tmp_path: Any) -> None:
    import time
    path = str(tmp_path / "s.db")
    store = SqliteStore(path)
    now = int(time.time() * 1000)
    live = _state("C" * 32 + ".t1", now - 60_000, 1800, user="alice")
    dead = _state("D" * 32 + ".t1", now - 120_000, 60)
    store.put(stored_session("localhost#/app", live, "10.1"))
    store.put(stored_session("localhost#/app", dead, "10.1"))
    store.commit()
    keeper = SessionKeeper(StubChannel(), store)
    assert keeper.load() == 1
    dm = keeper.managers["localhost#/app"]
    s = dm.sessions["C" * 32 + ".t1"]
    assert s.last_accessed_time == now - 60_000          # not given a fresh interval
    assert s.principal.name == "alice" and s.attributes["cart"] == ["book", "pen"]
    assert {r.id for r in store.load()} == {"C" * 32 + ".t1"}   # the expired one is gone from disk too
    assert keeper.stats.skipped_expired == 1
    store.close()


def test_keeper_flush_persists_changes_and_deletions(tmp_path: Any) -> None:
    async def run() -> None:
        store = SqliteStore(str(tmp_path / "s.db"))
        keeper = SessionKeeper(StubChannel(), store, async_delay=0.01)
        await keeper.start()
        app = keeper.manager("/app")
        await asyncio.sleep(0.05)                     # its (empty) state transfer runs first
        app.delta_manager.has_members = True          # local changes leave as messages (to no one here)
        s = app.create_session({"cart": ["a"]})
        await keeper.durable()
        rows = {r.id: r for r in store.load()}
        assert s.id in rows
        assert read_sessions(rows[s.id].state)[0].attributes["cart"] == ["a"]
        with app.request(s.id) as sess:
            sess.set_attribute("cart", ["a", "b"])
        await keeper.durable()
        assert read_sessions({r.id: r for r in store.load()}[s.id].state)[0].attributes["cart"] == ["a", "b"]
        app.invalidate(s.id)
        await keeper.durable()
        assert [r.id for r in store.load()] == []
        await keeper.stop()
        store.close()
    asyncio.run(run())


def test_keeper_failed_commit_fails_the_waiters_and_retries(tmp_path: Any) -> None:
    async def run() -> None:
        store = SqliteStore(str(tmp_path / "s.db"))
        keeper = SessionKeeper(StubChannel(), store, async_delay=0.01)
        await keeper.start()
        app = keeper.manager("/app")
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count={pages}")
        app.create_session({"blob": os.urandom(20000)})
        with pytest.raises(StoreFullError):
            await keeper.durable()
        assert keeper.stats.failed_commits >= 1
        store._db.execute("PRAGMA max_page_count=1073741823")
        await keeper.durable()                       # the change was kept dirty and now lands
        assert store.count() == 1
        await keeper.stop()
        store.close()
    asyncio.run(run())


def test_cli_refuses_a_damaged_store_with_recovery_advice(tmp_path: Any) -> None:
    """`tribes keeper` on a damaged store exits 3 before joining anything, and says how to recover."""
    import subprocess
    import sys
    path = str(tmp_path / "s.db")
    store = SqliteStore(path)
    for i in range(300):
        store.put(StoredSession("c", f"id{i}", os.urandom(300), "10.1", 1, 60))
    store.commit()
    store.close()
    with open(path, "r+b") as f:
        f.seek(4096 + 100)
        f.write(os.urandom(8192))
    res = subprocess.run([sys.executable, "-m", "tribes.cli.main", "keeper", "--bind", "127.0.0.1", "--store", path,
                          "--duration", "1"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 3, (res.returncode, res.stderr[-500:])
    assert "damaged" in res.stderr and "move the damaged file aside" in res.stderr
