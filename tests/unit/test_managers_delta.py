"""The sans-I/O DeltaManager: Tomcat's rules, checked by wiring managers to each other in memory."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tribes.javaser import JavaInteger, JavaObject, ObjectOutputStream
from tribes.managers.delta_manager import (DeltaManager, DeltaManagerConfig, Send, SessionEvent,
                                           TooManyActiveSessionsException)
from tribes.managers.delta_request import DeltaRequest, TYPE_ATTRIBUTE, TYPE_ISNEW, TYPE_MAXINTERVAL
from tribes.managers.principal import Principal
from tribes.managers.session_message import (EVT_ALL_SESSION_DATA, EVT_ALL_SESSION_NOCONTEXTMANAGER,
                                             EVT_ALL_SESSION_TRANSFERCOMPLETE, EVT_CHANGE_SESSION_ID,
                                             EVT_GET_ALL_SESSIONS, EVT_SESSION_ACCESSED, EVT_SESSION_CREATED,
                                             EVT_SESSION_DELTA, EVT_SESSION_EXPIRED, SessionMessage)
from tribes.managers.session_state import read_sessions

CTX = "localhost#/app"
T0 = 1_700_000_000_000


def wire(msgs: list[Send]) -> list[Send]:
    """Every message through real bytes, as the channel would carry it."""
    return [Send(SessionMessage.decode(s.materialize().encode()), s.destination, s.options, s.delay) for s in msgs]


def mgr(route: str = "py1", **cfg: Any) -> DeltaManager:
    dm = DeltaManager(CTX, DeltaManagerConfig(**cfg), jvm_route=route)
    dm.has_members = True
    return dm


def deliver(out: list[Send], to: DeltaManager, now: int, sender: str = "A") -> list[Send]:
    replies: list[Send] = []
    for s in wire(out):
        replies += to.handle(s.message, sender, now)
    return replies


def test_create_session_sends_created_then_delta() -> None:
    a = mgr()
    s = a.create_session(T0)
    assert s.id and s.id.endswith(".py1") and len(s.id) == 32 + 4 and s.is_new and s.primary
    s.set_attribute("n", JavaInteger(7))
    a.end_request(s.id, T0 + 5)
    out = a.take_outgoing()
    assert [m.message.event_type for m in out] == [EVT_SESSION_CREATED, EVT_SESSION_DELTA]
    created, delta = out[0].message, out[1].message
    assert created.timestamp == T0 and created.session_id == s.id and created.unique_id == f"{s.id}-{T0}"
    assert delta.timestamp == T0 + 5 and all(m.destination is None for m in out)
    assert out[0].options == 6 and out[1].options is None    # ordered_creation: CREATED is acked first
    t = mgr(ordered_creation=False)
    t.create_session(T0)
    assert t.take_outgoing()[0].options is None              # Tomcat: channelSendOptions
    dr = DeltaRequest.deserialize(delta.session)
    assert [(x.type, x.name, x.value) for x in dr.actions] == [
        (TYPE_ISNEW, "__SET__ISNEW__", True), (TYPE_MAXINTERVAL, "__SET__MAXINTERVAL__", 1800),
        (TYPE_ATTRIBUTE, "n", 7)]
    assert not s.is_new   # endAccess, without a delta
    a.end_request(s.id, T0 + 6)
    assert a.take_outgoing() == []          # nothing changed, primary here: no message


def test_no_members_no_messages() -> None:
    a = mgr()
    a.has_members = False
    s = a.create_session(T0)
    s.set_attribute("x", "y")
    a.end_request(s.id, T0)
    a.invalidate(s, T0)
    assert a.take_outgoing() == []


def test_replication_both_ways_and_events() -> None:
    a, b = mgr("py1"), mgr("py2")
    events: list[SessionEvent] = []
    b.add_listener(events.append)
    s = a.create_session(T0)
    s.set_attribute("name", "alice")
    s.set_principal(Principal("alice", ["tribes"]))
    s.set_auth_type("FORM")
    a.end_request(s.id, T0 + 1)
    deliver(a.take_outgoing(), b, T0 + 2)
    bs = b.find_session(s.id)
    assert bs is not None and not bs.primary and bs.creation_time == T0
    assert bs.attributes == {"name": "alice"} and bs.principal.name == "alice" and bs.auth_type == "FORM"
    assert [e.kind for e in events] == ["created", "attribute_added"] and all(e.replicated for e in events)
    # b changes it: a gets the delta and the session becomes primary on b
    with_b = b.find_session(s.id)
    with_b.set_attribute("name", "bob")
    with_b.remove_attribute("missing")          # no-op: not recorded
    b.end_request(s.id, T0 + 10)
    out = b.take_outgoing()
    assert [m.message.event_type for m in out] == [EVT_SESSION_DELTA] and with_b.primary
    deliver(out, a, T0 + 11)
    assert s.attributes == {"name": "bob"} and not s.primary
    # a request on a non-primary session with no change sends ACCESSED
    a.end_request(s.id, T0 + 20)
    out = a.take_outgoing()
    assert [m.message.event_type for m in out] == [EVT_SESSION_ACCESSED] and s.primary
    deliver(out, b, T0 + 21)
    assert not b.find_session(s.id).primary and b.find_session(s.id).this_accessed_time == T0 + 21
    # invalidate on b: expired everywhere
    b.invalidate(s.id, T0 + 30)
    out = b.take_outgoing()
    assert [m.message.event_type for m in out] == [EVT_SESSION_EXPIRED]
    assert out[0].message.unique_id == f"{s.id}-EXPIRED-MSG"
    deliver(out, a, T0 + 31)
    assert a.find_session(s.id) is None and b.find_session(s.id) is None


def test_invalidate_sends_pending_delta_first() -> None:
    a = mgr()
    s = a.create_session(T0)
    a.end_request(s.id, T0)
    a.take_outgoing()
    s.set_attribute("late", "x")
    a.invalidate(s, T0 + 1)
    assert [m.message.event_type for m in a.take_outgoing()] == [EVT_SESSION_DELTA, EVT_SESSION_EXPIRED]


def test_expiry_primary_at_max_backup_at_twice() -> None:
    a, b = mgr(), mgr("py2")
    s = a.create_session(T0)
    s.set_max_inactive_interval(10)
    a.end_request(s.id, T0)
    deliver(a.take_outgoing(), b, T0)
    assert b.find_session(s.id).max_inactive_interval == 10
    assert a.process_expires(T0 + 9_999) == 0 and b.process_expires(T0 + 19_999) == 0
    assert a.process_expires(T0 + 10_000) == 1
    out = a.take_outgoing()
    assert [m.message.event_type for m in out] == [EVT_SESSION_EXPIRED]
    assert b.process_expires(T0 + 10_000) == 0           # backup: 2 x max
    b2 = mgr("py3")
    deliver([Send(SessionMessage(EVT_SESSION_CREATED, CTX, "Z.x", None, "u", T0))], b2, T0)
    b2.find_session("Z.x").max_inactive_interval = 10
    assert b2.process_expires(T0 + 19_999) == 0 and b2.process_expires(T0 + 20_000) == 1
    assert b2.take_outgoing() == []                     # backup expiry is not replicated
    deliver(out, b, T0 + 10_001)
    assert b.find_session(s.id) is None


def test_created_uses_receivers_timeout_and_message_timestamp() -> None:
    b = mgr(session_timeout=5)
    b.handle(SessionMessage(EVT_SESSION_CREATED, CTX, "ABC.tomcat1", None, "ABC.tomcat1-1", T0), "A", T0 + 50)
    s = b.find_session("ABC.tomcat1")
    assert s.creation_time == T0 and s.max_inactive_interval == 300 and s.this_accessed_time == T0 + 50
    assert not s.primary and not s.is_new


def test_change_session_id_both_ways() -> None:
    a, b = mgr(), mgr("tomcat2")
    s = a.create_session(T0)
    a.end_request(s.id, T0)
    deliver(a.take_outgoing(), b, T0)
    old = s.id
    new = old.split(".")[0] + ".tomcat2"
    b.change_session_id(b.find_session(old), new, T0 + 1)
    out = b.take_outgoing()
    assert [m.message.event_type for m in out] == [EVT_CHANGE_SESSION_ID]
    m = out[0].message
    assert m.session_id == old and m.unique_id.startswith(old + "-")
    expect = ObjectOutputStream()
    expect.write_utf(new)
    assert m.session == expect.getvalue()
    events: list[SessionEvent] = []
    a.add_listener(events.append)
    deliver(out, a, T0 + 2)
    assert a.find_session(old) is None and a.find_session(new) is s and s.id == new and not s.primary
    assert events[-1].kind == "id_changed" and events[-1].old_id == old
    s.set_attribute("after", "rename")
    a.end_request(new, T0 + 3)
    delta = a.take_outgoing()[0].message
    assert delta.session_id == new and DeltaRequest.deserialize(delta.session).session_id == new


def test_state_transfer_queue_and_timestamp_drop() -> None:
    src, dst = mgr("tomcat1"), mgr("py1")
    for i in range(3):
        s = src.create_session(T0 + i)
        s.set_attribute("i", JavaInteger(i))
        src.end_request(s.id, T0 + i)
    src.take_outgoing()
    assert dst.start(["A"], T0 + 100)
    out = dst.take_outgoing()
    assert len(out) == 1 and out[0].destination == "A" and out[0].options == 8
    get_all = out[0].message
    assert get_all.event_type == EVT_GET_ALL_SESSIONS and get_all.session_id == "GET-ALL"
    assert get_all.unique_id == f"GET-ALL-{CTX}" and get_all.timestamp == T0 + 100
    # while waiting: a stale create (before the snapshot) and a fresh one, and a GET_ALL from a third node
    dst.handle(SessionMessage(EVT_SESSION_CREATED, CTX, "OLD.t", None, "u", T0 + 150), "A", T0 + 150)
    dst.handle(SessionMessage(EVT_SESSION_CREATED, CTX, "NEW.t", None, "u", T0 + 400), "A", T0 + 400)
    dst.handle(SessionMessage(EVT_GET_ALL_SESSIONS, CTX, "GET-ALL", None, "x", T0 + 160), "C", T0 + 160)
    assert len(dst.received_queue) == 3 and not dst.sessions
    assert dst.state_transfer_pending(T0 + 200)
    replies = deliver(out, src, T0 + 300, sender="B")
    assert [(r.message.event_type, r.options, r.destination) for r in replies] == [
        (EVT_ALL_SESSION_DATA, 6, "B"), (EVT_ALL_SESSION_TRANSFERCOMPLETE, None, "B")]
    data, done = replies[0].message, replies[1].message
    assert data.session_id == "SESSION-STATE" and data.unique_id == f"SESSION-STATE-{CTX}" and data.timestamp == T0 + 300
    assert done.unique_id == f"SESSION-STATE-TRANSFERRED{CTX}" and done.timestamp == T0 + 300
    deliver(replies, dst, T0 + 500)
    assert not dst.state_transfer_pending(T0 + 500)
    assert dst.finish_state_transfer(T0 + 500) == "transferred"
    assert "OLD.t" not in dst.sessions and "NEW.t" in dst.sessions and dst.dropped_messages == 1
    assert sorted(int(s.attributes["i"]) for s in dst.sessions.values() if "i" in s.attributes) == [0, 1, 2]
    assert all(not s.primary for s in dst.sessions.values())
    answer = wire(dst.take_outgoing())     # the queued GET_ALL is answered, not dropped
    assert [(r.message.event_type, r.destination) for r in answer] == [
        (EVT_ALL_SESSION_DATA, "C"), (EVT_ALL_SESSION_TRANSFERCOMPLETE, "C")]
    assert len(read_sessions(answer[0].message.session)) == 4


def test_state_transfer_without_drop_replays_everything() -> None:
    dst = mgr(state_timestamp_drop=False)
    dst.start(["A"], T0)
    dst.handle(SessionMessage(EVT_SESSION_CREATED, CTX, "OLD.t", None, "u", T0 - 5), "A", T0)
    dst.handle(SessionMessage(EVT_ALL_SESSION_TRANSFERCOMPLETE, CTX, "x", None, "u", T0 + 10), "A", T0 + 10)
    assert dst.finish_state_transfer(T0 + 10) == "transferred" and "OLD.t" in dst.sessions


def test_state_transfer_timeout_and_no_context_manager() -> None:
    dst = mgr(state_transfer_timeout=2)
    dst.start(["A"], T0)
    assert dst.state_transfer_pending(T0 + 1999) and not dst.state_transfer_pending(T0 + 2000)
    assert dst.finish_state_transfer(T0 + 2000) == "timeout" and dst.stats.get("no_state_transferred") == 1
    d2 = mgr()
    d2.start(["A"], T0)
    d2.handle(SessionMessage(EVT_ALL_SESSION_NOCONTEXTMANAGER, CTX, "NO-CONTEXT-MANAGER", None, "x"), "A", T0 + 5)
    assert not d2.state_transfer_pending(T0 + 5) and d2.finish_state_transfer(T0 + 5) == "nocontextmanager"
    d3 = mgr(state_transfer_timeout=0)
    d3.start(["A"], T0)
    assert not d3.state_transfer_pending(T0)
    d4 = mgr(state_transfer_timeout=-1)
    d4.start(["A"], T0)
    assert d4.state_transfer_pending(T0 + 10**9)
    assert not mgr().start([], T0)


def test_serving_empty_and_chunked() -> None:
    src = mgr()
    out = src.handle(SessionMessage(EVT_GET_ALL_SESSIONS, CTX, "GET-ALL", None, "x", T0), "B", T0)
    assert [r.message.event_type for r in out] == [EVT_ALL_SESSION_DATA, EVT_ALL_SESSION_TRANSFERCOMPLETE]
    assert read_sessions(out[0].materialize().session) == []   # count 0, still sent
    ch = mgr(send_all_sessions=False, send_all_sessions_size=2, send_all_sessions_wait_time=1500)
    assert [r.message.event_type for r in ch.handle(
        SessionMessage(EVT_GET_ALL_SESSIONS, CTX, "GET-ALL", None, "x", T0), "B", T0)] == [
        EVT_ALL_SESSION_TRANSFERCOMPLETE]   # chunked and empty: no DATA at all (as Tomcat)
    for i in range(5):
        ch.create_session(T0)
    ch.take_outgoing()
    out = ch.handle(SessionMessage(EVT_GET_ALL_SESSIONS, CTX, "GET-ALL", None, "x", T0), "B", T0 + 1)
    assert [(r.message.event_type, r.delay, r.options) for r in out] == [
        (12, 0.0, 6), (12, 1.5, 6), (12, 1.5, 6), (14, 0.0, None)]
    dst = mgr()
    dst.start(["B"], T0)
    deliver(out, dst, T0 + 2)
    assert dst.finish_state_transfer(T0 + 2) == "transferred" and len(dst.sessions) == 5


def test_bad_input_is_dropped_and_other_sessions_survive(caplog: pytest.LogCaptureFixture) -> None:
    b = mgr()
    b.handle(SessionMessage(EVT_SESSION_CREATED, CTX, "KEEP.t", None, "u", T0), "A", T0)
    keep = b.find_session("KEEP.t")
    d = DeltaRequest("KEEP.t")
    d.set_attribute("a", "1")
    b.handle(SessionMessage(EVT_SESSION_DELTA, CTX, "KEEP.t", d.serialize(), "u", T0), "A", T0)
    with caplog.at_level(logging.WARNING, logger="tribes.managers"):
        b.handle(SessionMessage(EVT_SESSION_DELTA, CTX, "KEEP.t", b"\xac\xed\x00\x05\x77\x02\x00", "u", T0), "A", T0)
        b.handle(SessionMessage(99, CTX, "KEEP.t", None, "u", T0), "A", T0)
        b.handle(SessionMessage(EVT_ALL_SESSION_DATA, CTX, "SESSION-STATE", b"garbage", "u", T0), "A", T0)
        other = DeltaRequest("OTHER.t")
        b.handle(SessionMessage(EVT_SESSION_DELTA, CTX, "KEEP.t", other.serialize(), "u", T0), "A", T0)
        b.handle(SessionMessage(EVT_CHANGE_SESSION_ID, CTX, "KEEP.t", b"\x01", "u", T0), "A", T0)
    assert b.dropped_messages == 5
    assert b.find_session("KEEP.t") is keep and keep.attributes == {"a": "1"}
    text = caplog.text
    assert "unknown event type 99" in text and "corrupt DeltaRequest" in text and "corrupt session stream" in text
    # a delta for an unknown session is held for reorder_window ms, then dropped quietly (Tomcat: at once)
    b.handle(SessionMessage(EVT_SESSION_DELTA, CTX, "NOPE", d.serialize(), "u", T0), "A", T0)
    assert b.stats.get("held_for_unknown_session") == 1 and "NOPE" in b.pending
    b.process_expires(T0 + 5000)
    assert b.stats.get("delta_unknown_session") == 1 and not b.pending and "NOPE" not in b.sessions
    t = mgr(reorder_window=0)
    t.handle(SessionMessage(EVT_SESSION_DELTA, CTX, "NOPE", d.serialize(), "u", T0), "A", T0)
    assert not t.pending and t.stats.get("delta_unknown_session") == 1


def test_max_active_sessions_and_filters() -> None:
    a = mgr(max_active_sessions=1)
    a.create_session(T0)
    with pytest.raises(TooManyActiveSessionsException):
        a.create_session(T0)
    assert a.rejected_sessions == 1
    f = mgr(session_attribute_name_filter="keep.*", session_attribute_value_class_name_filter=r"java\.lang\..*")
    s = f.create_session(T0)
    s.set_attribute("keep1", "ok")
    s.set_attribute("drop", "not replicated")
    s.set_attribute("keep2", b"\x01")          # byte[] is not java.lang.*
    f.end_request(s.id, T0)
    delta = [m for m in f.take_outgoing() if m.message.event_type == EVT_SESSION_DELTA][0]
    names = [x.name for x in DeltaRequest.deserialize(delta.message.session).actions]
    assert names == ["__SET__ISNEW__", "__SET__MAXINTERVAL__", "keep1"]
    assert set(s.attributes) == {"keep1", "drop", "keep2"}      # local copy keeps everything


def test_record_all_actions() -> None:
    a = mgr(record_all_actions=True)
    s = a.create_session(T0)
    s.set_attribute("x", "1")
    s.set_attribute("x", "2")
    a.end_request(s.id, T0)
    delta = [m for m in a.take_outgoing() if m.message.event_type == EVT_SESSION_DELTA][0].message
    dr = DeltaRequest.deserialize(delta.session)
    assert dr.record_all_actions and [x.value for x in dr.actions if x.name == "x"] == ["1", "2"]


def test_access_message_after_max_inactive_without_replication() -> None:
    a = mgr()
    s = a.create_session(T0)
    s.set_max_inactive_interval(2)
    a.end_request(s.id, T0)
    a.take_outgoing()
    a.end_request(s.id, T0 + 1000)
    assert a.take_outgoing() == []
    a.end_request(s.id, T0 + 2500)    # not replicated for more than max inactive: ACCESSED keeps backups alive
    assert [m.message.event_type for m in a.take_outgoing()] == [EVT_SESSION_ACCESSED]


def test_stop_expires_locally_and_replicates_only_when_configured() -> None:
    a = mgr()
    a.create_session(T0)
    a.take_outgoing()
    a.stop(T0)
    assert not a.sessions and a.take_outgoing() == []
    b = mgr(expire_sessions_on_shutdown=True)
    bs = b.create_session(T0)
    b.end_request(bs.id, T0)
    b.take_outgoing()
    b.stop(T0)
    assert [m.message.event_type for m in b.take_outgoing()] == [EVT_SESSION_EXPIRED]


def test_config_from_server_xml_attributes() -> None:
    c = DeltaManagerConfig.from_attributes({"className": "org.apache.catalina.ha.session.DeltaManager",
                                            "expireSessionsOnShutdown": "true", "stateTransferTimeout": "5",
                                            "sendAllSessions": "false", "maxActiveSessions": "10"})
    assert c.expire_sessions_on_shutdown and c.state_transfer_timeout == 5 and not c.send_all_sessions
    assert c.max_active_sessions == 10 and c.notify_listeners_on_replication and c.send_all_sessions_size == 1000
    with pytest.raises(ValueError, match="unknown DeltaManager attribute"):
        DeltaManagerConfig.from_attributes({"bogus": "1"})
    with pytest.raises(ValueError):
        DeltaManagerConfig(send_all_sessions_size=0)


# ------------------------------------------------------------------------------ cluster routing
class FakeChannel:
    def __init__(self) -> None:
        self.sent: list[tuple[list[Any], Any, int]] = []
        self.local_member = "ME"
        self._members = ["A", "B"]

    def add_channel_listener(self, l: Any) -> None: ...
    def add_membership_listener(self, l: Any) -> None: ...
    def members(self) -> list[Any]: return list(self._members)
    def interceptors(self) -> list[Any]: return []
    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def send(self, dests: list[Any], obj: Any, options: int) -> None:
        self.sent.append((dests, obj, options))


def test_context_names() -> None:
    from tribes.managers.cluster import context_name, context_path
    assert context_name("/app") == "localhost#/app" == context_name("app") == context_name("localhost#/app")
    assert context_name("/") == "localhost#" == context_name("") == context_name("localhost#") == context_name("ROOT")
    assert context_name("/app", container="Host") == "/app" and context_name("localhost#/app", container="Host") == "/app"
    assert context_path("localhost#") == "/" and context_path("localhost#/app") == "/app"


def test_cluster_routing_no_context_manager_and_ordered_sends() -> None:
    from tribes.managers.cluster import SimpleTcpCluster

    async def run() -> None:
        ch = FakeChannel()
        cl = SimpleTcpCluster(ch, jvm_route="py1")
        app = cl.manager("/app")
        root = cl.manager("/")
        await cl.start(state_transfer=False)
        get_all = SessionMessage(EVT_GET_ALL_SESSIONS, "localhost#/other", "GET-ALL", None, "x", T0)
        cl.message_received(get_all.to_java(), "B")
        cl.message_received(JavaObject.new(get_all.to_java().desc, {"mEvtType": 1}), "B")  # fields missing: ok, ignored
        s = app.create_session({"a": "b"})
        with app.request(s.id) as sess:
            sess.set_attribute("c", JavaInteger(3))
        r = root.create_session()
        assert app.invalidate(s.id) and not app.invalidate("nope")
        await cl.flush()
        kinds = [(SessionMessage.from_java(o).event_type, SessionMessage.from_java(o).context_name, d, opt)
                 for d, o, opt in ch.sent]
        assert kinds[0] == (EVT_ALL_SESSION_NOCONTEXTMANAGER, "localhost#/other", ["B"], 8)
        assert SessionMessage.from_java(ch.sent[0][1]).timestamp is None
        assert [k[:2] for k in kinds[1:]] == [
            (EVT_SESSION_CREATED, "localhost#/app"), (EVT_SESSION_DELTA, "localhost#/app"),
            (EVT_SESSION_DELTA, "localhost#/app"), (EVT_SESSION_CREATED, "localhost#"),
            (EVT_SESSION_DELTA, "localhost#"), (EVT_SESSION_EXPIRED, "localhost#/app")]
        assert all(k[2] == ["A", "B"] for k in kinds[1:])
        assert [k[3] for k in kinds[1:]] == [6, 8, 8, 6, 8, 8]
        assert cl.unknown_context_messages == 1 and r.id in root.session_ids()
        await cl.stop()
    asyncio.run(run())


def test_cluster_answers_get_all_for_known_context() -> None:
    from tribes.managers.cluster import SimpleTcpCluster

    async def run() -> None:
        ch = FakeChannel()
        cl = SimpleTcpCluster(ch)
        app = cl.manager("/app")
        await cl.start(state_transfer=False)
        app.create_session({"k": "v"})
        await cl.flush()
        ch.sent.clear()
        cl.message_received(SessionMessage(EVT_GET_ALL_SESSIONS, CTX, "GET-ALL", None, "x", T0).to_java(), "B")
        await cl.flush()
        got = [(SessionMessage.from_java(o).event_type, d, opt) for d, o, opt in ch.sent]
        assert got == [(EVT_ALL_SESSION_DATA, ["B"], 6), (EVT_ALL_SESSION_TRANSFERCOMPLETE, ["B"], 8)]
        assert len(read_sessions(SessionMessage.from_java(ch.sent[0][1]).session)) == 1
        await cl.stop()
    asyncio.run(run())


def test_reordered_async_messages_are_replayed_in_order() -> None:
    """Tomcat's async sends (thread pool) can overtake each other: a login's CHANGE_SESSION_ID and
    DELTA may arrive before the session's CREATED."""
    b = mgr()
    d = DeltaRequest("NEW.t1")
    d.set_principal(Principal("alice", ["tribes"]))
    d.set_auth_type("FORM")
    out = ObjectOutputStream()
    out.write_utf("NEW.t1")
    b.handle(SessionMessage(EVT_SESSION_DELTA, CTX, "NEW.t1", d.serialize(), "u", T0 + 3), "A", T0 + 3)
    b.handle(SessionMessage(EVT_CHANGE_SESSION_ID, CTX, "OLD.t1", out.getvalue(), "u", T0 + 2), "A", T0 + 4)
    assert not b.sessions
    b.handle(SessionMessage(EVT_SESSION_CREATED, CTX, "OLD.t1", None, "u", T0 + 1), "A", T0 + 5)
    assert list(b.sessions) == ["NEW.t1"] and b.sessions["NEW.t1"].principal.name == "alice"
    assert b.sessions["NEW.t1"].auth_type == "FORM" and not b.pending
    # EXPIRED overtaking CREATED: the late CREATED does not resurrect the session
    b.handle(SessionMessage(EVT_SESSION_EXPIRED, CTX, "GONE.t1", None, "u", T0 + 2), "A", T0 + 6)
    b.handle(SessionMessage(EVT_SESSION_CREATED, CTX, "GONE.t1", None, "u", T0 + 1), "A", T0 + 7)
    assert "GONE.t1" not in b.sessions
    # after an expiry, a late delta for it is not held forever
    b.invalidate("NEW.t1", T0 + 8)
    b.handle(SessionMessage(EVT_SESSION_DELTA, CTX, "NEW.t1", d.serialize(), "u", T0 + 9), "A", T0 + 9)
    b.handle(SessionMessage(EVT_SESSION_CREATED, CTX, "NEW.t1", None, "u", T0 + 9), "A", T0 + 9)
    assert "NEW.t1" not in b.sessions
    b.process_expires(T0 + 20_000)
    assert not b.pending and not b.recently_expired


