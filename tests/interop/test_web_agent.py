"""`tribes agent` + gunicorn with 4 workers against a real Tomcat 10.1 node (must-show 3 and the socket
part of 4 of issue 13).

Lab "wcagent": tomcat1 .1, the Python host .50 (agent jvmRoute py1, the Flask example under gunicorn).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop.sessions_support import session_lab
from tests.interop.web_support import PyWeb, WebBrowser, api, gunicorn, wait_until, web_fixture

pytestmark = pytest.mark.interop

_ADDED = re.compile(r"(Replication member added|Received member disappeared):\[.*?tcp://\{(\d+), (\d+), (\d+), (\d+)\}:(\d+)")


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    session_lab(lambda name, subnet: None, "x", ["10"])          # skips without root/Java/Tomcat
    return lab_factory("wcagent", "10.77.144")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 1, version="10")


@pytest.fixture(scope="module")
def web(lab: Lab, cluster: TomcatCluster) -> Iterator[PyWeb]:
    # the agent reads the Tomcat node's own server.xml (its <Cluster>); --bind/--jvm-route override it
    server_xml = os.path.join(cluster.nodes[0].base, "conf", "server.xml")
    yield from web_fixture(lab, cluster, lambda h: gunicorn("examples.flask_app.app:app", h, workers=4),
                           config=server_xml)


def member_events(cluster: TomcatCluster, address: str) -> list[tuple[str, int]]:
    """Tomcat's log of membership changes for `address`: [("added"|"gone", port)]."""
    out = []
    for m in _ADDED.finditer(cluster.nodes[0].log_text()):
        if ".".join(m.group(i) for i in range(2, 6)) == address:
            out.append(("added" if m.group(1).startswith("Replication") else "gone", int(m.group(6))))
    return out


def workers(web: PyWeb) -> list[int]:
    """The worker pids of our gunicorn master (``ip netns exec`` execs it: its pid is the master's)."""
    assert web.server is not None
    r = subprocess.run(["pgrep", "-P", str(web.server.pid)], capture_output=True, text=True)
    return sorted(int(p) for p in r.stdout.split())


def listeners(web: PyWeb) -> list[str]:
    r = web.host.run(["ss", "-ltnpH"])
    return [line for line in r.stdout.splitlines() if re.search(r":40\d\d\b", line)]


def test_four_workers_are_one_member_and_worker_restarts_change_nothing(lab: Lab, cluster: TomcatCluster,
                                                                      web: PyWeb) -> None:
    addr = web.host.address
    # the server answers once its first worker is up; gunicorn forks the others right after
    wait_until(lambda: len(workers(web)) == 4, what="gunicorn's 4 workers")
    events = member_events(cluster, addr)
    assert events == [("added", 4000)], events          # one member, the agent's receiver
    recv = listeners(web)
    assert len(recv) == 1 and f"pid={web.agent.pid}" in recv[0] or "python" in recv[0], recv
    # every worker serves the same sessions
    b = WebBrowser(lab)
    api(b, web, {"set": {"cart": ["a"]}})
    sid = b.session_id("/app")
    for _ in range(8):
        st, v = api(b, web)
        assert st == 200 and v["id"] == sid and "cart" in v["attributes"], (sid, v)
        assert [x["value"] for x in v["attributes"]["cart"]["value"]] == ["a"]
    # kill -9 one worker (gunicorn starts another), then restart all of them (HUP)
    os.kill(workers(web)[0], signal.SIGKILL)
    assert web.server is not None
    os.kill(web.server.pid, signal.SIGHUP)
    wait_until(lambda: len(workers(web)) == 4, what="4 workers again")
    for _ in range(8):
        st, v = api(b, web)
        assert st == 200 and v["id"] == sid
    time.sleep(4)                                        # longer than Tomcat's dropTime (3 s)
    assert member_events(cluster, addr) == [("added", 4000)], "worker restarts did not touch the membership"


def test_agent_down_gives_503_and_restart_restores_every_session(lab: Lab, cluster: TomcatCluster,
                                                                 web: PyWeb) -> None:
    t1 = cluster.nodes[0]
    browsers = []
    for i in range(3):                                   # sessions made in Python (primary on the agent)
        b = WebBrowser(lab)
        st, _ = api(b, web, {"set": {"cart": [f"item{i}"], "n": i}})
        assert st == 200
        browsers.append(b)
    tomcat_b = WebBrowser(lab)                           # and one made by Tomcat
    tomcat_b.new_session(t1)
    tomcat_b.get(t1, "/app/set", {"name": "cart", "type": "list", "value": "t1,t2"})
    for b in browsers:
        wait_until(lambda: t1.peek(b.session_id("/app") or "") is not None, what="Python sessions on Tomcat")
    web.kill_agent(signal.SIGKILL)
    for b in browsers + [tomcat_b]:
        r = b.get(web.url, "/app/py/")
        assert r.status == 503 and "tribes agent" in r.body, (r.status, r.body[:300])
    assert "start it with `tribes agent" in PyWeb.tail(web.server_log, 200)
    # restart: the state transfer brings every session back
    web.start_agent()
    for i, b in enumerate(browsers):
        st, v = api(b, web)
        assert st == 200 and v["id"] == b.session_id("/app"), v
        assert [x["value"] for x in v["attributes"]["cart"]["value"]] == [f"item{i}"]
        assert v["attributes"]["n"] == {"class": "java.lang.Integer", "value": i}
    st, v = api(tomcat_b, web)
    assert st == 200 and [x["value"] for x in v["attributes"]["cart"]["value"]] == ["t1", "t2"]
    import json
    ready = [json.loads(line) for line in PyWeb.tail(web.agent_log, 400).splitlines()
             if line.startswith("{") and '"ready"' in line]
    assert len(ready) == 2 and ready[-1]["state_transfer"] == {"localhost#/app": "transferred",
                                                               "localhost#": "transferred"}, ready


def test_agent_socket_refuses_other_users(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    if subprocess.run(["which", "setpriv"], capture_output=True).returncode != 0:
        pytest.skip("setpriv not installed")
    code = ("import socket,sys\ns = socket.socket(socket.AF_UNIX)\n"
            "try:\n    s.connect(sys.argv[1]); print('connected')\nexcept OSError as e:\n    print('errno', e.errno)\n")
    r = web.host.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code,
                      web.socket])
    assert r.stdout.strip() == "errno 13", (r.stdout, r.stderr)
    assert oct(os.stat(web.socket).st_mode & 0o777) == "0o660"
