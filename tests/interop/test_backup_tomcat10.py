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
def py_version() -> str:
    return PY_VERSION


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster, py_version: str) -> Iterator[BackupPyNode]:
    yield from python_backup_member(lab, cluster, py_version)


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


def test_1b_tribes_sessions_cli_shows_roles(lab: Lab, cluster: TomcatCluster, py: BackupPyNode,
                                           py_version: str) -> None:
    """The real `tribes sessions --manager backup --json` command, as a short-lived member: every key of
    /app arrives by STATE as a proxy, with its primary and backup."""
    import json
    import sys
    from interop.lab import REPO_ROOT
    rows_py = sessions_json(py)
    host = lab.hosts.get("cli") or lab.add_host("cli", index=60)
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    r = host.run([sys.executable, "-m", "tribes.cli.main", "sessions", "--bind", host.address, "--manager", "backup",
                  "--tomcat-version", py_version, "--context", "/app", "--json"], env=env, timeout=180)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    rows = {o["id"]: o for o in (json.loads(x) for x in r.stdout.splitlines() if x.startswith("{"))
            if o.get("kind") == "session"}
    assert set(rows_py) <= set(rows), "the CLI node did not get every key"
    for sid, row in rows.items():
        if sid in rows_py:
            assert row["role"] == "proxy" and row["primaryMember"] == rows_py[sid]["primaryMember"], row
            assert row["backupMembers"] == rows_py[sid]["backupMembers"], row


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


