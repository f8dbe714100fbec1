"""Django adapter (examples/django_app under gunicorn + tribes agent) against a real Tomcat 10.1 node.

Lab "wcdjango": tomcat1 .1, the Python host .50 (agent jvmRoute py1, gunicorn 2 workers). Must-show
2 and 4 of issue 13 for Django: SESSION_ENGINE, request.user from Tomcat's login, login()/logout().
"""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop import web_cases as cases
from tests.interop.sessions_support import session_lab
from tests.interop.web_support import PyWeb, WebBrowser, api, gunicorn, wait_until, web_fixture

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    session_lab(lambda name, subnet: None, "x", ["10"])          # skips without root/Java/Tomcat
    return lab_factory("wcdjango", "10.77.142")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 1, version="10")


@pytest.fixture(scope="module")
def web(lab: Lab, cluster: TomcatCluster) -> Iterator[PyWeb]:
    yield from web_fixture(lab, cluster, lambda h: gunicorn("examples.django_app.wsgi:application", h, workers=2),
                           agent_args=["--max-write-bytes", "200000"])


def test_read_tomcat_typed_values(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.read_typed(lab, cluster, web)


def test_write_remove_invalidate(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.write_remove_invalidate(lab, cluster, web)


def test_login_tomcat_to_python(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.login_tomcat_to_python(lab, cluster, web)


def test_django_login_to_tomcat_and_logout(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    """Django's login(): Tomcat's principal + a new id + Django's _auth_user_* keys; logout(): gone everywhere."""
    t1 = cluster.nodes[0]
    b = WebBrowser(lab)
    r = b.post(web.url, "/app/py/cart", {"item": "book"})
    before = b.session_id("/app")
    assert r.status in (302, 303) and before
    r = b.post(web.url, "/app/py/login", {"username": "alice", "password": "secret"})
    after = b.session_id("/app")
    assert r.status in (302, 303) and after and after.split(".")[0] != before.split(".")[0]
    view = wait_until(lambda: t1.peek(after), what="Django login on Tomcat")
    assert view["user"] == "alice"
    names = {a["name"]: a["type"] for a in view["attributes"]}
    for key in ("_auth_user_id", "_auth_user_backend", "_auth_user_hash", "_csrftoken"):
        assert names.get(key) == "java.lang.String", (key, names)
    r = b.get(t1, "/app/secure/whoami")
    assert r.status == 200 and r.json()["user"] == "alice", r.body
    st, v = api(b, web)
    assert st == 200 and v["user"] == "alice" and [x["value"] for x in v["attributes"]["cart"]["value"]] == ["book"]
    renamed = b.session_id("/app")
    r = b.get(web.url, "/app/py/logout")
    assert r.status in (302, 303)
    wait_until(lambda: t1.peek(renamed) is None, what="Django logout (flush) on Tomcat")
    r = b.get(t1, "/app/secure/whoami")
    assert "tribeslab-login-page" in r.body


def test_bad_input(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.bad_input(lab, cluster, web)
