"""A Python DeltaManager node in a real Tomcat 10.1 cluster (2 Tomcat nodes + 1 Python node).

Lab ``ts`` / 10.77.15: tomcat1 .1, tomcat2 .2, the Python node .50 (jvmRoute py1).
The numbers refer to the must-show list of issue 7.
"""
from __future__ import annotations

import base64
import time
from typing import Any, Callable, Iterator

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from interop.tomcat.node import Browser, TomcatCluster
from tests.interop.sessions_support import PyNode, attr_map, route_base, tj

pytestmark = pytest.mark.interop

VERSION = "10"


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    require_root_and_java(10, tomcat=True)
    return lab_factory("ts", "10.77.15")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 2, version=VERSION)


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster) -> Iterator[PyNode]:
    node = PyNode(lab.add_host("py", index=50), ["--jvm-route", "py1", "--context", "/app", "--context", "/",
                                                  "--version", "10.1", "--events"])
    try:
        assert node.ready["transfer"] == {"localhost#/app": "transferred", "localhost#": "transferred"}, node.ready
        # Tomcat sees us: wait until both nodes logged the Python member
        cluster.wait_membership(timeout=60)
        deadline = time.monotonic() + 60
        while not all("10.77.15.50" in n.members_from_log() for n in cluster.nodes):
            assert time.monotonic() < deadline, "Tomcat did not add the Python member"
            time.sleep(0.2)
        yield node
    finally:
        node.close()


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
