"""The web adapters on a BackupManager cluster: `tribes agent` with the Tomcat node's own server.xml
(<Manager className="...BackupManager">) + the Flask example under gunicorn (2 workers), against two
real Tomcat 10.1 nodes with BackupManager (issue 15: "usable from the session API and the web
adapters exactly like DeltaManager contexts"; the same checks as the DeltaManager adapters).

Lab "wcbk" / 10.77.147: tomcat1 .1, tomcat2 .2, the Python host .50 (jvmRoute py1). With three map
members, tomcat1 picks its backups round-robin, so of two sessions made on tomcat1 the Python node
holds one as a backup and the other as a proxy: the proxy is fetched (RETRIEVE_BACKUP) when a Python
page serves it, and a Tomcat page that then serves a Python-held session fetches it back.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop import web_cases as cases
from tests.interop.backup_support import backup_config, tomcat_map_members
from tests.interop.sessions_support import session_lab
from tests.interop.web_support import PyWeb, WebBrowser, api, gunicorn, wait_until, web_fixture

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    session_lab(lambda name, subnet: None, "x", ["10"])          # skips without root/Java/Tomcat
    return lab_factory("wcbk", "10.77.147")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 2, version="10", cluster=backup_config(channel_send_options="6"))


@pytest.fixture(scope="module")
def web(lab: Lab, cluster: TomcatCluster) -> Iterator[PyWeb]:
    server_xml = os.path.join(cluster.nodes[0].base, "conf", "server.xml")
    for w in web_fixture(lab, cluster, lambda h: gunicorn("examples.flask_app.app:app", h, workers=2),
                         config=server_xml, agent_args=["--max-write-bytes", "200000"]):
        deadline = time.monotonic() + 60          # Tomcat's /app map has the Python node as a map member
        while not all(w.host.address in tomcat_map_members(n) for n in cluster.running()):
            assert time.monotonic() < deadline, "Tomcat's maps did not add the Python node:\n" + PyWeb.tail(w.agent_log)
            time.sleep(0.3)
        yield w


def test_agent_runs_backup_manager_from_server_xml(web: PyWeb) -> None:
    import json
    ready = [json.loads(line) for line in PyWeb.tail(web.agent_log, 400).splitlines()
             if line.startswith("{") and '"ready"' in line]
    assert ready and ready[-1]["state_transfer"]["localhost#/app"].startswith("map "), ready


def test_tomcat_sessions_served_in_python_as_backup_and_as_proxy(lab: Lab, cluster: TomcatCluster,
                                                                  web: PyWeb) -> None:
    for _ in range(2):          # round-robin: the Python node is the backup of one, a proxy of the other
        cases.read_typed(lab, cluster, web)


def test_write_remove_invalidate(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.write_remove_invalidate(lab, cluster, web)


def test_login_both_ways(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.login_tomcat_to_python(lab, cluster, web, full_copy_auth=False)
    cases.login_python_to_tomcat(lab, cluster, web)


def test_ownership_moves_back_and_forth_and_every_page_sees_the_last_write(lab: Lab, cluster: TomcatCluster,
                                                                           web: PyWeb) -> None:
    """Python and both Tomcat nodes take turns writing one session: each write is seen by the next
    page, wherever it runs (a stale copy in a worker would show an older count)."""
    t1, t2 = cluster.nodes[:2]
    b = WebBrowser(lab)
    st, v = api(b, web, {"set": {"n": 0}})
    assert st == 200
    sid = b.session_id("/app")
    assert sid and sid.endswith(".py1")
    for i in range(1, 7):
        t = (t1, t2)[i % 2]
        r = b.get(t, "/app/get", {"name": "n"})
        assert r.status == 200 and r.json()["value"] == str(3 * (i - 1)), (i, r.body)
        r = b.get(t, "/app/set", {"name": "n", "type": "int", "value": str(3 * (i - 1) + 1)})
        assert r.status == 200, r.body
        for _ in range(3):                            # both workers, from their copies or the agent
            st, v = api(b, web)
            if v["attributes"]["n"]["value"] == 3 * (i - 1) + 1:
                break
        st, v = wait_until(lambda: (lambda r: r if r[1]["attributes"]["n"]["value"] == 3 * (i - 1) + 1 else None)(
            api(b, web)), timeout=10, what=f"Tomcat's write {i} in Python")
        assert v["id"].split(".")[0] == sid.split(".")[0], v
        st, v = api(b, web, {"set": {"n": 3 * i}})
        assert st == 200, v
    r = b.get(t1, "/app/get", {"name": "n"})
    assert r.status == 200 and r.json()["value"] == "18", r.body


def test_bad_input(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.bad_input(lab, cluster, web)
