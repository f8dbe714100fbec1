"""Flask adapter (examples/flask_app under gunicorn + tribes agent) against a real Tomcat 10.1 node.

Lab "wcflask": tomcat1 .1, the Python host .50 (agent jvmRoute py1, gunicorn 2 workers). Must-show
2 (typed values, writes, logins) and 4 (bad input) of issue 13.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

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
    return lab_factory("wcflask", "10.77.141")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 1, version="10")


@pytest.fixture(scope="module")
def web(lab: Lab, cluster: TomcatCluster) -> Iterator[PyWeb]:
    yield from web_fixture(lab, cluster, lambda h: gunicorn("examples.flask_app.app:app", h, workers=2),
                           agent_args=["--max-write-bytes", "200000"])


def test_read_tomcat_typed_values(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.read_typed(lab, cluster, web)


def test_write_remove_invalidate(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.write_remove_invalidate(lab, cluster, web)


def test_flash_round_trips_as_arraylist(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    t1 = cluster.nodes[0]
    b = WebBrowser(lab)
    st, _ = api(b, web, {"flash": "saved", "set": {"_permanent": True}})
    sid = b.session_id("/app")
    assert st == 200 and sid
    v = wait_until(lambda: cases.peek_types(t1, sid) if t1.peek(sid) else None, what="flash on Tomcat")
    assert v["_flashes"] == ("java.util.ArrayList", "[[message, saved]]")
    assert v["_permanent"] == ("java.lang.Boolean", "true")
    r = b.get(web.url, "/app/py/")
    assert r.status == 200 and '<li class="flash">saved</li>' in r.body
    r = b.get(web.url, "/app/py/")
    assert "saved" not in r.body, "a flashed message is shown once"
    wait_until(lambda: "_flashes" not in cases.peek_types(t1, sid), what="_flashes removed on Tomcat")


def test_login_tomcat_to_python(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.login_tomcat_to_python(lab, cluster, web)


def test_login_python_to_tomcat(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.login_python_to_tomcat(lab, cluster, web)


def test_bad_input(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.bad_input(lab, cluster, web)


def test_route_rename(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.route_rename(lab, cluster, web)


def test_cookie_is_tomcats(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    b = WebBrowser(lab)
    r = b.post(web.url, "/app/py/cart", {"item": "pen"})
    cookies = [v for k, v in r.headers if k.lower() == "set-cookie"]
    assert len(cookies) == 1, cookies
    c: Any = cookies[0]
    assert c.startswith("JSESSIONID=") and "Path=/app" in c and "HttpOnly" in c
    sid = c.split(";")[0].split("=", 1)[1]
    assert len(sid.split(".")[0]) == 32 and sid.split(".")[0].isupper() and sid.endswith(".py1")


def test_concurrent_tomcat_and_python_requests(lab: Lab, cluster: TomcatCluster, web: PyWeb) -> None:
    cases.concurrent_writers(lab, cluster, web)
