"""The dashboard's ASGI app (issue 18): pages, state, search, auth on operator actions, bounds."""
from __future__ import annotations

import asyncio
import base64
import logging
import os
from typing import Any

import warnings

import pytest

with warnings.catch_warnings():   # starlette 1.x prefers httpx2 for its TestClient; httpx works the same
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from tribes.dashboard.app import MAX_QUERY, DashboardSettings, _EventStream, create_app
from tribes.dashboard.auth import CredentialsError, load_credentials, parse_credentials
from tribes.dashboard.views import summarise
from tribes.javaser import JavaObject

from observe_support import login_session, member, node

TOKEN = "0123456789abcdef-token"


def make(actions: bool = True, show_values: bool = True, **kw: Any) -> tuple[Any, Any, Any, list[Any]]:
    ob, ch, cluster = node()
    assert cluster is not None
    calls: list[Any] = []

    def logout(cl: Any, user: str) -> list[tuple[str, str]]:
        from tribes.managers.principal import principal_name
        victims = [(n, sid) for n, dm in cl.managers.items() for sid, s in dm.sessions.items()
                   if principal_name(s.principal) == user]
        for n, sid in victims:
            cl.contexts[n].invalidate(sid)
        calls.append(user)
        return victims

    creds = parse_credentials(f"token: {TOKEN}\nops:pa55word\n")
    app = create_app(ob, DashboardSettings(actions=actions, show_values=show_values, credentials=creds,
                                           logout=logout, **kw))
    return app, ob, cluster, calls


def test_page_and_static_files_are_served() -> None:
    app, *_ = make()
    with TestClient(app) as c:
        r = c.get("/")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert '<script src="/static/app.js">' in r.text and 'name="viewport"' in r.text
        assert c.get("/static/app.js").status_code == 200
        assert c.get("/static/app.css").headers["content-type"].startswith("text/css")
        assert c.get("/static/../../etc/passwd").status_code == 404
        assert c.get("/static/secret.py").status_code == 404


def test_state_shows_members_history_and_samples() -> None:
    app, ob, cluster, _ = make()
    ch = ob.channel
    a, b = member(2), member(3)
    ch.join(a)
    ch.join(b)
    ch.leave(b)
    login_session(cluster, "alice")
    dash = app.state.dashboard
    dash.sample()
    with TestClient(app) as c:
        st = c.get("/api/state").json()
    states = {m["member"]: m["state"] for m in st["members"]}
    assert states == {"10.0.0.1:4000": "alive", "10.0.0.2:4000": "alive", "10.0.0.3:4000": "failed"}
    assert [m for m in st["members"] if m.get("local")][0]["kind"] == "python"
    assert [h["event"] for h in st["history"]] == ["joined", "joined", "failed"]
    assert st["samples"][-1]["sessions"] == {"/app": 1}
    assert st["node"]["actions"] is True


def test_users_and_search_by_user_or_session_id() -> None:
    app, ob, cluster, _ = make()
    sid = login_session(cluster, "alice", cart="3 apples")
    login_session(cluster, "bob")
    with TestClient(app) as c:
        users = c.get("/api/users").json()["users"]
        assert {u["user"] for u in users} == {"alice", "bob"}
        res = c.get("/api/search", params={"q": "ALICE"}).json()["results"]
        assert [r["id"] for r in res] == [sid]
        assert res[0]["attributes"]["cart"] == {"class": "java.lang.String", "value": "3 apples"}
        assert res[0]["attributes"]["n"] == {"class": "java.lang.Integer", "value": 7}
        by_id = c.get("/api/search", params={"q": sid[:10]}).json()["results"]
        assert [r["user"] for r in by_id] == ["alice"]
        assert c.get("/api/search", params={"q": "nobody"}).json()["results"] == []
        assert c.get("/api/search").status_code == 400
        assert c.get("/api/search", params={"q": "x" * 300}).status_code == 400


def test_attribute_values_can_be_switched_off() -> None:
    app, ob, cluster, _ = make(show_values=False)
    login_session(cluster, "alice", cart="secret cart")
    with TestClient(app) as c:
        r = c.get("/api/search", params={"q": "alice"})
    assert "secret cart" not in r.text
    assert r.json()["results"][0]["attributes"]["cart"] == {"class": "java.lang.String"}


