"""The Flask, Django, ASGI (FastAPI) and WSGI adapters and the example apps, over an in-memory
member: Tomcat's cookie, one delta per request, logins, 503 when the agent is down."""
from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from tribes.managers.principal import Principal

from tests.unit.web_fakes import LocalBackend


def _cookie(headers: list[str]) -> str | None:
    for h in headers:
        if h.startswith("JSESSIONID="):
            return h.split(";")[0].split("=", 1)[1]
    return None


# ---------------------------------------------------------------------------------------- Flask
def test_flask_example_cart_login_and_cookie() -> None:
    from examples.flask_app.app import create_app
    b = LocalBackend()
    app = create_app(backend=b)
    assert app.config["SESSION_COOKIE_NAME"] == "JSESSIONID" or True
    c = app.test_client()
    r = c.get("/app/py/")
    assert r.status_code == 200 and not r.headers.getlist("Set-Cookie"), "no session without a write"
    r = c.post("/app/py/cart", data={"item": "book"})
    cookies = r.headers.getlist("Set-Cookie")
    assert len(cookies) == 1 and "; Path=/app; HttpOnly" in cookies[0], cookies
    assert app.config["SESSION_COOKIE_NAME"] == "JSESSIONID" and app.config["SESSION_COOKIE_PATH"] == "/app"
    sid = _cookie(cookies)
    assert sid in b.dm.sessions and b.dm.sessions[sid].attributes["cart"] == ["book"]
    assert b.dm.sessions[sid].attributes["_flashes"] == [["message", "added book"]]
    r = c.get("/app/py/")
    assert '<li class="flash">added book</li>' in r.text and "<li>book</li>" in r.text
    assert "_flashes" not in b.dm.sessions[sid].attributes
    r = c.post("/app/py/login", data={"username": "alice", "password": "secret"})
    new = _cookie(r.headers.getlist("Set-Cookie"))
    assert new and new != sid and b.dm.sessions[new].principal.name == "alice"
    r = c.get("/app/py/")
    assert 'id="user">alice<' in r.text
    c.get("/app/py/logout")
    assert b.dm.sessions[new].principal is None


def test_flask_sees_tomcat_login_and_flask_agent_down_is_503(caplog: Any) -> None:
    from examples.flask_app.app import create_app
    b = LocalBackend()
    app = create_app(backend=b)
    sid = b.tomcat_session({"cart": ["x"]})
    b.dm.sessions[sid].set_principal(Principal("bob", ["shopper"]))
    c = app.test_client()
    c.set_cookie("JSESSIONID", sid, path="/app")
    body = c.get("/app/py/api/session").get_json()
    assert body["user"] == "bob" and body["roles"] == ["shopper"] and body["id"] == sid
    b.down = True
    r = c.get("/app/py/")
    assert r.status_code == 503 and "tribes agent --config" in r.text
    assert any("start it with `tribes agent" in rec.getMessage() for rec in caplog.records)
    assert c.get("/app/py/api/session").status_code == 503
    fresh = create_app(backend=b).test_client()          # a new session while the agent is down
    r = fresh.post("/app/py/cart", data={"item": "x"})
    assert r.status_code == 503 and "tribes agent" in r.text and not r.headers.getlist("Set-Cookie")


def test_flask_size_limit_gives_clear_error_and_nothing_written() -> None:
    from examples.flask_app.app import create_app
    b = LocalBackend(max_write=5000)
    c = create_app(backend=b).test_client()
    r = c.post("/app/py/api/session", json={"set": {"keep": "v1"}})
    sid = _cookie(r.headers.getlist("Set-Cookie"))
    r = c.post("/app/py/api/session", json={"set": {"keep": "v2", "big": "x" * 10000}})
    assert r.status_code == 413 and "exceeds the limit of 5000 bytes" in r.get_json()["message"]
    assert b.dm.sessions[sid].attributes == {"keep": "v1"}


# ---------------------------------------------------------------------------------------- Django
@pytest.fixture(scope="module")
def django_client() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    import django
    django.setup()
    from django.test import Client
    return Client


def test_django_example_login_maps_onto_tribes(django_client: Any) -> None:
    import tribes.web.django as tdj
    from tribes.web.session import SessionStore, WebConfig
    b = LocalBackend()
    tdj._STORE = SessionStore(WebConfig(context="/app"), b)
    c = django_client()
    r = c.post("/app/py/cart", {"item": "book"})
    sid = r.cookies["JSESSIONID"].value
    assert r.cookies["JSESSIONID"]["path"] == "/app" and r.cookies["JSESSIONID"]["httponly"]
    assert "sessionid" not in r.cookies
    assert b.dm.sessions[sid].attributes["cart"] == ["book"]
    r = c.post("/app/py/login", {"username": "alice", "password": "secret"})
    new = r.cookies["JSESSIONID"].value
    assert new != sid and sid not in b.dm.sessions, "login() rotates the id (cycle_key = changeSessionId)"
    sess = b.dm.sessions[new]
    assert sess.principal.name == "alice" and sorted(sess.principal.roles) == ["shopper", "tribes"]
    attrs = sess.attributes
    assert attrs["_auth_user_id"] == "alice" and attrs["_auth_user_backend"].endswith("DemoBackend")
    assert len(attrs["_auth_user_hash"]) == 64 and attrs["cart"] == ["book"]
    view = c.get("/app/py/api/session").json()
    assert view["user"] == "alice" and "_csrftoken" in view["attributes"]
    r = c.get("/app/py/logout")
    assert new not in b.dm.sessions, "logout() invalidates on every node"
    assert r.cookies["JSESSIONID"]["max-age"] == 0


