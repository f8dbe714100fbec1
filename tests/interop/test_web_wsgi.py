"""Generic WSGI middleware with an in-process member (examples/wsgi_app: one process, no agent)
against a real Tomcat 10.1 node. Lab "wcwsgi": tomcat1 .1, the Python host .50 (jvmRoute py1)."""
from __future__ import annotations

import os
from typing import Callable, Iterator

import pytest

from interop.lab import Host, Lab
from interop.tomcat.node import TomcatCluster
from tests.interop import web_cases as cases
from tests.interop.sessions_support import session_lab
from tests.interop.web_support import PyWeb

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    session_lab(lambda name, subnet: None, "x", ["10"])          # skips without root/Java/Tomcat
    return lab_factory("wcwsgi", "10.77.145")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 1, version="10")


def _server(host: Host) -> list[str]:
    return [os.environ.get("PYTHON", "python3"), "-m", "examples.wsgi_app.app", "--bind", host.address,
            "--jvm-route", "py1", "--port", "8000", "--max-write-bytes", "200000"]


@pytest.fixture(scope="module")
def web(lab: Lab, cluster: TomcatCluster) -> Iterator[PyWeb]:
    host = lab.add_host("py", index=50)
    w = PyWeb(host, _server(host))
    try:
        w.start_server(timeout=120)                 # no agent: the member lives in the server process
        w.wait_member_of(cluster)
        yield w
    finally:
        w.close()


def test_read_tomcat_typed_values(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.read_typed(lab, cluster, web)


def test_write_remove_invalidate(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.write_remove_invalidate(lab, cluster, web)


def test_login_both_ways(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.login_tomcat_to_python(lab, cluster, web)
    cases.login_python_to_tomcat(lab, cluster, web)


def test_bad_input(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.bad_input(lab, cluster, web, foreign_context=False)     # ROOT ids: the agent modules check them