def test_opaque_java_objects_are_summarised() -> None:
    j = {"class": "com.shop.Cart", "fields": {"items": {"class": "java.util.ArrayList", "value": []}, "owner": "x"}}
    assert summarise(j) == {"class": "com.shop.Cart", "opaque": True, "fields": ["items", "owner"]}
    long = summarise({"class": "java.lang.String", "value": "y" * 5000})
    assert len(long["value"]) < 400
    many = summarise({"class": "java.util.ArrayList", "value": list(range(1000))})
    assert len(many["value"]) == 51
    from tribes.dashboard.views import _to_json
    from tribes.javaser import ClassDesc, FieldDesc
    desc = ClassDesc("com.shop.Cart", 1, fields=[FieldDesc("I", "count"), FieldDesc("L", "owner", "Ljava/lang/String;")])
    obj = JavaObject.new(desc, {"count": 2, "owner": "alice"})
    assert summarise(_to_json(obj)) == {"class": "com.shop.Cart", "opaque": True, "fields": ["count", "owner"]}


def test_actions_need_auth_401_and_are_off_by_default_403(caplog: pytest.LogCaptureFixture) -> None:
    app, ob, cluster, calls = make()
    sid = login_session(cluster, "alice")
    with TestClient(app) as c:
        r = c.post("/api/logout", json={"user": "alice"})
        assert r.status_code == 401 and "www-authenticate" in r.headers
        r = c.post("/api/logout", json={"user": "alice"}, headers={"Authorization": "Bearer wrong-token-123456"})
        assert r.status_code == 401
        r = c.post("/api/sessions/invalidate", json={"context": "/app", "id": sid},
                   headers={"Authorization": "Basic " + base64.b64encode(b"ops:nope").decode()})
        assert r.status_code == 401
        assert calls == [] and sid in cluster.managers["localhost#/app"].sessions
    off, ob2, cluster2, calls2 = make(actions=False)
    sid2 = login_session(cluster2, "alice")
    with TestClient(off) as c:
        r = c.post("/api/logout", json={"user": "alice"}, headers={"Authorization": "Bearer " + TOKEN})
        assert r.status_code == 403
    assert calls2 == [] and sid2 in cluster2.managers["localhost#/app"].sessions


def test_authenticated_logout_and_invalidate_are_logged_with_who(caplog: pytest.LogCaptureFixture) -> None:
    app, ob, cluster, calls = make()
    sid = login_session(cluster, "alice")
    other = login_session(cluster, "bob")
    caplog.set_level(logging.WARNING, "tribes.dashboard")
    with TestClient(app) as c:
        r = c.post("/api/logout", json={"user": "alice"}, headers={"Authorization": "Bearer " + TOKEN})
        assert r.status_code == 200 and r.json() == {"invalidated": 1}
        basic = "Basic " + base64.b64encode(b"ops:pa55word").decode()
        r = c.post("/api/sessions/invalidate", json={"context": "/app", "id": other}, headers={"Authorization": basic})
        assert r.status_code == 200
        r = c.post("/api/sessions/invalidate", json={"context": "/app", "id": "NOPE"}, headers={"Authorization": basic})
        assert r.status_code == 404
    assert calls == ["alice"]
    sessions = cluster.managers["localhost#/app"].sessions
    assert sid not in sessions and other not in sessions
    text = caplog.text
    assert "operator 'token' forced the logout of user 'alice'" in text
    assert "operator 'ops' invalidated session" in text
    assert [e["by"] for e in ob.events if e["kind"] == "operator"] == ["token", "ops", "ops"]


def test_malformed_requests_are_refused() -> None:
    app, ob, cluster, _ = make()
    auth = {"Authorization": "Bearer " + TOKEN}
    with TestClient(app) as c:
        assert c.post("/api/logout", content=b"{not json", headers=auth).status_code == 400
        assert c.post("/api/logout", content=b"\xff\xfe", headers=auth).status_code == 400
        assert c.post("/api/logout", json=["alice"], headers=auth).status_code == 400
        assert c.post("/api/logout", json={"user": 7}, headers=auth).status_code == 400
        assert c.post("/api/sessions/invalidate", json={"context": "/app"}, headers=auth).status_code == 400
        assert c.post("/api/logout", content=b"x" * 10000, headers=auth).status_code == 413
        assert c.get("/api/search?q=" + "a" * (MAX_QUERY + 1)).status_code == 414
        assert c.get("/api/logout").status_code == 405
        assert c.get("/api/nothing").status_code == 404
        assert c.get("/api/state").status_code == 200          # still serving


