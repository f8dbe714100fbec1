"""A real Tomcat 10.1.60 cluster with the 10.1 default EncryptInterceptor (AES/GCM/NoPadding) and a
Python node configured from the same server.xml (lab ``ectc`` / 10.77.15): membership, state
transfer, deltas both ways, typed attributes, invalidate, login (the browser-free session checks of
test_sessions_tomcat10.py, collected here with this module's fixtures); replay to Tomcat and to
Python; a plaintext SessionMessage refused before deserialization; a 9.0-format node diagnosed.
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import SERVER_XML, ClusterConfig, TomcatCluster
from tests.interop.encrypt_support import KEYS, interceptors_xml
from tests.interop.sessions_support import PyNode, inject, session_lab
from tests.interop.test_sessions_tomcat10 import (  # noqa: F401  (collected here with this module's fixtures)
    test_1_tomcat_session_appears_in_python_with_equal_values, test_2_python_session_served_by_tomcat2,
    test_3_updates_removals_invalidate_and_expiry_both_ways, test_6_login_replicates_to_python_and_back)

pytestmark = pytest.mark.interop

VERSION = "10"
PY_VERSION = "10.1"
LAB = "ectc"
KEY = KEYS[256]


def cluster_config() -> ClusterConfig:
    return ClusterConfig(interceptors_xml=interceptors_xml(KEY))


def write_server_xml(cfg: ClusterConfig, address: str, index: int, jvm_route: str) -> str:
    """The server.xml the Tomcat nodes get, rendered for the Python node's address."""
    text = SERVER_XML.format(index=index, address=address, http_port=8080, jvm_route=jvm_route,
                             cluster=cfg.render(address, index))
    fd, path = tempfile.mkstemp(prefix=f"{LAB}-server-", suffix=".xml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def start_python(lab: Lab, cluster: TomcatCluster, version: str, index: int = 50, name: str = "py",
                 route: str = "py1", extra: tuple[str, ...] = ()) -> PyNode:
    host = lab.add_host(name, index=index)
    path = write_server_xml(cluster.config, host.address, index, route)
    return PyNode(host, ["--server-xml", path, "--jvm-route", route, "--context", "/app", "--context", "/",
                         "--version", version, "--events", "--manager", "processExpiresFrequency=1",
                         "--background-delay", "1", *extra])


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    return session_lab(lab_factory, LAB, [VERSION])


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 2, version=VERSION, cluster=cluster_config())


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster) -> Iterator[PyNode]:
    node = start_python(lab, cluster, PY_VERSION)
    try:
        assert node.ready["transfer"] == {"localhost#/app": "transferred", "localhost#": "transferred"}, node.ready
        deadline = time.monotonic() + 60
        while not all(node.host.address in n.members_from_log() for n in cluster.nodes):
            assert time.monotonic() < deadline, "Tomcat did not add the Python member"
            time.sleep(0.2)
        yield node
    finally:
        node.close()