def test_5_no_rpc_timeouts_and_no_rpc_channel_reply_for_maps_we_do_not_host(
        lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    # every Tomcat pings its ROOT map ("localhost#-map") on every heartbeat; the Python node hosts only
    # /app, so each of those RPCs must get NoRpcChannelReply at once (Tomcat would wait accessTimeout)
    first = py.call("stats")["no_rpc_replies"]
    wait_until(lambda: py.call("stats")["no_rpc_replies"] >= first + len(cluster.running()), timeout=30,
               what="NoRpcChannelReply answers to the Tomcat nodes' ROOT-map pings")
    for n in cluster.running():
        lines = rpc_timeout_lines(n)
        assert not lines, f"{n} logged RPC timeouts / unreadable map messages:\n" + "\n".join(lines)
    st = py.stats()
    assert st["bad_messages"] == 0 and st["rpc_bad"] == 0 and st["send_failures"] == 0, st
    assert st["state"] == "INITIALIZED" and not st["mixed_versions"]


def test_8_bad_input_is_logged_and_dropped_and_everything_else_stays(
        lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    from tribes.group.rpc import RpcMessage
    from tribes.javaser import dumps
    from tribes.tipis.map_message import MSG_PROXY, MSG_RETRIEVE_BACKUP, MapMessage

    before = py.call("roles", ctx="/app")["roles"]
    st0 = py.stats()
    mid = APP_MAP.encode()
    good_key = dumps("SOMEKEY.tomcat9")
    payloads = [
        dumps(MapMessage(mid, MSG_PROXY, key_bytes=b"\xac\xed\x00\x05t\x00\x09trunc").to_java("10.1")),  # corrupt key
        dumps(MapMessage(b"localhost#/nope-map", MSG_PROXY, key_bytes=good_key).to_java("10.1")),  # unknown map id
        dumps(MapMessage(mid, 99, key_bytes=good_key).to_java("10.1")),                         # unknown type
        dumps(RpcMessage(mid, os.urandom(16), MapMessage(mid, MSG_RETRIEVE_BACKUP, key_bytes=good_key).to_java("10.1"),
                         reply=True).to_java()),                                               # reply, unknown uuid
        b"\xac\xed\x00\x05sr\x00\x41org.apache.catalina.tribes.tipis.AbstractRep",                 # truncated stream
    ]
    acks = inject(py.host, py.host.address, payloads, options=2)
    assert acks == len(payloads)
    st = wait_until(lambda: (lambda s: s if s["bad_messages"] >= st0["bad_messages"] + 2 else None)(py.stats()),
                    what="bad messages counted")
    assert st["rpc_unknown_replies"] == st0["rpc_unknown_replies"] + 1
    log = py.log_text()
    for needle in ("unreadable key", "unknown type 99", "does not host", "no pending request",
                   "unable to deserialize"):
        assert needle in log, f"no log line with {needle!r}:\n{py.log_tail(30)}"
    assert py.call("roles", ctx="/app")["roles"] == before, "an entry changed"
    # the node keeps working: a new session reaches its Tomcat backup
    sid = py.call("create", ctx="/app", attrs={"after": tj("java.lang.String", "bad input")})["id"]
    v = py.view(sid)
    backup = next(n for n in cluster.running() if member_name(n.address) == v["backupMembers"][0])
    wait_until(lambda: sid in backup.sessions()["ids"], what="session after bad input on its backup")


def test_2_python_backup_serves_after_primary_killed(lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    t1 = cluster.nodes[0]
    b, sid = tomcat_session_with_py_role(lab, t1, py, "backup")
    fill(b, t1)
    py.wait_view(sid, lambda v: v is not None and {n for n, _, _ in VALUES} <= set(v.get("attributes", {})))
    t1.kill()
    survivors = [n for n in cluster.nodes[1:] if n.is_running()]
    r = b.get(survivors[0], "/app/dump")
    assert r.status == 200, r.body
    check_values(attr_map(r.json()))
    # the second survivor serves it as well (from whichever node is primary now)
    r = b.get(survivors[1], "/app/dump")
    assert r.status == 200, r.body
    check_values(attr_map(r.json()))


def test_4_start_up_after_1000_sessions_and_tomcat_start_with_python_primaries(
        lab: Lab, cluster: TomcatCluster, py: BackupPyNode, py_version: str) -> None:
    t = cluster.running()[0]
    status, body = t.get_json("/create", {"n": 1000, "prefix": "bulk", "sync": 0}, timeout=180)
    assert status == 200 and body["created"] == 1000, body
    creator = member_name(t.address)

    seen: dict[str, int] = {}

    def bulk() -> set[str] | None:
        rows = py.call("roles", ctx="/app")["roles"]
        seen.clear()
        for r in rows:
            seen[f"{r['role']} {r['primaryMember']}"] = seen.get(f"{r['role']} {r['primaryMember']}", 0) + 1
        ids = {r["id"] for r in rows if r["primaryMember"] == creator}
        return ids if len(ids) >= 1000 else None
    # the 1000 new sessions (earlier tests' keys may be in any state after their kills and renames)
    try:
        want = wait_until(bulk, timeout=120, what="1000 sessions known to the first Python node")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {creator} {seen}\n{py.log_tail(30)}") from None
    # a second Python node started now gets the whole map by STATE: every key, as a proxy, with primary+backup
    py2 = BackupPyNode(lab.add_host("pyb", index=51), ["--jvm-route", "py2", "--context", "/app",
                                                       "--version", py_version])
    try:
        assert py2.ready["maps"]["localhost#/app"]["entries"] >= len(want), py2.ready
        roles2 = {r["id"]: r for r in py2.call("roles", ctx="/app")["roles"]}
        assert want <= set(roles2)
        for k in want:
            r = roles2[k]
            assert r["role"] == "proxy", r
            assert r["primaryMember"] is not None and len(r["backupMembers"]) == 1, (
                r, py.view(k), py2.log_tail(40), [(n.jvm_route, k in n.sessions()["ids"]) for n in cluster.running()])
    finally:
        py2.close()
    # Python primaries, then a new Tomcat node: it serves every one of them
    ids = [py.call("create", ctx="/app", attrs={"n": tj("java.lang.Integer", i), "tag": tj("java.lang.String", f"p{i}")})["id"]
           for i in range(20)]
    t4 = cluster.add_node()
    for i, sid in enumerate(ids):
        b = Browser(lab)
        b.cookies["/app"] = sid
        r = b.get(t4, "/app/dump")
        assert r.status == 200, (sid, r.body)
        got = attr_map(r.json())
        assert got["n"] == {"type": "java.lang.Integer", "value": str(i)} and got["tag"]["value"] == f"p{i}", got


def test_6_failover_under_load_keeps_every_acknowledged_update(
        lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    import threading
    alive = cluster.running()
    tp = alive[0]
    b_py, sid_py = tomcat_session_with_py_role(lab, tp, py, "backup")
    b_tc, sid_tc = tomcat_session_with_py_role(lab, tp, py, "proxy")      # control: a Tomcat backup
    acked: dict[str, list[int]] = {sid_py: [], sid_tc: []}
    stop = threading.Event()

    def stream(b: Browser, sid: str) -> None:
        i = 0
        while not stop.is_set():
            try:
                r = b.get(tp, "/app/set", {"name": f"u{i}", "type": "int", "value": str(i)}, timeout=5)
                if r.status == 200:
                    acked[sid].append(i)
            except Exception:
                return
            i += 1

    threads = [threading.Thread(target=stream, args=a) for a in ((b_py, sid_py), (b_tc, sid_tc))]
    for th in threads:
        th.start()
    wait_until(lambda: min(len(v) for v in acked.values()) >= 40, what="updates flowing")
    tp.kill()
    stop.set()
    for th in threads:
        th.join(30)
    failures = [ln for ln in tp.log_text().splitlines() if "Unable to replicate" in ln]
    other = next(n for n in cluster.running() if n is not tp)
    lost: dict[str, list[int]] = {}
    for b, sid in ((b_py, sid_py), (b_tc, sid_tc)):
        r = b.get(other, "/app/dump")
        assert r.status == 200, r.body
        have = attr_map(r.json())
        lost[sid] = [i for i in acked[sid] if f"u{i}" not in have]
    print(f"\nfailover under load: Python backup {len(acked[sid_py])} acked, lost {lost[sid_py]}; "
          f"Tomcat backup (control) {len(acked[sid_tc])} acked, lost {lost[sid_tc]}; send failures logged "
          f"by the killed primary: {len(failures)}")
    assert len(lost[sid_py]) <= len(failures), f"acknowledged updates lost with the Python backup: {lost[sid_py]}"