def test_credentials_file(tmp_path: Any) -> None:
    p = tmp_path / "auth"
    p.write_text("# ops\ntoken: " + TOKEN + "\n")
    os.chmod(p, 0o644)
    with pytest.raises(CredentialsError, match="chmod 600"):
        load_credentials(str(p))
    os.chmod(p, 0o600)
    creds = load_credentials(str(p))
    assert creds.check("Bearer " + TOKEN) == "token" and creds.check("Bearer x") is None
    assert creds.check(None) is None and creds.check("Basic !!!") is None
    with pytest.raises(CredentialsError):
        parse_credentials("token: short\n")
    with pytest.raises(CredentialsError):
        parse_credentials("just-a-word\n")


def test_live_events_reach_a_reading_client() -> None:
    app, ob, cluster, _ = make()
    dash = app.state.dashboard

    async def run() -> list[bytes]:
        sent: list[bytes] = []
        from tribes.dashboard.app import _Client
        c = _Client(16)
        dash.clients.add(c)

        async def send(msg: dict[str, Any]) -> None:
            if msg.get("body"):
                sent.append(msg["body"])

        task = asyncio.ensure_future(_EventStream(dash, c)({"type": "http"}, None, send))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        ob.channel.join(member(2))
        ob.channel.leave(member(2))
        await asyncio.sleep(0.01)
        dash.close()
        await asyncio.wait_for(task, 2)
        return sent
    frames = asyncio.run(run())
    assert frames[0].startswith(b"retry: 2000\nevent: state\n")
    joined = b"".join(frames[1:])
    assert b'"event":"joined"' in joined and b'"event":"failed"' in joined


def test_a_client_that_never_reads_is_dropped_and_bounded() -> None:
    app, ob, cluster, _ = make(client_queue=8, send_timeout=0.3)
    dash = app.state.dashboard

    async def run() -> None:
        from tribes.dashboard.app import _Client
        c = _Client(8)
        dash.clients.add(c)
        started = asyncio.Event()

        async def send(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                return
            started.set()
            await asyncio.Event().wait()          # never completes: a client that does not read

        task = asyncio.ensure_future(_EventStream(dash, c)({"type": "http"}, None, send))  # type: ignore[arg-type]
        await started.wait()
        for i in range(1000):                     # the node keeps publishing; nothing blocks
            ob.channel.join(member(2 + i % 200, 4000 + i))
            assert c.queue.qsize() <= 8
        assert c not in dash.clients and dash.dropped_clients == 1
        await asyncio.wait_for(task, 5)           # its stream ends (write timeout), holding nothing
    asyncio.run(run())


def test_too_many_live_clients_are_refused() -> None:
    app, ob, cluster, _ = make(max_clients=0)
    with TestClient(app) as c:
        assert c.get("/api/events").status_code == 503


def test_a_real_sse_client_that_never_reads_does_not_stall_the_node() -> None:
    """uvicorn on 127.0.0.1, a raw socket that asks for /api/events and never reads: the node goes on
    answering, the client is dropped, and what is held for it stays bounded."""
    import socket

    import httpx

    from tribes.metrics.server import AsgiServer

    app, ob, cluster, _ = make(client_queue=32, send_timeout=0.5)
    dash = app.state.dashboard

    async def run() -> None:
        srv = AsgiServer(app, "127.0.0.1", 0, what="dashboard")
        await srv.start()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            sock.connect(("127.0.0.1", srv.port))
            sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
            loop = asyncio.get_running_loop()
            end = loop.time() + 10
            while not dash.clients and loop.time() < end:
                await asyncio.sleep(0.01)
            assert len(dash.clients) == 1
            big = "x" * 4000
            async with httpx.AsyncClient() as c:
                for i in range(1000):            # ~4 MB of events offered to a client that reads nothing
                    ob.operator_event({"event": "filler", "n": i, "pad": big})
                    for cl in dash.clients:
                        assert cl.queue.qsize() <= 32
                    if i % 500 == 0:
                        await asyncio.sleep(0)   # let the server try to write
                        r = await c.get(f"http://127.0.0.1:{srv.port}/api/state", timeout=10)
                        assert r.status_code == 200
                while dash.clients and loop.time() < end:
                    await asyncio.sleep(0.05)
                assert not dash.clients and dash.dropped_clients >= 1
                r = await c.get(f"http://127.0.0.1:{srv.port}/api/state", timeout=10)
                assert r.status_code == 200
        finally:
            sock.close()
            await srv.stop()
    asyncio.run(run())
