"""A worker's copies of sessions (tribes.web.watch): a load of a session nobody changed is answered
without a round trip, and every change -- another worker's commit, a DELTA from another cluster
member, an expiry, the agent going away -- reaches the worker before its next load."""
from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from tribes import javaser as j
from tribes.managers.cluster import now_ms
from tribes.web.client import SessionClient
from tribes.web.errors import AgentUnavailable
from tribes.web.watch import WatchTable

from tests.unit.test_web_agent_socket import Running, sockdir  # noqa: F401 - fixture
from tests.unit.web_fakes import LocalBackend


def on_loop(agent: Running, fn: Any, *args: Any) -> Any:
    async def run() -> Any:
        return fn(*args)
    return asyncio.run_coroutine_threadsafe(run(), agent.loop).result(10)


def load(c: SessionClient, sid: str) -> dict[str, Any]:
    ans = c.call({"op": "load", "ctx": "/app", "id": sid})
    assert ans["ok"]
    return ans


def test_unchanged_session_loads_from_the_copy_and_changes_reach_the_copy(sockdir: str) -> None:  # noqa: F811
    agent = Running(os.path.join(sockdir, "agent.sock"))
    svc = agent.backend.service
    try:
        a, b = SessionClient(agent.server.path), SessionClient(agent.server.path)
        sid = a.call({"op": "commit", "ctx": "/app", "id": None, "set": {"n": j.dumps(j.JavaInteger(1))}})["id"]
        assert j.loads(load(a, sid)["attrs"]["n"]) == 1
        before = svc.requests
        assert j.loads(load(a, sid)["attrs"]["n"]) == 1          # the copy: the agent was not asked
        assert svc.requests == before

        # a's own commit keeps its copy up to date (still no load round trip)
        a.call({"op": "commit", "ctx": "/app", "id": sid, "set": {"n": j.dumps(j.JavaInteger(2))}, "remove": []})
        before = svc.requests
        assert j.loads(load(a, sid)["attrs"]["n"]) == 2 and svc.requests == before

        # another worker's commit: a is told before it loads again
        assert j.loads(load(b, sid)["attrs"]["n"]) == 2
        b.call({"op": "commit", "ctx": "/app", "id": sid, "set": {"n": j.dumps(j.JavaInteger(3))}, "remove": ["x"]})
        got = load(a, sid)
        assert type(j.loads(got["attrs"]["n"])) is j.JavaInteger and j.loads(got["attrs"]["n"]) == 3

        # a DELTA from another member (as Tomcat sends it) reaches the agent through cluster.deliver
        tomcat = LocalBackend(route="tomcat1")
        tomcat.tomcat_session({"n": j.JavaInteger(3)}, sid=sid)
        ts = tomcat.dm.sessions[sid]
        now = now_ms()
        ts.access(now)
        ts.set_attribute("n", j.JavaInteger(40))
        ts.set_attribute("cart", ["book"])
        delta = tomcat.dm.request_completed(sid, now)
        assert delta is not None
        on_loop(agent, agent.backend.cluster.deliver, delta, None)
        got = load(a, sid)
        assert j.loads(got["attrs"]["n"]) == 40 and j.loads(got["attrs"]["cart"]) == ["book"]
        assert j.loads(load(b, sid)["attrs"]["n"]) == 40

        # a copy is not used once the session may have timed out (its timeout: 1 s, less 1 s slack)
        on_loop(agent, setattr, agent.backend.dm.sessions[sid], "max_inactive_interval", 1)
        b.call({"op": "commit", "ctx": "/app", "id": sid, "set": {"m": j.dumps(1)}})
        load(a, sid)
        before = svc.requests
        load(a, sid)
        assert svc.requests == before + 1
        on_loop(agent, setattr, agent.backend.dm.sessions[sid], "max_inactive_interval", 1800)

        # an invalidation/expiry on the agent
        load(a, sid)
        on_loop(agent, agent.backend.dm.invalidate, sid, now_ms())
        assert load(a, sid)["found"] is False

        # a login (new id, principal) is never served from a copy
        sid2 = a.call({"op": "commit", "ctx": "/app", "id": None, "set": {"k": j.dumps("v")}})["id"]
        load(a, sid2)
        new = a.call({"op": "commit", "ctx": "/app", "id": sid2, "login": ["ann", ["user"], "FORM"]})["id"]
        assert new != sid2 and load(a, sid2)["found"] is False
        assert load(a, new)["principal"] == ["ann", ["user"]]
    finally:
        agent.stop()
    # the agent is gone: the copy is not served, the request gets AgentUnavailable (HTTP 503)
    with pytest.raises(AgentUnavailable):
        load(a, new)


def test_watch_table_is_bounded_and_one_shot() -> None:
    t: WatchTable[str] = WatchTable(per_conn=2)
    assert t.add("s1", "w1") is None and t.add("s2", "w1") is None
    assert t.add("s3", "w1") == "s1"                  # w1's oldest copy must be dropped (notified)
    t.add("s2", "w2")
    assert sorted(t.pop("s2", exclude="w2")) == ["w1"]
    assert t.pop("s2", exclude="w1") == ["w2"] and t.pop("s2") == []
    t.add("s9", "w2")
    assert sorted(t.pop_all()) == ["w1", "w2"] and len(t) == 0
    t.add("s1", "w3")
    t.drop("w3")
    assert len(t) == 0 and t.pop("s1") == []


def test_a_notice_behind_an_answer_applies_after_it() -> None:
    """The agent may write a change notice right behind a load answer (another worker committed in
    the same loop turn): the copy made from that answer must be dropped, not kept."""
    import socket
    import threading

    from tribes.web.client import _Conn
    from tribes.web.errors import ProtocolError
    from tribes.web.protocol import FrameDecoder, encode
    w, agent = socket.socketpair()
    replies: list[bytes] = []
    seen: list[dict[str, Any]] = []

    def fake_agent() -> None:                      # answers each request with the next reply
        dec = FrameDecoder()
        while True:
            data = agent.recv(65536)
            if not data:
                return
            for m in dec.feed(data):
                seen.append(m)
                agent.sendall(replies.pop(0))

    t = threading.Thread(target=fake_agent, daemon=True)
    t.start()
    try:
        conn = _Conn(w, 1 << 20)
        sid = "A" * 32 + ".py1"
        answer = {"ok": True, "found": True, "id": sid, "renamed": False, "attrs": {"n": j.dumps(1)},
                  "principal": None, "auth": None, "new": False, "max_inactive": 1800, "watch": True}
        replies.append(encode(answer) + encode({"op": "changed", "id": sid}))
        assert conn.load({"op": "load", "ctx": "/app", "id": sid})["found"]
        assert sid not in conn.copies and seen[-1]["watch"] is True
        replies.append(encode(answer))              # no notice: the copy is kept
        conn.load({"op": "load", "ctx": "/app", "id": sid})
        assert sid in conn.copies and len(seen) == 2
        assert conn.load({"op": "load", "ctx": "/app", "id": sid})["attrs"]["n"] == j.dumps(1)
        assert len(seen) == 2                       # served from the copy: the agent was not asked
        replies.append(encode(answer) + encode(answer))
        with pytest.raises(ProtocolError):          # two answers to one request (in one read or two)
            conn.roundtrip({"op": "status"})
            time.sleep(0.2)
            conn.poll()
    finally:
        w.close()
        t.join(5)
        agent.close()