def test_django_request_user_from_tomcat_login_and_503(django_client: Any) -> None:
    import tribes.web.django as tdj
    from tribes.web.session import SessionStore, WebConfig
    b = LocalBackend()
    tdj._STORE = SessionStore(WebConfig(context="/app"), b)
    sid = b.tomcat_session({"cart": ["x"]})
    b.dm.sessions[sid].set_principal(Principal("bob", ["shopper"]))
    b.dm.sessions[sid].set_auth_type("FORM")
    c = django_client()
    c.cookies["JSESSIONID"] = sid
    r = c.get("/app/py/")
    assert 'id="user">bob<' in r.content.decode() and 'id="roles">shopper<' in r.content.decode()
    b.down = True
    r = c.get("/app/py/")
    assert r.status_code == 503 and b"tribes agent" in r.content


# ---------------------------------------------------------------------------------------- ASGI
def _asgi(app: Any, method: str, path: str, body: bytes = b"", cookie: str | None = None,
          ctype: str = "application/x-www-form-urlencoded") -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    out: dict[str, Any] = {"body": b""}
    headers = [(b"content-type", ctype.encode())]
    if cookie:
        headers.append((b"cookie", f"JSESSIONID={cookie}".encode()))
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers, "scheme": "http", "server": ("t", 80), "client": ("c", 1), "root_path": "",
             "http_version": "1.1", "asgi": {"version": "3.0"}}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(m: dict[str, Any]) -> None:
        if m["type"] == "http.response.start":
            out["status"], out["headers"] = m["status"], m.get("headers", [])
        elif m["type"] == "http.response.body":
            out["body"] += m.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return out["status"], out["headers"], out["body"]


def _set_cookie(headers: list[tuple[bytes, bytes]]) -> list[str]:
    return [v.decode() for k, v in headers if k.lower() == b"set-cookie"]


def test_fastapi_example_and_asgi_503() -> None:
    from examples.fastapi_app.app import create_app
    b = LocalBackend()
    app = create_app(backend=b)
    st, hd, _ = _asgi(app, "POST", "/app/py/cart", b"item=book")
    sid = _cookie(_set_cookie(hd))
    assert st == 303 and sid and "; Path=/app; HttpOnly" in _set_cookie(hd)[0]
    assert b.dm.sessions[sid].attributes["cart"] == ["book"]
    st, hd, _ = _asgi(app, "POST", "/app/py/login", b"username=alice&password=secret", cookie=sid)
    new = _cookie(_set_cookie(hd))
    assert new != sid and b.dm.sessions[new].principal.name == "alice"
    st, hd, body = _asgi(app, "GET", "/app/py/api/session", cookie=new)
    view = json.loads(body)
    assert view["user"] == "alice" and [x["value"] for x in view["attributes"]["cart"]["value"]] == ["book"]
    st, hd, body = _asgi(app, "POST", "/app/py/api/session", json.dumps({"set": {"o": {"$object": 1}}}).encode(),
                         cookie=new, ctype="application/json")
    assert st == 400 and "'o'" in json.loads(body)["message"]
    b.down = True
    st, _, body = _asgi(app, "GET", "/app/py/", cookie=new)
    assert st == 503 and b"tribes agent" in body


# ---------------------------------------------------------------------------------------- WSGI
def test_wsgi_middleware() -> None:
    from tribes.web.wsgi import TribesSessionMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        s = environ["tribes.session"]
        s["hits"] = s.get("hits", 0) + 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(s["hits"]).encode()]

    b = LocalBackend()
    mw = TribesSessionMiddleware(app, backend=b, context="/app")
    got: dict[str, Any] = {}

    def sr(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        got["status"], got["headers"] = status, headers

    body = b"".join(mw({"REQUEST_METHOD": "GET", "PATH_INFO": "/app/x", "wsgi.url_scheme": "http"}, sr))
    sid = _cookie([v for k, v in got["headers"] if k == "Set-Cookie"])
    assert body == b"1" and sid
    body = b"".join(mw({"HTTP_COOKIE": f"JSESSIONID={sid}", "wsgi.url_scheme": "http"}, sr))
    assert body == b"2" and type(b.dm.sessions[sid].attributes["hits"]).__name__ == "JavaInteger"
    b.down = True
    body = b"".join(mw({"HTTP_COOKIE": f"JSESSIONID={sid}", "wsgi.url_scheme": "http"}, sr))
    assert got["status"].startswith("503") and b"tribes agent" in body
