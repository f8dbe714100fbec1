"""Kubernetes cloud membership with real Tomcat (issue 16, must-show 2).

A stand-in Kubernetes API server runs in the lab's hub (interop/cloud/kube_api.py: HTTPS with a CA
the test makes and an IP subjectAltName, bearer token checked, label selector, pod phases, the
PodList JSON shape). Tomcat's own ``KubernetesMembershipProvider`` (two Tomcat 10.1 nodes) and the
Python node read it with the same environment variables. Checked:

* membership converges with the same uniqueIds on every side: MD5 of the pod uid, in Tomcat's log,
  in the Python node's table, in Tomcat's own frames and as the Python node's local id;
* a pod of another label and a Pending pod are members nowhere;
* sessions replicate both ways;
* a pod deleted (and its JVM gone) expires on every node; a pod marked Failed (and gone) too.

Refused tokens, untrusted certificates, malformed/huge/slow answers: tests/unit/test_cloud_providers.py
(the Python side) and ``test_tomcat_reports_wrong_token_and_untrusted_cert`` (Tomcat's side, slow).
"""
from __future__ import annotations

import signal
from typing import Any

import pytest

from interop.fixtures import require_root_and_java
from interop.tomcat.node import Browser
from tests.interop.cloud_support import BACKUP_MANAGER, KubeLab, cloud_cluster_config, wait_for
from tribes.membership.cloud.core import md5_id

pytestmark = [pytest.mark.interop, pytest.mark.timeout(420)]

def uid_id(pod: dict[str, Any]) -> bytes:
    return md5_id(pod["uid"])


def test_kubernetes_membership_with_tomcat() -> None:
    require_root_and_java(10, tomcat=True)
    k = KubeLab("clk8s", "10.77.17")
    cl = k.cl
    try:
        t1p = k.pod("tomcat-0", "10.77.17.1", created="2026-01-01T00:00:00Z")
        t2p = k.pod("tomcat-1", "10.77.17.2", created="2026-01-01T00:01:00Z")
        pyp = k.pod("python-0", "10.77.17.50", created="2026-01-01T00:02:00Z")
        k.pod("db-0", "10.77.17.70", app="db")           # another label: not a member anywhere
        k.pod("tomcat-2", "10.77.17.9", phase="Pending")  # not Running: not a member anywhere
        cfg = cloud_cluster_config("kubernetes")
        t1 = cl.tomcat(1, "10", cfg, k.env)
        t2 = cl.tomcat(2, "10", cfg, k.env)
        py = cl.python(50, "kubernetes", k.env, pollInterval="1000")

        ids = {"10.77.17.1": uid_id(t1p), "10.77.17.2": uid_id(t2p), "10.77.17.50": uid_id(pyp)}
        assert py.call("local")["local"]["uniqueId"] == uid_id(pyp).hex()
        wait_for("Python sees both Tomcat pods", lambda: py.member_ids() == {a: ids[a] for a in ("10.77.17.1", "10.77.17.2")})
        for t in (t1, t2):
            want = {a: i for a, i in ids.items() if a != t.address}
            wait_for(f"{t} sees the others with MD5 of their pod uids", lambda t=t, want=want: t.member_ids() == want,
                     timeout=60)
        alive = {m["host"]: m["alive"] for m in py.call("members")["members"]}
        assert alive["10.77.17.1"] > alive["10.77.17.2"] > 0  # creationTimestamp -> start: older pods first

        # sessions both ways; Tomcat's frames carry its own local id, MD5 of its pod uid
        b = Browser(cl.lab)
        r = b.get(t2, "/app/set", {"name": "n", "type": "int", "value": "1"})
        assert r.status == 200, r.body
        sid = r.json()["id"]
        wait_for("t2's session on the Python node", lambda: py.call("get", ctx="/app", id=sid)["session"])
        assert wait_for("frames of t2", lambda: py.sender_ids().get("10.77.17.2")) == uid_id(t2p)
        pid = py.call("create", ctx="/app", attrs={"from": "python"})["id"]
        t1.wait_session(pid, ["from"], timeout=30)
        t2.wait_session(pid, ["from"], timeout=30)
        assert any('"selector": "app=tomcat"' in r and '"auth": "Bearer "' in r for r in k.requests())

        # the pod of t1 is deleted (its JVM goes with it): gone on t2 and on the Python node
        del k.pods["tomcat-0"]
        k.save()
        t1.kill()
        wait_for("Python drops the deleted pod", lambda: "10.77.17.1" not in py.member_ids(), timeout=60)
        wait_for("t2 drops the deleted pod", lambda: "10.77.17.1" not in t2.member_ids(), timeout=60)

        # the Python pod is marked Failed (its process dies): gone on t2
        k.pods["python-0"]["phase"] = "Failed"
        k.save()
        py.proc.send_signal(signal.SIGKILL)
        wait_for("t2 drops the Failed pod", lambda: "10.77.17.50" not in t2.member_ids(), timeout=60)
        assert t2.member_ids() == {}
    except BaseException:
        for n in cl.tomcats:
            print(f"--- {n} log tail\n{n.log_tail(30)}")
        for p in cl.pynodes:
            print(f"--- python node stderr\n{p.log_tail(30)}")
        raise
    finally:
        cl.close()


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["token", "cert"])
def test_tomcat_and_python_report_wrong_token_and_untrusted_cert(problem: str) -> None:
    """Both sides name the problem: Tomcat logs the failed connection, the Python node says what to check."""
    require_root_and_java(10, tomcat=True)
    k = KubeLab("clk8s" + problem[0], "10.77.17", token="wrong" if problem == "token" else None,
                trusted=problem != "cert")
    cl = k.cl
    try:
        k.pod("tomcat-0", "10.77.17.1")
        k.pod("python-0", "10.77.17.50")
        t1 = cl.tomcat(1, "10", cloud_cluster_config("kubernetes"), k.env)
        py = cl.python(50, "kubernetes", k.env, pollInterval="1000")
        err = wait_for("the Python node's error", lambda: py.call("stats")["last_error"])
        if problem == "token":
            assert "HTTP 401" in err and "token was refused" in err
            wait_for("Tomcat's error", lambda: "Failed connection to [https://" in t1.log_text()
                     and "401" in t1.log_text(), timeout=30)
        else:
            assert "TLS failed" in err and "certificate verify failed" in err
            wait_for("Tomcat's error", lambda: "PKIX path building failed" in t1.log_text(), timeout=30)
        assert py.member_ids() == {} and t1.member_ids() == {}
    finally:
        cl.close()


