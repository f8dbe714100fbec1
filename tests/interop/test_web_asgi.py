"""ASGI adapter (examples/fastapi_app: FastAPI on uvicorn, 2 workers, + tribes agent) against a real Tomcat 10.1 node.

Lab "wcasgi": tomcat1 .1, the Python host .50 (agent jvmRoute py1, uvicorn 2 workers). Must-show
2 and 4 of issue 13 for Starlette/FastAPI (request.session, tribes.web.login/logout).
"""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop import web_cases as cases
from tests.interop.sessions_support import session_lab
from tests.interop.web_support import PyWeb, uvicorn, web_fixture

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    session_lab(lambda name, subnet: None, "x", ["10"])          # skips without root/Java/Tomcat
    return lab_factory("wcasgi", "10.77.143")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 1, version="10")


@pytest.fixture(scope="module")
def web(lab: Lab, cluster: TomcatCluster) -> Iterator[PyWeb]:
    yield from web_fixture(lab, cluster, lambda h: uvicorn("examples.fastapi_app.app:app", h, workers=2),
                           agent_args=["--max-write-bytes", "200000"])


def test_read_tomcat_typed_values(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.read_typed(lab, cluster, web)


def test_write_remove_invalidate(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.write_remove_invalidate(lab, cluster, web)


def test_login_tomcat_to_python(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.login_tomcat_to_python(lab, cluster, web)


def test_login_python_to_tomcat(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.login_python_to_tomcat(lab, cluster, web)


def test_route_rename(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.route_rename(lab, cluster, web)


def test_bad_input(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.bad_input(lab, cluster, web)
