"""``tribes members`` / ``tribes join`` with ``--membership kubernetes`` against the stand-in API server on
127.0.0.1 (every pod address is a loopback address: nothing leaves the machine), settings from the
environment as Tomcat reads them; flag checks."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from typing import Any, Iterator

import pytest

from interop.cloud.certs import TestCA
from interop.cloud.kube_api import KubeApiServer, write_state
from tribes.membership.cloud.core import md5_id

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = str(tmp_path_factory.mktemp("cli-pki"))
    ca = TestCA(d)
    cert = ca.issue("api", ips=["127.0.0.1"])
    token = uuid.uuid4().hex
    with open(os.path.join(d, "token"), "w") as f:
        f.write(token)
    state = os.path.join(d, "state.json")
    pods = [{"name": "tomcat-0", "uid": "uid-t0", "ip": "127.0.0.2", "phase": "Running", "labels": {"app": "t"}},
            {"name": "tomcat-1", "uid": "uid-t1", "ip": "127.0.0.3", "phase": "Running", "labels": {"app": "t"}},
            {"name": "me", "uid": "uid-me", "ip": "127.0.0.1", "phase": "Running", "labels": {"app": "t"}}]
    write_state(state, {"namespace": "shop", "token": token, "pods": pods})
    server = KubeApiServer(("127.0.0.1", 0), state, cert.cert, cert.key)
    server.start_thread()
    env = {**os.environ, "KUBERNETES_NAMESPACE": "shop", "KUBERNETES_SERVICE_HOST": "127.0.0.1",
           "KUBERNETES_SERVICE_PORT": str(server.port), "KUBERNETES_LABELS": "app=t",
           "SA_TOKEN_FILE": os.path.join(d, "token"), "KUBERNETES_CA_CERTIFICATE_FILE": ca.path,
           "PYTHONPATH": REPO}
    yield {"env": env}
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tribes(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tribes", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.splitlines() if x.startswith("{")]


def test_members_lists_the_pods(api: dict[str, Any]) -> None:
    res = tribes(["members", "--membership", "kubernetes", "--bind", "127.0.0.1", "--receiver-port",
                  str(free_port()), "--duration", "1", "--json"], api["env"])
    assert res.returncode == 0, res.stderr
    out = lines(res.stdout)
    local = next(o for o in out if o["kind"] == "local")
    assert local["uniqueId"] == md5_id("uid-me").hex() and "/api/v1/namespaces/shop/pods" in local["source"]
    added = {o["host"]: o["uniqueId"] for o in out if o["kind"] == "member" and o["event"] == "added"}
    assert added == {"127.0.0.2": md5_id("uid-t0").hex(), "127.0.0.3": md5_id("uid-t1").hex()}
    summary = next(o for o in out if o["kind"] == "summary")
    assert summary["good"] >= 1 and summary["failed"] == 0 and summary["lastError"] is None


def test_join_uses_cloud_membership(api: dict[str, Any]) -> None:
    res = tribes(["join", "--membership", "kubernetes", "--bind", "127.0.0.1", "--receiver-port", str(free_port()),
                  "--duration", "1", "--json", "--no-live"], api["env"])
    assert res.returncode == 0, res.stderr
    ready = next(o for o in lines(res.stdout) if o["kind"] == "ready")
    assert ready["uniqueId"] == md5_id("uid-me").hex()  # its own pod was listed: CloudMembershipService ran


def test_missing_settings_are_a_clear_error(api: dict[str, Any]) -> None:
    env = {k: v for k, v in api["env"].items() if k != "KUBERNETES_SERVICE_HOST"}
    res = tribes(["members", "--membership", "kubernetes", "--bind", "127.0.0.1", "--duration", "1"], env)
    assert res.returncode == 3 and "KUBERNETES_SERVICE_HOST is not set" in res.stderr


def test_dns_name_needs_dns_membership(api: dict[str, Any]) -> None:
    res = tribes(["members", "--dns-name", "x", "--duration", "0"], api["env"])
    assert res.returncode == 2 and "--dns-name needs --membership dns" in res.stderr


def test_join_live_view_shows_the_cloud_members(api: dict[str, Any]) -> None:
    """Two `tribes members --join --membership kubernetes` processes are the pods tomcat-0/-1 (they answer
    TcpFailureDetector's probes on the one receiver port); `tribes join --live` lists both."""
    port = free_port()
    peers = [subprocess.Popen([sys.executable, "-m", "tribes", "members", "--membership", "kubernetes", "--join",
                               "--bind", ip, "--receiver-port", str(port), "--duration", "30"], env=api["env"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for ip in ("127.0.0.2", "127.0.0.3")]
    try:
        import time
        time.sleep(2.0)  # both listen before the node starts (Kubernetes lists a pod once it runs)
        res = tribes(["join", "--membership", "kubernetes", "--bind", "127.0.0.1", "--receiver-port", str(port),
                      "--duration", "3", "--live"], {**api["env"], "COLUMNS": "160"})
        assert res.returncode == 0, res.stderr
        assert "127.0.0.2:" in res.stdout and "127.0.0.3:" in res.stdout, res.stdout[-3000:]
        assert "members (2)" in res.stdout and "member added" in res.stdout
    finally:
        for p in peers:
            p.terminate()
            p.wait(10)


def test_membership_flag_replaces_the_files_membership(tmp_path: Any) -> None:
    from tribes.cli.common import NetworkOptions
    from tribes.cli.node import load_node_config

    xml = tmp_path / "server.xml"
    xml.write_text("""<Server><Service name="Catalina"><Engine name="Catalina" defaultHost="localhost">
      <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/></Engine></Service></Server>""")
    net = NetworkOptions(bind=None, mcast_address="228.0.0.4", mcast_port=45564, receiver_port=4000, domain="",
                         duration=None)
    cfg = load_node_config(net, str(xml), explicit=set(), membership="dns", dns_name="tomcat.shop")
    m = cfg.channel.membership
    assert m.short_name == "CloudMembershipService"
    assert (m.get("membershipProviderClassName"), m.get("dnsServiceName")) == ("dns", "tomcat.shop")
    assert load_node_config(net, str(xml), explicit=set()).channel.membership.short_name == "McastService"
