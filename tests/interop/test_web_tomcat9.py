"""The Flask adapter with a Tomcat 9.0 node (slow tier): 9.0's session streams and its
SerializablePrincipal (with the password field) both ways. Lab "wcnine": tomcat1 .1, Python .50
(agent --tomcat-version 9.0, gunicorn 2 workers)."""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop import web_cases as cases
from tests.interop.sessions_support import session_lab
from tests.interop.web_support import PyWeb, gunicorn, web_fixture

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    session_lab(lambda name, subnet: None, "x", ["9"])           # skips without root/Java/Tomcat 9
    return lab_factory("wcnine", "10.77.146")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 1, version="9")


@pytest.fixture(scope="module")
def web(lab: Lab, cluster: TomcatCluster) -> Iterator[PyWeb]:
    yield from web_fixture(lab, cluster, lambda h: gunicorn("examples.flask_app.app:app", h, workers=2),
                           agent_args=["--tomcat-version", "9.0", "--max-write-bytes", "200000"])


def test_read_and_write_typed_values(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.write_remove_invalidate(lab, cluster, web)


def test_login_tomcat_to_python(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.login_tomcat_to_python(lab, cluster, web)


def test_login_python_to_tomcat(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.login_python_to_tomcat(lab, cluster, web)
