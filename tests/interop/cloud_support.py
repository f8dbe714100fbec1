"""Helpers of the cloud membership interop tests (lab prefix ``cl``): a lab with a DNS server or a
stand-in Kubernetes API server in its hub, real Tomcat nodes with CloudMembershipService, and the
Python node (tests/interop/cloud_node.py) configured from a server.xml.

Lab hazards handled here (../shared/docs/real-tomcat-notes.md, issue 16):

* every namespace gets ``/etc/netns/<ns>/hosts`` (the machine's host name -> the node's lab address,
  so ``InetAddress.getLocalHost()`` finds the node itself) and ``/etc/netns/<ns>/resolv.conf`` (the
  lab's dnsmasq); both removed on close, stale ones of a crashed run first;
* the JVMs run with ``-Dnetworkaddress.cache.ttl=0`` as the issue says **and**
  ``-Dsun.net.inetaddr.ttl=0``: on JDK 17 the former is a *security* property, so as ``-D`` it has no
  effect (``InetAddressCachePolicy.get()`` stays 30); the latter is the system property the JDK reads;
* every node uses receiver port 4000 (cloud members are assumed to listen on one's own port).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Callable, Mapping, Sequence

from interop.cloud.certs import TestCA
from interop.cloud.dnsmasq import Dnsmasq
from interop.cloud.kube_api import write_state
from interop.cloud.netns_files import NetnsFiles, remove_stale
from interop.lab import REPO_ROOT, Host, Lab
from interop.tomcat.node import FAST_START_OPTS, ClusterConfig, TomcatNode
from tests.interop.jsonproc import JsonLineProcess
from tribes.membership.cloud.core import md5_id

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = os.path.join(HERE, "cloud_node.py")
DOMAIN = "tribes.lab"
SERVICE = "tomcat." + DOMAIN
PORT = 4000
CLOUD = "org.apache.catalina.tribes.membership.cloud.CloudMembershipService"
JVM_OPTS = ["-Dnetworkaddress.cache.ttl=0", "-Dsun.net.inetaddr.ttl=0", *FAST_START_OPTS]

# 10.1 prints tcp://10.77.16.1:4000, older versions tcp://{10, 77, 16, 1}:4000
_MEMBER_ID_RE = re.compile(r"(Replication member added|Received member disappeared):\[.*?"
                           r"tcp://\{?([\d., ]+?)\}?:\d+.*?id=\{([-\d ]*)\}")


def java_bytes(text: str) -> bytes:
    """``{-12 34 ...}`` (MemberImpl.bToS: signed decimal, spaces) -> bytes."""
    return bytes(int(x) & 0xFF for x in text.split())


BACKUP_MANAGER = "org.apache.catalina.ha.session.BackupManager"


def cloud_cluster_config(provider: str, manager_class: str | None = None, **membership_attrs: str) -> ClusterConfig:
    attrs = "".join(f' {k}="{v}"' for k, v in membership_attrs.items())
    cfg = ClusterConfig(membership_xml=f'<Membership className="{CLOUD}" membershipProviderClassName="{provider}"{attrs}/>',
                        receiver_port=PORT)
    if manager_class is not None:
        cfg.manager_class = manager_class
    return cfg


def python_server_xml(address: str, provider: str, manager_class: str | None = None, **membership_attrs: str) -> str:
    """The Python node's server.xml: the same <Cluster> the Tomcat nodes have, its own address."""
    cluster = cloud_cluster_config(provider, manager_class, **membership_attrs).render(address, 50)
    return f"""<?xml version="1.0"?>
<Server port="-1"><Service name="Catalina"><Engine name="Catalina" defaultHost="localhost" jvmRoute="py1">
{cluster}
</Engine></Service></Server>"""


