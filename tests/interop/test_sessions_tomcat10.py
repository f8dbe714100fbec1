"""A Python DeltaManager node in a real Tomcat 10.1 cluster (2 Tomcat nodes + 1 Python node).

Lab ``ts`` / 10.77.15: tomcat1 .1, tomcat2 .2, the Python node .50 (jvmRoute py1).
The numbers refer to the must-show list of issue 7.
"""
from __future__ import annotations

import base64
import time
from typing import Any, Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import Browser, TomcatCluster
from tests.interop.sessions_support import PyNode, attr_map, inject, python_member, route_base, session_lab, tj

pytestmark = pytest.mark.interop

VERSION = "10"


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    return session_lab(lab_factory, "ts", [VERSION])


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 2, version=VERSION)


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster) -> Iterator[PyNode]:
    yield from python_member(lab, cluster, "10.1")


def set_attr(b: Browser, node: Any, name: str, typ: str, value: str, ctx: str = "/app") -> dict[str, Any]:
    r = b.get(node, f"{ctx if ctx != '/' else ''}/set", {"name": name, "type": typ, "value": value})
    assert r.status == 200, r.body
    return r.json()


def test_1_tomcat_session_appears_in_python_with_equal_values(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    t1, t2 = cluster.nodes
    b = Browser(lab)
    sid = b.new_session(t1, replicas=[t2])
    py.wait_session("/app", sid)
    values = [("s", "string", "héllo wörld"), ("i", "int", "42"), ("l", "long", "9007199254740993"),
              ("z", "bool", "true"), ("d", "double", "2.5"), ("b", "bytes", "00ff10"), ("lst", "list", "a,b,c"),
              ("m", "map", "k1=v1,k2=v2"), ("bean", "bean", "custom text:7")]
    for name, typ, value in values:
        set_attr(b, t1, name, typ, value)
    view = py.wait_session("/app", sid, lambda s: s is not None and {"s", "bean", "m"} <= set(s["attributes"]))
    a = view["attributes"]
    assert a["s"] == tj("java.lang.String", "héllo wörld")
    assert a["i"] == tj("java.lang.Integer", 42)
    assert a["l"] == tj("java.lang.Long", "9007199254740993")
    assert a["z"] == tj("java.lang.Boolean", True)
    assert a["d"] == tj("java.lang.Double", 2.5)
    assert a["b"] == tj("[B", base64.b64encode(bytes.fromhex("00ff10")).decode())
    assert a["lst"] == tj("java.util.ArrayList", [tj("java.lang.String", x) for x in "abc"])
    assert a["m"]["class"] == "java.util.HashMap"
    assert sorted((k["value"], v["value"]) for k, v in a["m"]["value"]) == [("k1", "v1"), ("k2", "v2")]
    assert a["bean"]["class"] == "tribeslab.Bean"
    assert a["bean"]["fields"]["count"] == 7 and a["bean"]["fields"]["text"]["value"] == "custom text"
    assert view["id"] == sid and view["maxInactiveInterval"] == 1800 and not view["primary"]


def test_2_python_session_served_by_tomcat2(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    t1, t2 = cluster.nodes
    attrs = {"s": tj("java.lang.String", "from python"), "i": tj("java.lang.Integer", -5),
             "l": tj("java.lang.Long", 1 << 40), "z": tj("java.lang.Boolean", False),
             "d": tj("java.lang.Double", 0.125), "b": tj("[B", base64.b64encode(b"\x01\x02").decode()),
             "lst": tj("java.util.ArrayList", [tj("java.lang.String", "x"), tj("java.lang.Integer", 1)]),
             "m": tj("java.util.HashMap", [[tj("java.lang.String", "k"), tj("java.lang.String", "v")]])}
    sid = py.call("create", ctx="/app", attrs=attrs)["id"]
    assert sid.endswith(".py1")
    for node in (t1, t2):
        node.wait_session(sid, names=list(attrs))
    b = Browser(lab)
    b.cookies["/app"] = sid
    r = b.get(t2, "/app/dump")
    assert r.status == 200, r.body
    new_id = b.session_id("/app")
    assert new_id == route_base(sid) + ".tomcat2", "JvmRouteBinderValve renames to the serving node's route"
    d = r.json()
    assert d["id"] == new_id
    got = attr_map(d)
    assert got["s"] == {"type": "java.lang.String", "value": "from python"}
    assert got["i"] == {"type": "java.lang.Integer", "value": "-5"}
    assert got["l"] == {"type": "java.lang.Long", "value": str(1 << 40)}
    assert got["z"] == {"type": "java.lang.Boolean", "value": "false"}
    assert got["d"] == {"type": "java.lang.Double", "value": "0.125"}
    assert got["b"] == {"type": "[B", "value": "0102"}
    assert got["lst"] == {"type": "java.util.ArrayList", "value": "[x, 1]"}
    assert got["m"] == {"type": "java.util.HashMap", "value": "{k=v}"}
    # the rename reached the Python node (EVT_CHANGE_SESSION_ID)
    py.wait_session("/app", new_id)
    assert py.session("/app", sid) is None
    # and the session keeps working on the new id
    r = b.get(t2, "/app/get", {"name": "s"})
    assert r.json()["value"] == "from python"


def peek_attrs(node: Any, sid: str) -> dict[str, Any] | None:
    v = node.peek(sid)
    return None if v is None else attr_map(v)


def wait_until(pred: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"{what} not met after {timeout} s"
        time.sleep(0.1)


def test_3_updates_removals_invalidate_and_expiry_both_ways(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    t1, t2 = cluster.nodes
    b = Browser(lab)
    sid = b.new_session(t1, replicas=[t2])
    py.wait_session("/app", sid)
    # Tomcat -> Python: update and removal
    set_attr(b, t1, "color", "string", "red")
    py.wait_session("/app", sid, lambda v: v["attributes"].get("color", {}).get("value") == "red")
    set_attr(b, t1, "color", "string", "blue")
    py.wait_session("/app", sid, lambda v: v["attributes"].get("color", {}).get("value") == "blue")
    assert b.get(t1, "/app/remove", {"name": "color"}).status == 200
    py.wait_session("/app", sid, lambda v: "color" not in v["attributes"])
    # Python -> Tomcat: update and removal on the same session
    py.call("set", ctx="/app", id=sid, name="size", value=tj("java.lang.Integer", 9))
    for n in (t1, t2):
        wait_until(lambda: (peek_attrs(n, sid) or {}).get("size") == {"type": "java.lang.Integer", "value": "9"},
                   what=f"size=9 on {n}")
    py.call("set", ctx="/app", id=sid, name="size", value=tj("java.lang.Integer", 10))
    py.call("remove", ctx="/app", id=sid, name="created-on")
    for n in (t1, t2):
        wait_until(lambda: (lambda a: a is not None and a.get("size", {}).get("value") == "10"
                            and "created-on" not in a)(peek_attrs(n, sid)), what=f"update+remove on {n}")
    # Tomcat invalidate -> gone on Python
    assert b.get(t1, "/app/invalidate").status == 200
    py.wait_session("/app", sid, lambda v: v is None)
    assert t2.peek(sid) is None
    # Python invalidate -> gone on both Tomcats
    pid = py.call("create", ctx="/app", attrs={"x": tj("java.lang.String", "y")})["id"]
    for n in (t1, t2):
        n.wait_session(pid, ["x"])
    assert py.call("invalidate", ctx="/app", id=pid)["invalidated"]
    for n in (t1, t2):
        wait_until(lambda: n.peek(pid) is None, what=f"invalidation on {n}")


def test_3_expiry_both_ways(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    t1, t2 = cluster.nodes
    # Tomcat's primary session expires on Tomcat: EVT_SESSION_EXPIRED removes it from Python
    b = Browser(lab)
    sid = b.new_session(t1, replicas=[t2])
    py.wait_session("/app", sid)
    r = b.get(t1, "/app/maxinactive", {"seconds": "3"})
    assert r.status == 200
    py.wait_session("/app", sid, lambda v: v is not None and v["maxInactiveInterval"] == 3)
    t_set = time.monotonic()
    py.wait_session("/app", sid, lambda v: v is None, timeout=30)
    gone_after = time.monotonic() - t_set
    assert gone_after >= 2.5, f"expired too early ({gone_after:.1f} s)"
    # Python's primary session expires on Python after maxInactiveInterval and Tomcat drops its
    # copy at once (its own backup copy would live 2 x 4 s of idleness)
    pid = py.call("create", ctx="/app", attrs={"x": tj("java.lang.String", "y")}, max_inactive=4)["id"]
    t0 = time.monotonic()
    for n in (t1, t2):
        n.wait_session(pid, ["x"])
        assert n.peek(pid)["maxInactiveInterval"] == 4
    wait_until(lambda: py.session("/app", pid) is None, timeout=30, what="python expiry")
    py_gone = time.monotonic() - t0
    for n in (t1, t2):
        wait_until(lambda: n.peek(pid) is None, timeout=30, what=f"expiry replicated to {n}")
    tomcat_gone = time.monotonic() - t0
    assert 3.5 <= py_gone and tomcat_gone < 7.5, (py_gone, tomcat_gone)


def test_7_unknown_class_passes_through_python_to_tomcat(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    t1, t2 = cluster.nodes
    b = Browser(lab)
    sid = b.new_session(t1, replicas=[t2])
    py.wait_session("/app", sid)
    set_attr(b, t1, "bean", "bean", "opaque to python:123")
    py.wait_session("/app", sid, lambda v: "bean" in v["attributes"])
    # Python copies the value it cannot interpret into a session of its own
    pid = py.call("create", ctx="/app", attrs={"marker": tj("java.lang.String", "m")})["id"]
    for n in (t1, t2):
        n.wait_session(pid, ["marker"])
    py.call("set_raw", ctx="/app", id=pid, name="copied", from_id=sid, from_name="bean")
    for n in (t1, t2):
        v = n.wait_session(pid, ["copied"])
        assert attr_map(v)["copied"] == {"type": "tribeslab.Bean", "value": "Bean{text=opaque to python, count=123}"}


def test_9_bad_input_is_logged_and_dropped(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    from tribes.managers.delta_request import DeltaRequest
    from tribes.managers.session_message import SessionMessage
    pid = py.call("create", ctx="/app", attrs={"keep": tj("java.lang.String", "me")})["id"]
    before = py.call("stats")
    good = DeltaRequest(pid)
    good.set_attribute("after", "bad input")
    msgs = [
        SessionMessage(13, "localhost#/app", pid, b"\xac\xed\x00\x05\x77\x05\x00\x03ab", "u", 1).encode(),  # corrupt delta
        SessionMessage(77, "localhost#/app", pid, None, "u", 1).encode(),                       # unknown event
        SessionMessage(13, "localhost#/nosuch", pid, good.serialize(), "u", 1).encode(),        # unknown context
        SessionMessage(12, "localhost#/app", "SESSION-STATE", b"\xac\xed\x00\x05garbage", "u", 1).encode(),
        b"\xac\xed\x00\x05\x73\x72\x00\x05broken",                                               # torn envelope
    ]
    inj = lab.add_host("inj", index=60)
    assert inject(inj, "10.77.15.50", msgs, options=2 | 4) == len(msgs)   # every message still ACKed
    after = py.call("stats")
    app = after["managers"]["localhost#/app"]
    assert app["dropped"] - before["managers"]["localhost#/app"]["dropped"] == 3
    assert after["unknown_context"] - before["unknown_context"] == 1
    assert py.session("/app", pid)["attributes"]["keep"]["value"] == "me"
    assert app["sessions"] == before["managers"]["localhost#/app"]["sessions"]
    log = py.log_tail(60)
    assert "unknown event type 77" in log and "corrupt DeltaRequest" in log and "localhost#/nosuch" in log
    # the node still works both ways after the bad input
    inject(inj, "10.77.15.50", [SessionMessage(13, "localhost#/app", pid, good.serialize(), "u", 2).encode()])
    py.wait_session("/app", pid, lambda v: v["attributes"].get("after", {}).get("value") == "bad input")
    cluster.nodes[1].wait_session(pid, ["keep"])


def run_cli(lab: Lab, args: list[str], timeout: float = 120) -> Any:
    import os
    import sys
    from interop.lab import REPO_ROOT
    host = lab.hosts.get("cli") or lab.add_host("cli", index=51)
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    res = host.run([sys.executable, "-m", "tribes.cli.main", "sessions", "--bind", host.address, *args],
                   env=env, timeout=timeout)
    return res


def test_8_operator_commands_act_on_real_tomcat(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    import json
    t1, t2 = cluster.nodes
    res = run_cli(lab, ["--context", "/app", "create", "user=operator", "team=ops"])
    assert res.returncode == 0, res.stderr[-3000:]
    sid = res.stdout.strip().splitlines()[-1]
    assert len(sid) == 32, res.stdout
    for n in (t1, t2):
        n.wait_session(sid, ["user", "team"])
    b = Browser(lab)
    b.cookies["/app"] = sid
    r = b.get(t2, "/app/get", {"name": "user"})
    assert r.status == 200 and r.json()["value"] == "operator" and r.json()["type"] == "java.lang.String"
    sid2 = b.session_id("/app")
    res = run_cli(lab, ["--context", "/app", "set", sid2, "n", "5", "--java-type", "Integer"])
    assert res.returncode == 0, res.stderr[-3000:]
    t1.wait_session(sid2, ["n"])
    assert attr_map(t1.peek(sid2))["n"] == {"type": "java.lang.Integer", "value": "5"}
    res = run_cli(lab, ["--context", "/app", "remove", sid2, "team"])
    assert res.returncode == 0, res.stderr[-3000:]
    wait_until(lambda: "team" not in attr_map(t2.peek(sid2)), what="remove on tomcat2")
    # listing as JSON shows it with Java-typed attributes
    res = run_cli(lab, ["--context", "/app", "--json"])
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    mine = [r for r in rows if r["kind"] == "session" and r["id"] == sid2]
    assert mine and mine[0]["context"] == "/app" and mine[0]["attributes"]["n"] == {"class": "java.lang.Integer",
                                                                                     "value": 5}
    # a logged-in user is logged out on every node by `tribes sessions invalidate`
    u = Browser(lab)
    who = u.login(t1)
    assert who.json()["user"] == "alice"
    login_id = u.session_id("/app")
    py.wait_session("/app", login_id, lambda v: v is not None and v["principal"] == "alice")
    # tomcat2 may miss it: Tomcat's own async replication of a login (CREATED, then CHANGE_SESSION_ID
    # from the id rotation) can be processed out of order by tomcat2's receiver threads
    try:
        t2.wait_session(login_id, timeout=15)
    except Exception:
        print(f"note: tomcat2 never got {login_id} from tomcat1 (Tomcat's own reordering)")
    res = run_cli(lab, ["--context", "/app", "invalidate", login_id])
    assert res.returncode == 0, res.stderr[-3000:]
    for n in (t1, t2):
        wait_until(lambda: n.peek(login_id) is None, what=f"logout on {n}")
        r = u.get(n, "/app/secure/whoami")
        assert "tribeslab-login-page" in r.body or r.json().get("user") is None
    res = run_cli(lab, ["--context", "/app", "invalidate", "NOSUCHSESSION"])
    assert res.returncode == 1 and "no session NOSUCHSESSION" in res.stderr


def test_root_context_both_ways(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    t1, t2 = cluster.nodes
    b = Browser(lab)
    r = b.get(t1, "/set", {"name": "root-attr", "type": "int", "value": "11"})
    assert r.status == 200, r.body
    sid = r.json()["id"]
    v = py.wait_session("/", sid, lambda s: s is not None and "root-attr" in s["attributes"])
    assert v["context"] == "/" and v["attributes"]["root-attr"] == tj("java.lang.Integer", 11)
    assert py.session("/app", sid) is None
    pid = py.call("create", ctx="/", attrs={"r": tj("java.lang.String", "root from python")})["id"]
    t2.wait_session(pid, ["r"], ctx="ROOT")
    pb = Browser(lab)
    pb.cookies["/"] = pid
    r = pb.get(t2, "/get", {"name": "r"})
    assert r.status == 200 and r.json()["value"] == "root from python"
    assert pb.session_id("/") == route_base(pid) + ".tomcat2"


def test_6_login_replicates_to_python_and_back(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    """The failover half of must-show 6 (kill -9, no new login) is in test_sessions_failover.py."""
    t1, t2 = cluster.nodes
    u = Browser(lab)
    assert u.login(t1).json()["user"] == "alice"
    sid = u.session_id("/app")
    v = py.wait_session("/app", sid, lambda s: s is not None and s["principal"] == "alice")
    assert v["authType"] == "FORM"
    # back: a logged-in session made by Python is accepted by Tomcat without a login
    pid = py.call("create", ctx="/app", attrs={"m": tj("java.lang.String", "x")},
                  principal={"name": "alice", "roles": ["tribes"]}, auth_type="FORM")["id"]
    assert t2.wait_session(pid, ["m"])["user"] == "alice"
    pb = Browser(lab)
    pb.cookies["/app"] = pid
    r = pb.get(t2, "/app/secure/whoami")
    assert r.status == 200 and "tribeslab-login-page" not in r.body and r.json()["user"] == "alice", r.body
    # and Tomcat's login, held by Python, goes to a Tomcat that serves it: Python renames it on
    # tomcat2's request (JvmRouteBinderValve) and keeps the principal
    assert pb.session_id("/app") == route_base(pid) + ".tomcat2"
    py.wait_session("/app", pb.session_id("/app"), lambda s: s is not None and s["principal"] == "alice")


def test_8_follow_prints_replicated_changes(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    import json
    import os
    import subprocess
    import sys
    import threading
    from interop.lab import REPO_ROOT
    t1, t2 = cluster.nodes
    b = Browser(lab)
    sid = b.new_session(t1, replicas=[t2])
    host = lab.hosts.get("cli2") or lab.add_host("cli2", index=52)
    proc = host.popen([sys.executable, "-m", "tribes.cli.main", "sessions", "--bind", host.address, "--context",
                       "/app", "--json", "--follow", "--duration", "25"], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": REPO_ROOT})
    lines: list[dict[str, Any]] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                lines.append(json.loads(line))
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    wait_until(lambda: any(x["kind"] == "ready" for x in lines), timeout=60, what="tribes sessions ready")
    wait_until(lambda: any(x["kind"] == "session" and x["id"] == sid for x in lines), timeout=30,
               what="the fetched session printed")
    set_attr(b, t1, "followed", "int", "99")
    wait_until(lambda: [x for x in lines if x["kind"] == "event" and x["id"] == sid and x["name"] == "followed"],
               timeout=30, what="followed change printed")
    ev = [x for x in lines if x["kind"] == "event" and x["name"] == "followed"][0]
    assert ev["event"] == "attribute_added" and ev["value"] == {"class": "java.lang.Integer", "value": 99}
    assert ev["context"] == "/app" and ev["replicated"] is True
    host.kill(proc)
