"""A Python BackupManager node in a real Tomcat 10.1 BackupManager cluster (3 Tomcat nodes + the Python node).

Lab ``bkt`` / 10.77.150: tomcat1..3 .1-.3 (BackupManager on /app and ROOT), the Python node .50
(jvmRoute py1, /app only, so every ROOT-map RPC it gets must be answered with NoRpcChannelReply).
The numbers refer to the must-show list of issue 15. The module runs the items in this order:
1, 3, 5, 8, 2 (kills tomcat1), 4 (starts tomcat4 and a second Python node), 6 (kills a primary).
"""
from __future__ import annotations

import base64
import os
import time
from typing import Any, Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import Browser, TomcatCluster, TomcatNode
from tests.interop.backup_support import (APP_MAP, BackupPyNode, backup_config, member_name, python_backup_member,
                                          rpc_timeout_lines, sessions_json, wait_until)
from tests.interop.sessions_support import attr_map, inject, tj

pytestmark = pytest.mark.interop

VERSION = "10"
PY_VERSION = "10.1"
SUBNET = "10.77.150"


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    from interop.fixtures import require_root_and_java
    require_root_and_java(int(VERSION), tomcat=True)
    return lab_factory("bkt", SUBNET)


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 3, version=VERSION, cluster=backup_config())


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster) -> Iterator[BackupPyNode]:
    yield from python_backup_member(lab, cluster, PY_VERSION)


VALUES = [("s", "string", "héllo wörld"), ("i", "int", "42"), ("l", "long", "9007199254740993"),
          ("z", "bool", "true"), ("b", "bytes", "00ff10"), ("lst", "list", "a,b,c"), ("bean", "bean", "custom:7")]


def tomcat_session_with_py_role(lab: Lab, t: TomcatNode, py: BackupPyNode, role: str,
                                tries: int = 8) -> tuple[Browser, str]:
    """Create sessions on `t` until the Python node holds one in `role` (Tomcat picks backups round-robin)."""
    for _ in range(tries):
        b = Browser(lab)
        r = b.get(t, "/app/set", {"name": "created-on", "value": t.jvm_route})
        assert r.status == 200, r.body
        sid = r.json()["id"]
        v = py.wait_view(sid)
        if v["role"] == role:
            return b, sid
    raise AssertionError(f"the Python node never became {role} of a session made on {t} in {tries} tries")


def fill(b: Browser, t: TomcatNode) -> None:
    for name, typ, value in VALUES:
        r = b.get(t, "/app/set", {"name": name, "type": typ, "value": value})
        assert r.status == 200, r.body


def check_values(attrs: dict[str, Any]) -> None:
    assert attrs["s"] == {"type": "java.lang.String", "value": "héllo wörld"}
    assert attrs["i"] == {"type": "java.lang.Integer", "value": "42"}
    assert attrs["l"] == {"type": "java.lang.Long", "value": "9007199254740993"}
    assert attrs["z"] == {"type": "java.lang.Boolean", "value": "true"}
    assert attrs["b"] == {"type": "[B", "value": "00ff10"}
    assert attrs["lst"] == {"type": "java.util.ArrayList", "value": "[a, b, c]"}
    assert attrs["bean"]["type"] == "tribeslab.Bean"


def test_1_tomcat_sessions_held_as_proxy_and_backup(lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    t1 = cluster.nodes[0]
    b, sid = tomcat_session_with_py_role(lab, t1, py, "backup")
    fill(b, t1)
    v = py.wait_view(sid, lambda v: v is not None and "bean" in v.get("attributes", {}))
    assert v["attributes"]["s"] == tj("java.lang.String", "héllo wörld")
    assert v["attributes"]["i"] == tj("java.lang.Integer", 42)
    assert v["attributes"]["b"] == tj("[B", base64.b64encode(bytes.fromhex("00ff10")).decode())
    _, psid = tomcat_session_with_py_role(lab, t1, py, "proxy")
    rows = sessions_json(py)
    assert rows[sid]["role"] == "backup" and rows[psid]["role"] == "proxy"
    for r in (rows[sid], rows[psid]):
        assert r["primaryMember"] == member_name(t1.address)
        assert len(r["backupMembers"]) == 1
    assert rows[sid]["backupMembers"] == [py.ready["local"]]
    assert rows[psid]["backupMembers"][0] in {member_name(n.address) for n in cluster.nodes[1:]}
    assert rows[sid]["attributes"]["i"]["value"] == 42 and "attributes" not in rows[psid]


def test_3_python_primary_gets_tomcat_backup_and_proxies(lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    attrs = {"s": tj("java.lang.String", "from python"), "i": tj("java.lang.Integer", -5),
             "l": tj("java.lang.Long", 1 << 40), "z": tj("java.lang.Boolean", False),
             "b": tj("[B", base64.b64encode(b"\x01\x02").decode()),
             "lst": tj("java.util.ArrayList", [tj("java.lang.String", "x"), tj("java.lang.Integer", 1)])}
    sid = py.call("create", ctx="/app", attrs=attrs)["id"]
    py.call("set", ctx="/app", id=sid, name="later", value=tj("java.lang.String", "a diff"))
    v = py.view(sid)
    assert v is not None and v["role"] == "primary" and len(v["backupMembers"]) == 1
    backup = next(n for n in cluster.running() if member_name(n.address) == v["backupMembers"][0])
    # the backup holds the value (findSessions lists it); the others only a proxy
    wait_until(lambda: sid in backup.sessions()["ids"], what=f"{sid} on the backup {backup}")
    proxies = [n for n in cluster.running() if n is not backup]
    for n in proxies:
        assert sid not in n.sessions()["ids"], f"{n} should hold only a proxy"
    # a request on a proxy node fetches the session (RETRIEVE_BACKUP) and serves the Python-made attributes
    b = Browser(lab)
    b.cookies["/app"] = sid
    r = b.get(proxies[0], "/app/dump")
    assert r.status == 200, r.body
    got = attr_map(r.json())
    assert got["s"] == {"type": "java.lang.String", "value": "from python"}
    assert got["i"] == {"type": "java.lang.Integer", "value": "-5"}
    assert got["l"] == {"type": "java.lang.Long", "value": str(1 << 40)}
    assert got["z"] == {"type": "java.lang.Boolean", "value": "false"}
    assert got["b"] == {"type": "[B", "value": "0102"}
    assert got["lst"] == {"type": "java.util.ArrayList", "value": "[x, 1]"}
    assert got["later"] == {"type": "java.lang.String", "value": "a diff"}