class CloudTomcatNode(TomcatNode):
    """A Tomcat node whose JVM gets extra environment variables (the cloud providers read env)."""

    def __init__(self, *args: Any, env: Mapping[str, str] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.env = dict(env or {})

    def command(self) -> list[str]:
        return ["env", *(f"{k}={v}" for k, v in self.env.items()), *super().command()]

    def member_ids(self) -> dict[str, bytes]:
        """Current members (address -> uniqueId) from SimpleTcpCluster's log lines (Tomcat's own view)."""
        members: dict[str, bytes] = {}
        for m in _MEMBER_ID_RE.finditer(self.log_text()):
            addr = m.group(2).replace(" ", "").replace(",", ".")
            if m.group(1).startswith("Replication"):
                members[addr] = java_bytes(m.group(3))
            elif members.get(addr) == java_bytes(m.group(3)):
                del members[addr]
        return members


class CloudPyNode(JsonLineProcess):
    """tests/interop/cloud_node.py in ``host``; JSON-line commands and events."""

    event_key = "event"
    label = "cloud node"

    def __init__(self, host: Host, config_path: str, env: Mapping[str, str], ready_timeout: float = 90) -> None:
        e = dict(os.environ)
        e.update(env)
        super().__init__(host, [NODE, "--config", config_path, "--context", "/app"], env=e, stdin=True)
        self.ready = self.wait_event("ready", timeout=ready_timeout)

    def call(self, op: str, timeout: float = 60, check: bool = True, **kw: Any) -> dict[str, Any]:
        return super().call(op, timeout=timeout, check=check, **kw)

    def member_ids(self) -> dict[str, bytes]:
        return {m["host"]: bytes.fromhex(m["uniqueId"]) for m in self.call("members")["members"]}

    def sender_ids(self) -> dict[str, bytes]:
        with self._cv:
            return {e["host"]: bytes.fromhex(e["uniqueId"]) for e in self.events if e.get("event") == "sender"}

    def close(self) -> None:
        self.quit()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60, interval: float = 0.25) -> Any:
    """Poll ``check()`` until it returns something true (generous ceilings only: the machine is loaded)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached after {timeout} s (last: {last})")
        time.sleep(interval)


class CloudLab:
    """A lab (``cl`` prefix) with per-namespace hosts/resolv.conf, a work dir, Tomcat and Python nodes."""

    def __init__(self, name: str, subnet: str) -> None:
        assert name.startswith("cl")
        remove_stale(name + "-")
        self.lab = Lab(name, subnet)
        self.work = tempfile.mkdtemp(prefix=f"tribes-{name}-")
        self.files: list[NetnsFiles] = []
        self.tomcats: list[CloudTomcatNode] = []
        self.pynodes: list[CloudPyNode] = []
        self.dns: Dnsmasq | None = None

    @property
    def gateway(self) -> str:
        return self.lab.gateway

    def host(self, name: str, index: int) -> Host:
        h = self.lab.add_host(name, index=index)
        f = NetnsFiles(h.ns)
        f.write(h.address, nameserver=self.gateway)
        self.files.append(f)
        return h

    def start_dns(self, records: Mapping[str, Sequence[str]]) -> Dnsmasq:
        self.dns = Dnsmasq(os.path.join(self.work, "dns"), listen=self.gateway, domain=DOMAIN,
                           prefix=["ip", "netns", "exec", self.lab.hub])
        self.dns.start(records)
        return self.dns

    def tomcat(self, index: int, version: str, cluster: ClusterConfig, env: Mapping[str, str],
               start: bool = True, jvm_opts: Sequence[str] = JVM_OPTS) -> CloudTomcatNode:
        host = self.host(f"t{index}", index)
        node = CloudTomcatNode(host, index, version, os.path.join(self.work, f"tomcat{index}"), cluster,
                               jvm_opts=list(jvm_opts), env=env, contexts=("app",))
        self.tomcats.append(node)
        if start:
            node.start(timeout=180)
        return node

    def python(self, index: int, provider: str, env: Mapping[str, str], manager_class: str | None = None,
               **membership_attrs: str) -> CloudPyNode:
        host = self.host("py", index)
        path = os.path.join(self.work, "py-server.xml")
        with open(path, "w") as f:
            f.write(python_server_xml(host.address, provider, manager_class, **membership_attrs))
        node = CloudPyNode(host, path, env)
        self.pynodes.append(node)
        return node

    def close(self) -> None:
        for p in self.pynodes:
            try:
                p.close()
            except Exception:
                pass
        for t in reversed(self.tomcats):
            try:
                t.stop(timeout=20)
            except Exception:
                try:
                    t.kill()
                except Exception:
                    pass
        if self.dns is not None:
            self.dns.stop()
        self.lab.close()
        for f in self.files:
            f.remove()
        if os.environ.get("TRIBES_KEEP_BASES") != "1":
            shutil.rmtree(self.work, ignore_errors=True)


NS = "shop"


class KubeLab:
    """A CloudLab with the stand-in Kubernetes API server (interop/cloud/kube_api.py) in its hub;
    ``env`` holds the variables Tomcat and the Python node read."""

    def __init__(self, name: str, subnet: str, token: str | None = None, trusted: bool = True) -> None:
        self.cl = CloudLab(name, subnet)
        api_ip = self.cl.gateway
        pki = os.path.join(self.cl.work, "pki")
        self.ca = TestCA(pki)
        signer = self.ca if trusted else TestCA(os.path.join(pki, "other"), "untrusted CA")
        cert = signer.issue("apiserver", ips=[api_ip])
        self.token = "sa-" + uuid.uuid4().hex
        self.token_file = os.path.join(pki, "token")
        with open(self.token_file, "w") as f:  # no newline: a Kubernetes token file has none
            f.write(token if token is not None else self.token)
        self.state_path = os.path.join(self.cl.work, "api-state.json")
        self.pods: dict[str, dict[str, Any]] = {}
        self.save()
        env = {**os.environ, "PYTHONPATH": REPO_ROOT}
        self.api = self.cl.lab.hub_popen([sys.executable, "-m", "interop.cloud.kube_api", "--bind", api_ip,
                                          "--port", "6443", "--cert", cert.cert, "--key", cert.key,
                                          "--state", self.state_path], env=env, stdout=subprocess.PIPE, text=True)
        assert self.api.stdout is not None
        line = self.api.stdout.readline()
        assert line.startswith("listening"), line
        self.env = {"KUBERNETES_NAMESPACE": NS, "KUBERNETES_SERVICE_HOST": api_ip, "KUBERNETES_SERVICE_PORT": "6443",
                    "KUBERNETES_LABELS": "app=tomcat", "SA_TOKEN_FILE": self.token_file,
                    "KUBERNETES_CA_CERTIFICATE_FILE": self.ca.path}

    def pod(self, name: str, ip: str, phase: str = "Running", app: str = "tomcat",
            created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
        p = {"name": name, "uid": str(uuid.uuid4()), "ip": ip, "phase": phase, "labels": {"app": app},
             "created": created}
        self.pods[name] = p
        self.save()
        return p

    def save(self) -> None:
        write_state(self.state_path, {"namespace": NS, "token": self.token, "pods": list(self.pods.values())})

    def requests(self) -> list[str]:
        try:
            with open(self.state_path + ".requests") as f:
                return f.read().splitlines()
        except OSError:
            return []


def ip_id(address: str) -> bytes:
    return md5_id(address)


__all__ = ["CloudLab", "CloudPyNode", "CloudTomcatNode", "cloud_cluster_config", "wait_for", "ip_id", "SERVICE",
           "REPO_ROOT", "PORT", "java_bytes", "KubeLab", "NS", "BACKUP_MANAGER"]