@pytest.mark.slow
def test_backup_manager_with_kubernetes_membership() -> None:
    """BackupManager (Tomcat 10.1 x2 and the Python node, all from the same <Cluster>) on cloud membership:
    a session made on the Python node is served by both Tomcat nodes, one made on a Tomcat node is
    loaded by the Python node, and after the Python pod is deleted (and its process killed) the
    Tomcat nodes still serve the Python-made session from its backup."""
    require_root_and_java(10, tomcat=True)
    k = KubeLab("clk8sbk", "10.77.17")
    cl = k.cl
    try:
        for name, ip in (("tomcat-0", "10.77.17.1"), ("tomcat-1", "10.77.17.2"), ("python-0", "10.77.17.50")):
            k.pod(name, ip)
        cfg = cloud_cluster_config("kubernetes", BACKUP_MANAGER)
        t1 = cl.tomcat(1, "10", cfg, k.env)
        t2 = cl.tomcat(2, "10", cfg, k.env)
        py = cl.python(50, "kubernetes", k.env, BACKUP_MANAGER, pollInterval="1000")
        assert py.ready["manager"] == "BackupManager"
        wait_for("Python sees both Tomcat pods", lambda: set(py.member_ids()) == {"10.77.17.1", "10.77.17.2"})
        for t in (t1, t2):
            wait_for(f"{t} sees the others", lambda t=t: len(t.member_ids()) == 2, timeout=60)
        pid = py.call("create", ctx="/app", attrs={"from": "python"})["id"]
        for t in (t1, t2):
            wait_for(f"{t} serves the Python-made session",
                     lambda t=t: t.peek(pid) is not None and "from" in {a["name"] for a in t.peek(pid)["attributes"]},
                     timeout=60)
        b = Browser(cl.lab)
        r = b.get(t1, "/app/set", {"name": "n", "type": "int", "value": "5"})
        assert r.status == 200, r.body
        sid = r.json()["id"]
        wait_for("the Python node loads the Tomcat-made session", lambda: py.call("get", ctx="/app", id=sid)["session"])
        del k.pods["python-0"]
        k.save()
        py.proc.send_signal(signal.SIGKILL)
        for t in (t1, t2):
            wait_for(f"{t} drops the Python pod", lambda t=t: "10.77.17.50" not in t.member_ids(), timeout=60)
        for t in (t1, t2):
            wait_for(f"{t} still serves the Python-made session", lambda t=t: t.peek(pid) is not None, timeout=60)
    except BaseException:
        for n in cl.tomcats:
            print(f"--- {n} log tail\n{n.log_tail(30)}")
        for p in cl.pynodes:
            print(f"--- python node stderr\n{p.log_tail(30)}")
        raise
    finally:
        cl.close()
