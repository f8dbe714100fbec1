"""pytest fixtures of the interop bed (registered by tests/conftest.py: pytest_plugins).

- ``require_root_and_java(version=10)``: plain function; ``pytest.skip`` with the reason when root,
  ip-netns, Java or the Tomcat jars of `version` are missing.
- ``lab_factory`` (module scope): ``lab_factory(name, subnet) -> Lab``; every lab is closed at the
  end of the module, even on failure.
- ``java_peer`` (function scope): ``java_peer(host, mode="member", args=(), version=10) -> JavaPeer``;
  every peer is stopped at the end of the test.
- ``tomcat_cluster_factory`` / ``tomcat_cluster`` (module scope): ``tomcat_cluster(lab, n=2,
  version="10", **kw) -> TomcatCluster`` (kw: see interop/tomcat/node.py TomcatCluster and
  ClusterConfig); started node by node, stopped at module end.
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Callable, Iterator, Sequence

import pytest

from interop import javatool
from interop import lab as lab_mod
from interop.lab import Host, Lab
from interop.peer import JavaPeer


def missing(version: str | int = 10, tomcat: bool = False) -> str | None:
    """Why the bed cannot run here (None when it can)."""
    why = lab_mod.missing_requirements()
    if why:
        return why
    why = javatool.missing_requirements(version)
    if why:
        return why
    if tomcat:
        from interop.tomcat import node as tnode
        why = tnode.missing_requirements(version)
        if why:
            return why
    return None


def require_root_and_java(version: str | int = 10, tomcat: bool = False) -> None:
    """Skip the calling test (or fixture) with a clear reason when the bed cannot run here."""
    why = missing(version, tomcat)
    if why:
        pytest.skip(f"interop bed unavailable: {why}")


def require_tcpdump() -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump not found: apt-get install -y tcpdump")


@pytest.fixture(scope="module")
def lab_factory() -> Iterator[Callable[..., Lab]]:
    labs: list[Lab] = []

    def make(name: str = "tb", subnet: str = "10.77.10") -> Lab:
        why = lab_mod.missing_requirements()
        if why:
            pytest.skip(f"interop bed unavailable: {why}")
        lab = Lab(name, subnet)
        labs.append(lab)
        return lab

    yield make
    for lab in reversed(labs):
        lab.close()


@pytest.fixture
def java_peer() -> Iterator[Callable[..., JavaPeer]]:
    peers: list[JavaPeer] = []

    def start(host: Host, mode: str = "member", args: Sequence[str] = (), version: str | int = 10,
              **kw: Any) -> JavaPeer:
        require_root_and_java(version)
        peer = JavaPeer.start(host, mode, args, version, **kw)
        peers.append(peer)
        return peer

    yield start
    for p in reversed(peers):
        p.close()


@pytest.fixture(scope="module")
def tomcat_cluster_factory() -> Iterator[Callable[..., Any]]:
    from interop.tomcat.node import TomcatCluster

    clusters: list[TomcatCluster] = []

    def make(lab: Lab, n: int = 2, version: str | int = "10", **kw: Any) -> TomcatCluster:
        require_root_and_java(version, tomcat=True)
        cluster = TomcatCluster(lab, version=version, **kw)
        clusters.append(cluster)
        try:
            cluster.start(n)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    yield make
    for c in reversed(clusters):
        c.stop()


@pytest.fixture(scope="module")
def tomcat_cluster(tomcat_cluster_factory: Callable[..., Any]) -> Callable[..., Any]:
    """Same as tomcat_cluster_factory: ``tomcat_cluster(lab, n=2, version="10", **kw)``."""
    return tomcat_cluster_factory


def pytest_configure(config: pytest.Config) -> None:  # keep CI logs readable
    os.environ.setdefault("TRIBES_INTEROP", "1")
