"""Must-show 7: a mixed Tomcat 9.0 / 10.1 BackupManager cluster (slow).

Lab ``bkm`` / 10.77.152: tomcat1 10.1, tomcat2 9.0, tomcat3 10.1, the Python node .50. MemberImpl's
computed serialVersionUID differs between 9.0 and 10.1 and every MapMessage embeds members, so the
Tomcat nodes of different versions cannot read each other's map messages (InvalidClassException in
their logs). The Python node reads both forms, answers each node in its own form, and says so in its
log; `tribes config check node1.xml:10.1 node2.xml:9.0` reports the same for their server.xml files.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop.backup_support import BackupPyNode, backup_config, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    from interop.fixtures import require_root_and_java
    require_root_and_java(9, tomcat=True)
    require_root_and_java(10, tomcat=True)
    return lab_factory("bkm", "10.77.152")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 3, version="10", versions=["10", "9", "10"], cluster=backup_config())


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster) -> Iterator[BackupPyNode]:
    node = BackupPyNode(lab.add_host("py", index=50), ["--jvm-route", "py1", "--context", "/app", "--version", "10.1"])
    try:
        yield node
    finally:
        node.close()


def test_7_mixed_versions_are_diagnosed(lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    t9 = cluster.nodes[1]
    # the Tomcat nodes fail on each other's map messages (real Tomcat's side of the mismatch)
    wait_until(lambda: any("InvalidClassException" in n.log_text() or "Unable to deserialize MapMessage" in n.log_text()
                           for n in cluster.nodes), timeout=60, what="Tomcat's own InvalidClassException")
    # the Python node hears both versions and says the Tomcat nodes cannot replicate to each other
    st = wait_until(lambda: (lambda s: s if s["mixed_versions"] else None)(py.stats()), timeout=60,
                    what="mixed versions detected by the Python node")
    assert set(st["member_versions"].values()) == {"9", "10"}, st
    log = py.log_text()
    assert "mixed Tomcat versions in one BackupManager cluster" in log and "cannot replicate to each other" in log
    # the Python node itself talks to both: the 9.0 node has it as a member and added it to its map
    from tests.interop.backup_support import tomcat_map_members
    wait_until(lambda: py.host.address in t9.members_from_log() and py.host.address in tomcat_map_members(t9),
               what="9.0 node has the Python node as a map member")
    # the config check says the same for the server.xml files of such a cluster (FILE:VERSION per node)
    tmp = tempfile.mkdtemp(prefix="bkm-")
    args = []
    for n, v in ((cluster.nodes[0], "10.1"), (t9, "9.0")):
        xml = os.path.join(tmp, f"{n.jvm_route}.xml")
        with open(os.path.join(n.base, "conf", "server.xml")) as src, open(xml, "w") as dst:
            dst.write(src.read())
        args.append(f"{xml}:{v}")
    r = subprocess.run([sys.executable, "-m", "tribes.cli.main", "config", "check", *args, "--no-strict"],
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 3, out
    assert "BackupManager in a cluster of Tomcat 9.0 nodes" in out and "cannot replicate to each other" in out, out
