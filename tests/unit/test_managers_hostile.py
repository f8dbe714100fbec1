"""DeltaManager under hostile or broken input (issue 19, defects 8 and 9), sans-I/O, through real
message bytes: a message applied entirely or not at all, renames that never overwrite, the held
early-delta window bounded and expired without scanning every entry, and rate-limited log lines.
"""
from __future__ import annotations

import logging
from typing import Any

import pytest

from tribes.javaser import JavaDouble, JavaInteger, ObjectOutputStream
from tribes.managers.delta_manager import DeltaManager, DeltaManagerConfig
from tribes.managers.delta_request import (ACTION_SET, NAME_MAXINTERVAL, TYPE_MAXINTERVAL, DeltaRequest,
                                           DeltaRequestError)
from tribes.managers.session_message import (EVT_CHANGE_SESSION_ID, EVT_SESSION_CREATED, EVT_SESSION_DELTA,
                                             SessionMessage)

CTX = "localhost#/app"
T0 = 1_700_000_000_000


def mgr(**cfg: Any) -> DeltaManager:
    dm = DeltaManager(CTX, DeltaManagerConfig(**cfg), jvm_route="py1")
    dm.has_members = True
    return dm


def wired(msg: SessionMessage) -> SessionMessage:
    return SessionMessage.decode(msg.encode())


def created(sid: str) -> SessionMessage:
    m = SessionMessage(EVT_SESSION_CREATED, CTX, sid, None, f"{sid}-c")
    m.set_timestamp(T0)
    return wired(m)


def delta(sid: str, dr: DeltaRequest) -> SessionMessage:
    dr.session_id = sid
    m = SessionMessage(EVT_SESSION_DELTA, CTX, sid, dr.serialize(), f"{sid}-d")
    m.set_timestamp(T0)
    return wired(m)


def rename(old: str, new: str) -> SessionMessage:
    out = ObjectOutputStream()
    out.write_utf(new)
    m = SessionMessage(EVT_CHANGE_SESSION_ID, CTX, old, out.getvalue(), f"{old}-r")
    m.set_timestamp(T0)
    return wired(m)


def test_delta_with_infinite_max_inactive_interval_is_not_applied_at_all() -> None:
    dm = mgr()
    dm.handle(created("S1"), "A", T0)
    s = dm.sessions["S1"]
    s.attributes["kept"] = "old"
    before = (dict(s.attributes), s.max_inactive_interval, s.is_new)
    dr = DeltaRequest()
    dr.set_attribute("kept", "new")                 # applied first in Tomcat, and left applied
    dr.set_attribute("added", JavaInteger(5))
    dr.add_action(TYPE_MAXINTERVAL, ACTION_SET, NAME_MAXINTERVAL, JavaDouble(float("inf")))
    dm.handle(delta("S1", dr), "A", T0 + 10)        # no exception escapes (the old code: OverflowError)
    assert (dict(s.attributes), s.max_inactive_interval, s.is_new) == before
    assert dm.dropped_messages == 1
    good = DeltaRequest()
    good.set_attribute("kept", "newer")
    dm.handle(delta("S1", good), "A", T0 + 20)      # the session still works
    assert s.attributes["kept"] == "newer"


def test_execute_rolls_back_on_any_failure() -> None:
    dm = mgr()
    dm.handle(created("S1"), "A", T0)
    s = dm.sessions["S1"]
    dr = DeltaRequest("S1")
    dr.set_attribute("a", "1")
    dr.add_action(TYPE_MAXINTERVAL, ACTION_SET, NAME_MAXINTERVAL, "not a number")
    with pytest.raises(DeltaRequestError, match="not applied"):
        dr.execute(s, False, T0)
    assert "a" not in s.attributes


def test_rename_never_overwrites_an_existing_session() -> None:
    dm = mgr()
    dm.handle(created("A1"), "A", T0)
    dm.handle(created("B1"), "A", T0)
    a, b = dm.sessions["A1"], dm.sessions["B1"]
    b.attributes["owner"] = "bob"
    dm.handle(rename("A1", "B1"), "A", T0 + 1)
    assert dm.sessions["B1"] is b and b.attributes == {"owner": "bob"}
    assert dm.sessions["A1"] is a
    assert dm.dropped_messages == 1
    with pytest.raises(ValueError, match="exists"):
        dm.change_session_id(a, "B1", T0 + 2)        # the local API refuses too
    dm.handle(rename("A1", "C1"), "A", T0 + 3)       # a rename to a free id still works
    assert dm.sessions["C1"] is a and "A1" not in dm.sessions


class _CountingDict(dict):  # type: ignore[type-arg]
    """Counts the entries handed out by items() (the old expiry walked every held entry)."""

    visited = 0

    def items(self) -> Any:
        for kv in super().items():
            _CountingDict.visited += 1
            yield kv


def test_held_window_expiry_does_not_scan_every_entry() -> None:
    dm = mgr(reorder_window=60_000, max_held_messages=100_000)
    dm.pending = _CountingDict()
    held = 3000
    for i in range(held):
        dm.handle(delta(f"U{i}", DeltaRequest()), "A", T0 + i)
    assert dm.held_count == held
    _CountingDict.visited = 0
    more = 300
    for i in range(more):
        dm.handle(delta(f"V{i}", DeltaRequest()), "A", T0 + held + i)
    # the old code visited every held entry for every message: > 900,000 here
    assert _CountingDict.visited < 5 * more, _CountingDict.visited
    n = dm.expire_pending(T0 + 60_000 + 1000)       # the first 1,001 are past the window
    assert n == 1001 and dm.held_count == held + more - 1001


def test_held_window_is_bounded() -> None:
    dm = mgr(reorder_window=60_000, max_held_messages=100)
    for i in range(250):
        dm.handle(delta(f"U{i}", DeltaRequest()), "A", T0 + i)
    assert dm.held_count == 100 and sum(len(v) for v in dm.pending.values()) == 100
    assert "U0" not in dm.pending and "U249" in dm.pending      # the oldest went first
    dm.handle(created("U249"), "A", T0 + 300)                   # held messages still replay
    assert dm.held_count == 99


def test_junk_is_logged_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    dm = mgr()
    dm.handle(created("S1"), "A", T0)
    bad = DeltaRequest()
    bad.add_action(TYPE_MAXINTERVAL, ACTION_SET, NAME_MAXINTERVAL, JavaDouble(float("inf")))
    junk = SessionMessage(99, CTX, "S1", None, "x")
    with caplog.at_level(logging.INFO, logger="tribes.managers"):
        for i in range(500):
            dm.handle(delta("S1", bad), "A", T0 + i)
            dm.handle(junk, "A", T0 + i)
    assert dm.dropped_messages == 1000
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert 1 <= len(lines) <= 4, [r.getMessage() for r in lines]   # the old code: 1,000 lines
