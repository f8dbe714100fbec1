"""Must-show 4: state transfer of 10,000 sessions Tomcat 10.1 -> Python and Python -> a new Tomcat.

Lab ``tsx`` / 10.77.15 (its own hub and bridge): tomcat1 .1 makes 10,000 sessions, the Python node
(.50) joins and gets all of them; tomcat1 stops, so only Python holds them; tomcat2 (.2) starts,
asks the oldest member (Python) for the state, and serves the sessions over HTTP.
"""
from __future__ import annotations

import re
import time
from typing import Callable

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from interop.tomcat.node import Browser, TomcatCluster
from tests.interop.sessions_support import PyNode, attr_map, route_base

pytestmark = pytest.mark.interop

N = 10_000


def transfer_ms_from_log(text: str, ctx: str = "localhost#/app") -> int | None:
    m = re.search(r"Manager \[" + re.escape(ctx) + r"\]; session state sent at \[.*?\] received in \[([\d,.]+)\] ms", text)
    return int(re.sub(r"[,.]", "", m.group(1))) if m else None


@pytest.mark.parametrize("n", [N, pytest.param(100_000, marks=pytest.mark.slow)])
def test_4_state_transfer_both_ways(n: int, lab_factory: Callable[..., Lab],
                                    tomcat_cluster: Callable[..., TomcatCluster]) -> None:
    require_root_and_java(10, tomcat=True)
    lab = lab_factory("tsx" if n == N else "tsxl", "10.77.15")
    cluster = tomcat_cluster(lab, 1, version="10", heap="384m" if n == N else "2g")
    t1 = cluster.nodes[0]
    status, body = t1.get_json("/create", {"n": n, "prefix": "s", "sync": "0"}, timeout=1800)
    assert status == 200 and body["created"] == n, body
    sample = body["first"][:5]
    assert t1.sessions(limit=1)["count"] == n
    py = PyNode(lab.add_host("py", index=50), ["--jvm-route", "py1", "--context", "/app"], ready_timeout=1800)
    try:
        ready = py.ready
        assert ready["transfer"] == {"localhost#/app": "transferred"}, ready
        assert ready["sessions"] == {"localhost#/app": n}
        print(f"\nstate transfer of {n} sessions tomcat1 -> python: {ready['transfer_ms']['localhost#/app']} ms")
        for sid in sample:
            s = py.session("/app", sid)
            assert s is not None and s["attributes"]["text"]["value"].startswith("s")
            assert s["attributes"]["index"]["class"] == "java.lang.Integer" and not s["primary"]
        # only the Python node holds the sessions now
        t1.stop()
        py.call("stats")
        t2 = cluster.add_node(timeout=1800)      # asks members[0] = the Python node
        deadline = time.monotonic() + 30
        while transfer_ms_from_log(t2.log_text()) is None and time.monotonic() < deadline:
            time.sleep(0.2)     # the JVM's console output may lag behind its HTTP readiness
        text = t2.log_text()
        assert "requesting session state from [" in text and "10, 77, 15, 50" in text
        ms = transfer_ms_from_log(text)
        assert ms is not None, "\n".join(x for x in text.splitlines() if "DeltaManager" in x) + "\n--- python node:\n" + py.log_tail(60)
        print(f"state transfer of {n} sessions python -> tomcat2: {ms} ms (tomcat2 ready after {t2.ready_after:.1f} s)")
        assert t2.sessions(limit=1)["count"] == n
        for sid in sample:
            a = attr_map(t2.peek(sid))
            assert a["text"]["type"] == "java.lang.String" and a["index"]["type"] == "java.lang.Integer"
        expected = py.session("/app", sample[0])["attributes"]["text"]["value"]
        b = Browser(lab)
        b.cookies["/app"] = sample[0]
        r = b.get(t2, "/app/get", {"name": "text"})
        assert r.status == 200 and r.json()["value"] == expected
        new_id = b.session_id("/app")
        assert new_id == route_base(sample[0]) + ".tomcat2"
        py.wait_session("/app", new_id)     # the rename reached the Python node
    finally:
        py.close()
        cluster.stop()
