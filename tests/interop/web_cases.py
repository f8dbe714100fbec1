"""The checks every adapter passes against real Tomcat 10.1 (must-show 2 and 4 of issue 13).

Each takes the lab, the Tomcat cluster and the running Python app (tests/interop/web_support.PyWeb)
serving the example app's pages and JSON API under /app/py.
"""
from __future__ import annotations

import base64
from typing import Any

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop.web_support import PyWeb, WebBrowser, api, set_cookie_values, wait_until

TYPED = [("s", "string", "héllo"), ("i", "int", "42"), ("l", "long", "9007199254740993"), ("z", "bool", "true"),
         ("d", "double", "2.5"), ("b", "bytes", "00ff10"), ("lst", "list", "a,b"), ("m", "map", "k=v"),
         ("bean", "bean", "opaque text:7")]


def tomcat_session_with_types(lab: Lab, cluster: TomcatCluster) -> tuple[WebBrowser, str]:
    t1 = cluster.nodes[0]
    b = WebBrowser(lab)
    sid = b.new_session(t1)
    for name, typ, value in TYPED:
        r = b.get(t1, "/app/set", {"name": name, "type": typ, "value": value})
        assert r.status == 200, r.body
    return b, sid


def read_typed(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> tuple[WebBrowser, str]:
    """A Tomcat-made session's typed values as the Python app sees them."""
    b, sid = tomcat_session_with_types(lab, cluster)

    def got() -> Any:
        st, view = api(b, web)
        assert st == 200, view
        return view if {"bean", "m", "lst"} <= set(view["attributes"]) else None

    view = wait_until(got, what="Tomcat's attributes visible in Python")
    a = view["attributes"]
    assert view["id"] == sid and b.session_id("/app") == sid, "served under Tomcat's id, not renamed"
    assert a["s"] == {"class": "java.lang.String", "value": "héllo"}
    assert a["i"] == {"class": "java.lang.Integer", "value": 42}
    assert a["l"] == {"class": "java.lang.Long", "value": "9007199254740993"}
    assert a["z"] == {"class": "java.lang.Boolean", "value": True}
    assert a["d"] == {"class": "java.lang.Double", "value": 2.5}
    assert a["b"] == {"class": "[B", "value": base64.b64encode(bytes.fromhex("00ff10")).decode()}
    assert a["lst"]["class"] == "java.util.ArrayList" and [x["value"] for x in a["lst"]["value"]] == ["a", "b"]
    assert a["m"]["class"] == "java.util.HashMap"
    assert a["bean"]["class"] == "tribeslab.Bean"              # opaque, read-only
    return b, sid


def peek_types(node: Any, sid: str) -> dict[str, tuple[str, str]]:
    v = node.peek(sid)
    assert v is not None, f"session {sid} not on {node}"
    return {x["name"]: (x["type"], x["value"]) for x in v["attributes"]}


def write_remove_invalidate(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    t1 = cluster.nodes[0]
    b, sid = read_typed(lab, cluster, web)
    st, view = api(b, web, {"set": {"i": 43, "l": 5, "d": 3, "s2": "from python", "n": 7, "big": 1 << 40,
                                    "f": 0.5, "ok": False, "raw": {"$bytes": "0102"}, "items": ["x", 1],
                                    "map": {"k": "v"}, "pair": {"$tuple": ["a", 2]}},
                            "remove": ["s"]})
    assert st == 200, view
    assert b.session_id("/app") == sid

    def types() -> Any:
        t = peek_types(t1, sid)
        return t if "pair" in t and "s" not in t else None

    t = wait_until(types, what="Python's writes on Tomcat")
    assert t["i"] == ("java.lang.Integer", "43"), "an existing Integer stays an Integer"
    assert t["l"] == ("java.lang.Long", "5"), "an existing Long stays a Long"
    assert t["d"] == ("java.lang.Double", "3.0"), "an existing Double stays a Double"
    assert t["s2"] == ("java.lang.String", "from python")
    assert t["n"] == ("java.lang.Integer", "7")
    assert t["big"] == ("java.lang.Long", str(1 << 40))
    assert t["f"] == ("java.lang.Double", "0.5")
    assert t["ok"] == ("java.lang.Boolean", "false")
    assert t["raw"] == ("[B", "0102")
    assert t["items"] == ("java.util.ArrayList", "[x, 1]")
    assert t["map"] == ("java.util.HashMap", "{k=v}")
    assert t["pair"] == ("java.util.ArrayList", "[a, 2]"), "a tuple travels as an ArrayList"
    assert t["bean"][0] == "tribeslab.Bean" and "opaque text" in t["bean"][1], "the opaque object survived"
    # Tomcat reads it through a request too (and the session still works there)
    r = b.get(t1, "/app/get", {"name": "bean"})
    assert r.status == 200 and r.json()["type"] == "tribeslab.Bean", r.body
    # an unmappable value: 400 with a TypeError naming the attribute, nothing written
    st, err = api(b, web, {"set": {"ok2": "x", "bad": {"$object": 1}}})
    assert st == 400 and "'bad'" in err["message"] and "TypeError" == err["error"], err
    # invalidate: gone on Tomcat
    st, _ = api(b, web, {"invalidate": True})
    assert st == 200
    wait_until(lambda: t1.peek(sid) is None, what="invalidation on Tomcat")


def login_tomcat_to_python(lab: Lab, cluster: TomcatCluster, web: PyWeb, full_copy_auth: bool = True) -> None:
    """``full_copy_auth`` False (BackupManager): the auth type may be missing in Python, because a
    session that reaches this node as a full copy (BACKUP, RETRIEVE_BACKUP) carries the principal but
    no auth type: DeltaSession.writeExternal does not write it (tribes.managers.session_state)."""
    t1 = cluster.nodes[0]
    b = WebBrowser(lab)
    r = b.get(t1, "/app/secure/whoami")                   # the login page: a session before the login
    pre_login = b.session_id("/app")
    assert "tribeslab-login-page" in r.body and pre_login
    who = b.login(t1)
    assert who.json()["user"] == "alice"
    sid = b.session_id("/app")
    assert sid.split(".")[0] != pre_login.split(".")[0], "Tomcat's login changed the id"

    def seen() -> Any:
        st, v = api(b, web)
        return v if st == 200 and v.get("user") == "alice" else None

    v = wait_until(seen, what="Tomcat's FORM login visible in Python")
    assert "tribes" in v["roles"] and v["id"] == sid, (v, sid)
    assert v["auth"] == "FORM" or (not full_copy_auth and v["auth"] is None), (v, sid)
    # the pre-login id is not followed to the logged-in session (session fixation)
    old = WebBrowser(lab)
    old.cookies["/app"] = pre_login
    st, v_old = api(old, web)
    assert st == 200 and v_old["id"] is None and v_old["user"] is None, v_old
    # the page greets the user
    r = b.get(web.url, "/app/py/")
    assert r.status == 200 and 'id="user">alice<' in r.body
    # logout on Tomcat (invalidate) logs out in Python
    assert b.get(t1, "/app/invalidate").status == 200
    wait_until(lambda: api(b, web)[1].get("user") is None, what="Tomcat logout seen by Python")


def login_python_to_tomcat(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    t1 = cluster.nodes[0]
    b = WebBrowser(lab)
    r = b.post(web.url, "/app/py/cart", {"item": "book"})
    assert r.status in (302, 303), r.body
    before = b.session_id("/app")
    assert before and before.endswith(".py1")
    r = b.post(web.url, "/app/py/login", {"username": "alice", "password": "secret"})
    assert r.status in (302, 303), r.body
    after = b.session_id("/app")
    assert after and after.split(".")[0] != before.split(".")[0], "login changes the session id (fixation)"
    wait_until(lambda: t1.peek(after) is not None, what="logged-in session on Tomcat")
    assert t1.peek(before) is None, "the pre-login id is gone on Tomcat"
    r = b.get(t1, "/app/secure/whoami")
    assert r.status == 200 and "tribeslab-login-page" not in r.body, r.body
    assert r.json()["user"] == "alice", "Tomcat honours the Python login without a prompt"
    renamed = b.session_id("/app")
    assert renamed == after.split(".")[0] + ".tomcat1", "JvmRouteBinderValve renamed the Python id once"
    # the Python page keeps serving the renamed session, cart and user included
    st, v = api(b, web)
    assert st == 200 and v["user"] == "alice" and v["id"] == renamed, v
    assert [x["value"] for x in v["attributes"]["cart"]["value"]] == ["book"]
    # logout in Python: Tomcat asks for the login again
    r = b.get(web.url, "/app/py/logout")
    assert r.status in (302, 303)
    wait_until(lambda: t1.peek(b.session_id("/app") or "") is not None
               and t1.peek(b.session_id("/app") or "")["user"] is None, what="Python logout on Tomcat")
    r = b.get(t1, "/app/secure/whoami")
    assert "tribeslab-login-page" in r.body, r.body


def bad_input(lab: Lab, cluster: TomcatCluster, web: PyWeb, foreign_context: bool = True) -> None:
    """``foreign_context``: also check a ROOT id sent to /app (needs the agent's socket to see that the
    member holds the ROOT session first)."""
    t1 = cluster.nodes[0]
    # forged (well-formed, unknown) and malformed ids: a fresh session, never an error
    for forged in ("0123456789ABCDEF0123456789ABCDEF.tomcat1", "../../etc/passwd", "x" * 5000, "%00\\\"",
                   "0123456789abcdef0123456789abcdef"):
        b = WebBrowser(lab)
        b.cookies["/app"] = forged
        st, v = api(b, web)
        assert st == 200 and v["id"] is None and v["attributes"] == {}, (forged[:40], st, v)
        st, v = api(b, web, {"set": {"k": "v"}})
        assert st == 200 and b.session_id("/app") != forged and b.session_id("/app", ).endswith(".py1")
    # an id of another context (ROOT) is not accepted in /app
    b = WebBrowser(lab) if foreign_context else None
    if b is not None:
        _foreign_context(lab, t1, web, b)
    _write_limit(lab, web)


def _foreign_context(lab: Lab, t1: Any, web: PyWeb, b: WebBrowser) -> None:
    r = b.get(t1, "/set", {"name": "root", "value": "x"})
    assert r.status == 200
    root_id = b.cookies["/"]
    wait_until(lambda: _py_knows(web, "/", root_id), what="ROOT session on the agent")
    b2 = WebBrowser(lab)
    b2.cookies["/app"] = root_id
    st, v = api(b2, web)
    assert st == 200 and v["id"] is None and "root" not in v["attributes"]


def _write_limit(lab: Lab, web: PyWeb) -> None:
    # a session write above the limit (the app's TRIBES_MAX_WRITE_BYTES) is refused; session unchanged
    b3 = WebBrowser(lab)
    st, _ = api(b3, web, {"set": {"keep": "v1"}})
    sid = b3.session_id("/app")
    st, err = api(b3, web, {"set": {"keep": "v2", "huge": "x" * 300_000}})
    assert st == 413 and "exceeds the limit" in err["message"], (st, err)
    st, v = api(b3, web)
    assert st == 200 and v["attributes"]["keep"]["value"] == "v1" and "huge" not in v["attributes"]
    assert b3.session_id("/app") == sid


def _py_knows(web: PyWeb, ctx: str, sid: str) -> bool:
    """Whether the agent holds session `sid` of `ctx` (its Unix socket is reachable from here)."""
    from tribes.web.client import SessionClient
    return bool(SessionClient(web.socket).call({"op": "load", "ctx": ctx, "id": sid}).get("found"))


def route_rename(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    """A Python id reaching Tomcat is renamed once; the old id keeps working in Python (Set-Cookie)."""
    t1 = cluster.nodes[0]
    b = WebBrowser(lab)
    st, _ = api(b, web, {"set": {"cart": ["a"]}})
    py_id = b.session_id("/app")
    assert py_id and py_id.endswith(".py1")
    wait_until(lambda: t1.peek(py_id) is not None, what="Python session on Tomcat")
    r = b.get(t1, "/app/get", {"name": "cart"})
    assert r.status == 200 and r.json()["value"] == "[a]"
    new_id = b.session_id("/app")
    assert new_id == py_id.split(".")[0] + ".tomcat1"
    # a request still carrying the old id, shortly after: served under the new id, with a Set-Cookie
    old = WebBrowser(lab)
    old.cookies["/app"] = py_id
    r = old.get(web.url, "/app/py/api/session")
    assert r.status == 200 and r.json()["id"] == new_id, r.body
    assert any(new_id in c for c in set_cookie_values(r)), r.headers
    # an id with another live node's route is served as is (no rename by Python)
    r = b.get(web.url, "/app/py/api/session")
    assert r.json()["id"] == new_id and not set_cookie_values(r)


def concurrent_writers(lab: Lab, cluster: TomcatCluster, web: PyWeb, rounds: int = 8) -> None:
    """A Tomcat request and a Python request on one session at the same time: each writes its own
    attribute, and both survive (last writer per attribute, not per session)."""
    import threading
    t1 = cluster.nodes[0]
    b = WebBrowser(lab)
    sid = b.new_session(t1)
    errors: list[str] = []

    def tomcat(i: int) -> None:
        r = WebBrowser(lab)
        r.cookies["/app"] = sid
        if r.get(t1, "/app/set", {"name": "from_tomcat", "type": "int", "value": str(i)}).status != 200:
            errors.append(f"tomcat {i}")

    def python(i: int) -> None:
        r = WebBrowser(lab)
        r.cookies["/app"] = sid
        st, _ = api(r, web, {"set": {"from_python": i}})
        if st != 200:
            errors.append(f"python {i}")

    for i in range(rounds):
        ts = [threading.Thread(target=tomcat, args=(i,)), threading.Thread(target=python, args=(i,))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
    assert not errors, errors
    last = rounds - 1

    def both() -> Any:
        t = peek_types(t1, sid)
        return t if t.get("from_tomcat") == ("java.lang.Integer", str(last)) and \
            t.get("from_python") == ("java.lang.Integer", str(last)) else None

    wait_until(both, what="both writers' last values on Tomcat")
    st, v = api(b, web)
    assert v["attributes"]["from_tomcat"] == {"class": "java.lang.Integer", "value": last}
    assert v["attributes"]["from_python"] == {"class": "java.lang.Integer", "value": last}