def test_0_traffic_is_encrypted_and_counted(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    st = py.call("stats")["encrypt"]
    fmt = "10.1" if cluster.version == "10" else "9.0"
    assert st["algorithm"] == ("AES/GCM/NoPadding" if fmt == "10.1" else "AES/CBC/PKCS5Padding"), st
    assert st["format"] == fmt and st["keyBits"] == 256
    assert st["encrypted"] >= 2 and st["decrypted"] >= 2, st  # state transfer of both contexts
    assert st["rejectedTotal"] == 0, st
    for node in cluster.nodes:
        assert "Failed to decrypt" not in node.log_text() and "replay attack" not in node.log_text()


def _sealed(msg: bytes) -> bytes:
    from tribes.interceptors.encrypt import FORMAT_10, EncryptionSettings, seal
    return seal(EncryptionSettings.create(KEY, None, FORMAT_10), msg, int(time.time() * 1000))


def test_replay_is_rejected_by_tomcat_and_by_python(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    """A valid encrypted SESSION_CREATED, delivered, then the session expired, then the same frame
    replayed: neither real Tomcat 10.1 nor the Python node re-creates the session."""
    from tribes.managers.session_message import EVT_SESSION_CREATED, EVT_SESSION_EXPIRED, SessionMessage
    t1 = cluster.nodes[0]
    inj = lab.hosts.get("inj") or lab.add_host("inj", index=60)
    for target, sid in ((t1.address, "REPLAYTOMCAT0000000000000000001.tomcat1"),
                        (py.host.address, "REPLAYPYTHON0000000000000000001.tomcat1")):
        create = _sealed(SessionMessage(EVT_SESSION_CREATED, "localhost#/app", sid, None, sid + "-c", 1).encode())
        expire = _sealed(SessionMessage(EVT_SESSION_EXPIRED, "localhost#/app", sid, None, sid + "-e", 2).encode())
        assert inject(inj, target, [create]) == 1
        if target == t1.address:
            t1.wait_session(sid)
        else:
            py.wait_session("/app", sid)
        assert inject(inj, target, [expire]) == 1
        if target == t1.address:
            deadline = time.monotonic() + 30
            while t1.peek(sid) is not None:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        else:
            py.wait_session("/app", sid, lambda s: s is None)
        assert inject(inj, target, [create]) == 1  # the captured frame, replayed (ACKed, then dropped)
        time.sleep(1.5)
        if target == t1.address:
            assert t1.peek(sid) is None
            assert "replay attack detected" in t1.log_text()
        else:
            assert py.session("/app", sid) is None
    st = py.call("stats")["encrypt"]
    assert st["rejected"]["replay"] >= 1, st
    assert "replayed message" in "\n".join(py.stderr)


def test_tampered_frame_changes_no_session(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    """A captured SESSION_CREATED with one flipped bit. GCM (10.1): refused at decrypt. CBC (9.0, no
    integrity): it decrypts, but the flipped IV bit breaks the Java stream header, so the stream check
    fails before any object is built. Either way no session appears, on Python or on Tomcat."""
    from tribes.interceptors.encrypt import FORMAT_9, FORMAT_10, EncryptionSettings, seal
    from tribes.managers.session_message import EVT_SESSION_CREATED, SessionMessage
    fmt = FORMAT_10 if cluster.version == "10" else FORMAT_9
    settings = EncryptionSettings.create(KEY, None, fmt)
    inj = lab.hosts.get("inj") or lab.add_host("inj", index=60)
    before = py.call("stats")["encrypt"]
    for target, sid in ((py.host.address, "TAMPERED0000000000000000000000P1.tomcat1"),
                        (cluster.nodes[0].address, "TAMPERED0000000000000000000000T1.tomcat1")):
        msg = SessionMessage(EVT_SESSION_CREATED, "localhost#/app", sid, None, sid + "-c", 1).encode()
        payload = bytearray(seal(settings, msg, int(time.time() * 1000)))
        payload[0] ^= 0x01  # IV byte 0: GCM tag fails; CBC flips plaintext byte 0 (0xAC of the stream magic)
        assert inject(inj, target, [bytes(payload)]) == 1
    time.sleep(1.5)
    assert py.session("/app", "TAMPERED0000000000000000000000P1.tomcat1") is None
    assert cluster.nodes[0].peek("TAMPERED0000000000000000000000T1.tomcat1") is None
    after = py.call("stats")["encrypt"]
    if fmt == FORMAT_10:
        assert after["rejected"]["decrypt"] == before["rejected"]["decrypt"] + 1
    else:
        assert after["decrypted"] >= before["decrypted"] + 1  # CBC cannot tell...
        assert "unable to deserialize a message from" in "\n".join(py.stderr)  # ...the stream header can


def test_plaintext_session_message_is_refused_before_deserialization(lab: Lab, cluster: TomcatCluster,
                                                                    py: PyNode) -> None:
    from tribes.managers.session_message import EVT_SESSION_CREATED, SessionMessage
    sid = "PLAINTEXT00000000000000000000001.tomcat1"
    before = py.call("stats")
    plain = SessionMessage(EVT_SESSION_CREATED, "localhost#/app", sid, None, sid + "-c", 1).encode()
    inj = lab.hosts.get("inj") or lab.add_host("inj", index=60)
    assert inject(inj, py.host.address, [plain] * 3) == 3
    time.sleep(1.0)
    after = py.call("stats")
    assert py.session("/app", sid) is None
    assert after["encrypt"]["rejected"]["decrypt"] - before["encrypt"]["rejected"]["decrypt"] == 3
    # nothing reached the cluster layer: no bad or dropped message was counted there (no Java stream read)
    assert after["bad_messages"] == before["bad_messages"]
    assert after["managers"]["localhost#/app"]["dropped"] == before["managers"]["localhost#/app"]["dropped"]
    assert f"cannot decrypt message from tcp://{{{inj.address.replace('.', ', ')}}}" in "\n".join(py.stderr)


def test_tribes_join_shows_the_counters(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    """`tribes join --config server.xml --json` (same file) decrypts Tomcat's session traffic and its
    summary carries the EncryptInterceptor counters."""
    import json
    import subprocess
    from interop.tomcat.node import Browser
    from tests.interop.test_sessions_tomcat10 import set_attr
    host = lab.add_host("join", index=54)
    path = write_server_xml(cluster.config, host.address, 54, "pyjoin")
    proc = host.python(["-m", "tribes.cli.main", "join", "--config", path, "--bind", host.address, "--json",
                        "--context", "/app", "--duration", "12"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not all(host.address in n.members_from_log() for n in cluster.nodes):
            assert time.monotonic() < deadline and proc.poll() is None, "Tomcat did not add the join node"
            time.sleep(0.2)
        b = Browser(lab)
        t1, t2 = cluster.nodes
        b.new_session(t1, replicas=[t2])
        set_attr(b, t1, "seen", "string", "by join")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            host.kill(proc)
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    summary = next(x for x in lines if x.get("event") == "summary" or x.get("kind") == "summary")
    enc = summary["encryption"]
    assert enc["algorithm"] == "AES/GCM/NoPadding" and enc["format"] == "10.1", enc
    assert enc["decrypted"] >= 1 and enc["encrypted"] >= 1 and enc["rejectedTotal"] == 0, (enc, err[-2000:])


def test_wrong_key_node_accepts_nothing_and_keeps_its_sessions(lab: Lab, cluster: TomcatCluster, py: PyNode) -> None:
    """A Python node with the same server.xml but another key: Tomcat's session traffic is refused
    ("cannot decrypt message from <member>"), nothing is deserialized, its own session stays, and
    Tomcat refuses its messages ("Failed to decrypt message") without creating anything."""
    from interop.tomcat.node import Browser
    from tests.interop.encrypt_support import WRONG_KEY
    from tests.interop.test_sessions_tomcat10 import set_attr
    host = lab.add_host("pywk", index=53)
    cfg = ClusterConfig(interceptors_xml=interceptors_xml(WRONG_KEY))
    path = write_server_xml(cfg, host.address, 53, "pywk")
    node = PyNode(host, ["--server-xml", path, "--jvm-route", "pywk", "--context", "/app",
                         "--version", PY_VERSION if cluster.version == "10" else "9.0",
                         "--manager", "stateTransferTimeout=3", "--background-delay", "1"])
    try:
        own = node.call("create", ctx="/app", attrs={"mine": {"class": "java.lang.String", "value": "kept"}})["id"]
        b = Browser(lab)
        t1, t2 = cluster.nodes
        sid = b.new_session(t1, replicas=[t2])
        set_attr(b, t1, "x", "string", "y")
        deadline = time.monotonic() + 30
        while "cannot decrypt message from tcp://{" not in "\n".join(node.stderr):
            assert time.monotonic() < deadline, node.log_tail()
            time.sleep(0.2)
        st = node.call("stats")
        assert st["encrypt"]["decrypted"] == 0 and st["encrypt"]["rejectedTotal"] >= 1, st
        assert st["bad_messages"] == 0 and st["managers"]["localhost#/app"]["dropped"] == 0  # nothing deserialized
        assert node.session("/app", sid) is None
        assert node.session("/app", own)["attributes"]["mine"]["value"] == "kept"
        assert t1.peek(own) is None and t2.peek(own) is None
        assert any("Failed to decrypt message" in n.log_text() for n in cluster.nodes)
        assert WRONG_KEY not in "\n".join(node.stderr) and KEY not in "\n".join(node.stderr)
        assert node.proc.poll() is None
    finally:
        node.close()


def test_a_node_of_the_other_version_is_named_as_a_version_mismatch(lab: Lab, cluster: TomcatCluster,
                                                                    py: PyNode) -> None:
    """A Python node configured for the other Tomcat version (10.1 cluster: a 9.0 node, CBC without
    timestamp; 9.0 cluster: a 10.1 node) with the same server.xml: every Tomcat message is refused and
    the log says why (a mixed 9.0/10.1 encrypted cluster cannot work, not even in Tomcat)."""
    theirs, other = ("10.1", "9.0") if cluster.version == "10" else ("9.0", "10.1")
    from tests.interop.sessions_support import PyNodeError
    from tests.interop.test_sessions_tomcat10 import set_attr
    from interop.tomcat.node import Browser
    try:
        old = start_python(lab, cluster, other, index=52, name="pyx", route="pyx",
                           extra=("--manager", "stateTransferTimeout=3"))
    except PyNodeError as exc:  # pragma: no cover - the diagnosis is what matters
        pytest.fail(f"the {other}-format node did not start: {exc}")
    try:
        b = Browser(lab)
        t1, t2 = cluster.nodes
        sid = b.new_session(t1, replicas=[t2])
        set_attr(b, t1, "x", "string", "y")
        deadline = time.monotonic() + 30
        while "version mismatch" not in "\n".join(old.stderr):
            assert time.monotonic() < deadline, old.log_tail()
            time.sleep(0.2)
        log = "\n".join(old.stderr)
        assert f"Tomcat {theirs}'s format" in log and "cannot talk to each other" in log
        assert any(f"cannot decrypt message from tcp://{{{n.address.replace('.', ', ')}}}" in log
                   for n in cluster.nodes), log
        assert old.session("/app", sid) is None
        st = old.call("stats")["encrypt"]
        assert st["rejected"]["version_mismatch"] >= 1 and st["decrypted"] == 0, st
    finally:
        old.close()