def test_request_binds_foreign_route_like_jvm_route_binder_valve() -> None:
    from tribes.managers.cluster import SimpleTcpCluster

    async def run() -> None:
        ch = FakeChannel()
        cl = SimpleTcpCluster(ch, jvm_route="py1")
        app = cl.manager("/app")
        await cl.start(state_transfer=False)
        cl.message_received(SessionMessage(EVT_SESSION_CREATED, CTX, "ABC.tomcat1", None, "u", T0).to_java(), "A")
        await cl.flush()
        ch.sent.clear()
        with app.request("ABC.tomcat1") as s:
            assert s.id == "ABC.py1"
            s.set_attribute("x", "y")
        await cl.flush()
        got = [SessionMessage.from_java(o) for _, o, _ in ch.sent]
        assert [(m.event_type, m.session_id) for m in got] == [(EVT_CHANGE_SESSION_ID, "ABC.tomcat1"),
                                                               (EVT_SESSION_DELTA, "ABC.py1")]
        assert app.get_session("ABC.tomcat1") is None and app.get_session("ABC.py1").primary
        with pytest.raises(KeyError):
            with app.request("NOPE"):
                pass
        await cl.stop()
    asyncio.run(run())


def test_get_all_snapshot_is_taken_when_the_request_arrives() -> None:
    src = mgr()
    s = src.create_session(T0)
    s.set_attribute("v", "before")
    src.end_request(s.id, T0)
    src.take_outgoing()
    out = src.handle(SessionMessage(EVT_GET_ALL_SESSIONS, CTX, "GET-ALL", None, "x", T0), "B", T0)
    assert out[0].build is not None and out[0].message.session is None    # built later, off the loop
    s.set_attribute("v", "after")
    src.create_session(T0 + 1)
    states = read_sessions(out[0].materialize().session)
    assert [st.attributes["v"] for st in states] == ["before"]
