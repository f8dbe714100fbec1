"""The keeper against real Tomcat 10.1: sessions outlive a restart of every Tomcat node, acknowledged
updates outlive a crash of the keeper, expiry is honoured, duplicate logins and forced logout.

Lab ``kp*`` (subnet 10.77.15). The keeper runs ``tribes keeper`` as a process in its own host and is
started before the Tomcat nodes, so it is their oldest member (Tomcat asks that one for the state).
Sizes here fit the default tier; ``-m slow`` runs the 10,000-session restart.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from typing import Any, Iterator

import pytest

from interop.lab import REPO_ROOT, Lab
from interop.tomcat.node import Browser, TomcatCluster, TomcatNode
from tests.interop.keeper_support import KeeperProcess, stored_ids, wait_until
from tests.interop.sessions_support import attr_map, session_lab

pytestmark = pytest.mark.interop

FAIL_MARKERS = ("Unable to send message through cluster sender", "ChannelException", "FaultyMember")


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Lab:
    return session_lab(lab_factory, "kp", ["10"])


@pytest.fixture
def store() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="tribes-keeper-")
    yield os.path.join(d, "sessions.db")


def _cluster(lab: Lab, options: str = "8") -> TomcatCluster:
    return TomcatCluster(lab, "10", channel_send_options=options, manager_attrs={"processExpiresFrequency": "1"})


def _restart(node: TomcatNode, how: str) -> None:
    if how == "kill":
        node.kill()
    else:
        node.stop(timeout=60)


def _full_restart(lab: Lab, store: str, n_sessions: int, how: str) -> None:
    keeper = KeeperProcess(lab.hosts.get("keep") or lab.add_host("keep", index=60), store)
    tc = _cluster(lab)
    try:
        t1 = tc.add_node()
        t2 = tc.add_node()
        tc.wait_membership(timeout=60)
        # bulk sessions (Integer + String attributes), made on both nodes
        assert t1.get_json("/create", {"n": n_sessions // 2, "prefix": "a"})[1]["created"] == n_sessions // 2
        assert t2.get_json("/create", {"n": n_sessions - n_sessions // 2, "prefix": "b"})[1]["created"] > 0
        # a logged-in user with typed attributes, and a session that expires during the outage
        alice = Browser(lab)
        alice.login(t1)
        for name, typ, value in [("l", "long", "9000000000"), ("b", "bool", "true"), ("d", "double", "2.5"),
                                 ("raw", "bytes", "00ff10"), ("cart", "list", "book,pen"),
                                 ("m", "map", "k1=v1,k2=v2")]:
            assert alice.get(t1, "/app/set", {"name": name, "type": typ, "value": value}).status == 200
        alice_id = alice.session_id()
        assert alice_id is not None
        short = Browser(lab)
        short_id = short.new_session(t2)
        assert short.get(t2, "/app/maxinactive", {"seconds": "3"}).status == 200
        live = set(t1.sessions(limit=10 ** 6)["ids"])
        assert len(live) >= n_sessions + 2
        wait_until(lambda: live <= stored_ids(store), 120, f"the keeper persisted {len(live)} sessions")
        wait_until(lambda: _stored_attr(keeper, alice_id), 30, "alice's last attribute persisted")

        for node in (t1, t2):
            _restart(node, how)
        time.sleep(4)                                   # the short session's 3 s run out during the outage
        t1.start()
        t2.start()
        tc.wait_membership(timeout=60)

        for node in (t1, t2):
            now = set(node.sessions(limit=10 ** 6)["ids"])
            assert now == live - {short_id}, (node, len(now), len(live))
        view = t2.peek(alice_id)
        assert view is not None and view.get("user") in (None, "alice")
        attrs = attr_map(view)
        assert attrs["l"]["type"] == "java.lang.Long" and attrs["l"]["value"] == "9000000000"
        assert attrs["b"]["type"] == "java.lang.Boolean"
        assert attrs["d"]["type"] == "java.lang.Double"
        assert attrs["cart"]["type"] == "java.util.ArrayList"
        assert attrs["m"]["type"] == "java.util.HashMap"
        who = alice.get(t2, "/app/secure/whoami")         # still logged in: no login page
        assert who.status == 200 and "tribeslab-login-page" not in who.body and "alice" in who.body, who.body[:300]
        assert short_id not in stored_ids(store)
    finally:
        tc.stop()
        keeper.terminate()


def _stored_attr(keeper: KeeperProcess, sid: str) -> bool:
    return sid in stored_ids(keeper.store)


@pytest.mark.parametrize("how", ["term", "kill"])
def test_full_restart_serves_every_session(lab: Lab, store: str, how: str) -> None:
    _full_restart(lab, store, 1000, how)


@pytest.mark.slow
def test_full_restart_10000_sessions(lab: Lab, store: str) -> None:
    _full_restart(lab, store, 10000, "kill")


def _failed_sends(node: TomcatNode) -> int:
    text = node.log_text()
    return sum(text.count(m) for m in FAIL_MARKERS)


def test_keeper_crash_keeps_every_acknowledged_update(lab: Lab, store: str) -> None:
    """kill -9 of the keeper in the middle of a stream of updates sent with options 6; then both
    Tomcat nodes die, the keeper starts alone from its store, the Tomcat nodes start: every update
    acknowledged before the keeper died (HTTP 200 and no send failure logged) is served."""
    host = lab.hosts.get("keep") or lab.add_host("keep", index=60)
    keeper = KeeperProcess(host, store)
    tc = _cluster(lab, options="6")
    try:
        t1 = tc.add_node()
        t2 = tc.add_node()
        tc.wait_membership(timeout=60)
        user = Browser(lab)
        sid = user.new_session(t1, replicas=[t2])
        wait_until(lambda: sid in stored_ids(store), 30, "the session persisted")
        acked: list[tuple[int, float]] = []        # (value, when its response arrived)
        killed_at: list[float] = []

        def killer() -> None:
            while len(acked) < 40:
                time.sleep(0.005)
            time.sleep(0.013)                      # lands while a request is in flight, most likely
            keeper.kill9()
            killed_at.append(time.monotonic())

        threading.Thread(target=killer, daemon=True).start()
        after_kill = 0
        for i in range(1, 2000):
            fails = _failed_sends(t1)
            r = user.get(t1, "/app/set", {"name": "counter", "type": "int", "value": str(i)})
            if r.status == 200 and _failed_sends(t1) == fails:
                acked.append((i, time.monotonic()))
            if killed_at:
                after_kill += 1
                if after_kill >= 10:              # the stream goes on a little after the crash
                    break
        assert killed_at, "the keeper was not killed"
        before = [i for i, t in acked if t < killed_at[0]]
        assert len(before) >= 40
        last_acked = before[-1]
        t1.kill()
        t2.kill()
        keeper = KeeperProcess(host, store)        # alone, from its store only
        assert keeper.ready["loaded"] >= 1
        t1.start()
        t2.start()
        tc.wait_membership(timeout=60)
        view = t2.peek(sid)
        assert view is not None, "the session was not served after the keeper crash"
        served = int(attr_map(view)["counter"]["value"])
        assert served >= last_acked, f"acknowledged update {last_acked} lost (served {served})"
    finally:
        tc.stop()
        keeper.terminate()


def _whoami(b: Browser, node: TomcatNode) -> str:
    r = b.get(node, "/app/secure/whoami")
    return "login" if "tribeslab-login-page" in r.body else r.body


@pytest.mark.parametrize("policy", ["newest-wins", "oldest-wins"])
def test_duplicate_login(lab: Lab, store: str, policy: str) -> None:
    keeper = KeeperProcess(lab.hosts.get("keep") or lab.add_host("keep", index=60), store,
                           ["--max-sessions-per-user", "1", "--login-policy", policy, "--login-exempt", "bob"])
    # options 6: a JvmRouteBinderValve rename reaches the other node before the response does, so the
    # cross-node checks below do not race Tomcat's own asynchronous replication
    tc = _cluster(lab, options="6")
    try:
        t1 = tc.add_node()
        t2 = tc.add_node()
        tc.wait_membership(timeout=60)
        first, second = Browser(lab), Browser(lab)
        first.login(t1)
        assert "alice" in _whoami(first, t1)
        time.sleep(1.0)
        second.login(t2)
        loser, winner = (first, second) if policy == "newest-wins" else (second, first)
        deadline = time.monotonic() + 10
        while _whoami(loser, t1) != "login":
            assert time.monotonic() < deadline, "the duplicate login was not acted upon within 10 s"
            time.sleep(0.3)
        assert _whoami(loser, t2) == "login"
        assert "alice" in _whoami(winner, t1) and "alice" in _whoami(winner, t2)
        b1, b2 = Browser(lab), Browser(lab)
        b1.login(t1, "bob", "builder")
        b2.login(t2, "bob", "builder")
        time.sleep(2.0)
        assert "bob" in _whoami(b1, t2) and "bob" in _whoami(b2, t1)       # exempt: both stay
        keeper.wait_log("duplicate login of 'alice'")
    finally:
        tc.stop()
        keeper.terminate()


def test_forced_logout_cli(lab: Lab, store: str) -> None:
    keeper = KeeperProcess(lab.hosts.get("keep") or lab.add_host("keep", index=60), store)
    tc = _cluster(lab, options="6")
    try:
        t1 = tc.add_node()
        t2 = tc.add_node()
        tc.wait_membership(timeout=60)
        a1, a2, bob = Browser(lab), Browser(lab), Browser(lab)
        a1.login(t1)
        a2.login(t2)
        bob.login(t1, "bob", "builder")
        ops = lab.hosts.get("ops") or lab.add_host("ops", index=61)
        wait_until(lambda: len(stored_ids(store)) >= 3, 30, "the keeper holds the three logins")
        res = ops.run([sys.executable, "-m", "tribes.cli.main", "sessions", "--bind", ops.address, "--context",
                       "/app", "--join-wait", "3", "--json", "logout", "--user", "alice"], timeout=120,
                      env={**os.environ, "PYTHONPATH": REPO_ROOT})
        assert res.returncode == 0, res.stderr[-2000:]
        assert '"kind":"logout"' in res.stdout and res.stdout.count('"id"') == 2, res.stdout
        for b in (a1, a2):
            for node in (t1, t2):
                assert _whoami(b, node) == "login"
        assert "bob" in _whoami(bob, t2)
    finally:
        tc.stop()
        keeper.terminate()
