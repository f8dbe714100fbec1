"""Duplicate-login prevention and forced logout on a SessionKeeper (stub channel, no network)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.unit.keeper_stub import StubChannel
from tribes.keeper.keeper import SessionKeeper
from tribes.keeper.logins import LoginPolicy, force_logout
from tribes.keeper.store import SqliteStore
from tribes.managers.principal import Principal


async def _keeper(tmp_path: Any, policy: LoginPolicy | None) -> SessionKeeper:
    store = SqliteStore(str(tmp_path / "s.db"))
    keeper = SessionKeeper(StubChannel(), store, async_delay=0.01,
                           login_policies={"/app": policy} if policy else None)
    await keeper.start()
    keeper.manager("/app")
    keeper.manager("/other")
    await asyncio.sleep(0.05)
    for dm in keeper.managers.values():
        dm.has_members = True
    return keeper


def _login(keeper: SessionKeeper, path: str, user: str) -> str:
    ctx = keeper.manager(path)
    s = ctx.create_session({"cart": ["x"]})
    assert s.id is not None
    with ctx.request(s.id) as sess:
        sess.set_principal(Principal(user, ["shopper"]))
    return s.id


@pytest.mark.parametrize("policy,survivor", [("newest-wins", "second"), ("oldest-wins", "first")])
def test_one_login_per_user(tmp_path: Any, policy: str, survivor: str) -> None:
    async def run() -> None:
        keeper = await _keeper(tmp_path, LoginPolicy(1, policy, frozenset({"bob"})))
        first = _login(keeper, "/app", "alice")
        await asyncio.sleep(0.02)
        second = _login(keeper, "/app", "alice")
        await asyncio.sleep(0.05)
        app = keeper.managers["localhost#/app"]
        alive = {"first": first, "second": second}
        assert set(app.sessions) == {alive[survivor]}
        assert keeper.logins.acted == 1
        # exempt users and other contexts are untouched
        b1, b2 = _login(keeper, "/app", "bob"), _login(keeper, "/app", "bob")
        o1, o2 = _login(keeper, "/other", "alice"), _login(keeper, "/other", "alice")
        await asyncio.sleep(0.05)
        assert {b1, b2} <= set(app.sessions)
        assert {o1, o2} <= set(keeper.managers["localhost#/other"].sessions)
        assert keeper.logins.users() == {"alice": 3, "bob": 2}
        await keeper.stop()
    asyncio.run(run())


def test_policy_off_by_default(tmp_path: Any) -> None:
    async def run() -> None:
        keeper = await _keeper(tmp_path, None)
        a, b = _login(keeper, "/app", "alice"), _login(keeper, "/app", "alice")
        await asyncio.sleep(0.05)
        assert {a, b} <= set(keeper.managers["localhost#/app"].sessions)
        assert keeper.logins.acted == 0
        await keeper.stop()
    asyncio.run(run())


def test_force_logout_every_context_or_one(tmp_path: Any) -> None:
    async def run() -> None:
        keeper = await _keeper(tmp_path, None)
        a1, a2 = _login(keeper, "/app", "alice"), _login(keeper, "/other", "alice")
        b = _login(keeper, "/app", "bob")
        gone = force_logout(keeper, "alice", ["localhost#/other"])
        assert gone == [("localhost#/other", a2)]
        gone = force_logout(keeper, "alice")
        assert gone == [("localhost#/app", a1)]
        assert set(keeper.managers["localhost#/app"].sessions) == {b}
        await keeper.durable()
        assert {r.id for r in keeper.store.load()} == {b}      # the logouts are persisted too
        await keeper.stop()
    asyncio.run(run())


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="newest-wins"):
        LoginPolicy(1, "random")


def test_route_rename_keeps_the_login_time(tmp_path: Any) -> None:
    """JvmRouteBinderValve renames ID.tomcat1 to ID.tomcat2 on failover: still the oldest login."""
    async def run() -> None:
        keeper = await _keeper(tmp_path, LoginPolicy(2, "newest-wins"))
        a = _login(keeper, "/app", "alice")
        await asyncio.sleep(0.01)
        b = _login(keeper, "/app", "alice")
        await asyncio.sleep(0.01)
        ctx = keeper.manager("/app")
        renamed = ctx.change_session_id(a, a.split(".")[0] + ".tomcat2")
        await asyncio.sleep(0.01)
        c = _login(keeper, "/app", "alice")
        await asyncio.sleep(0.05)
        assert set(keeper.managers["localhost#/app"].sessions) == {b, c}, renamed
        await keeper.stop()
    asyncio.run(run())
