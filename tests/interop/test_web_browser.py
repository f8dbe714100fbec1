"""Issue 13, must-show 1: the browser scenario, in a real headless Chromium behind Apache httpd.

The lab (interop/web/scenario.py): two real Tomcat nodes (tomcat1/tomcat2) behind httpd's
mod_proxy_balancer (stickysession=JSESSIONID|jsessionid, route = jvmRoute), the Python app (the
Flask example under gunicorn, 4 workers, plus `tribes agent`) on its own `ProxyPass /app/py` before
the balancer, and Debian's chromium + chromedriver inside a lab namespace. One context `/app`: one
cookie, one session for both languages.

The scenario: log in on Tomcat's FORM login page; add two items on a Tomcat page; the Python page
greets the user and lists both; add one in Python: the Tomcat page lists three; kill -9 the Tomcat
node the browser is stuck to: the browser goes on on the other Tomcat and on the Python page with no
new login and all three items; log out on the Python page: Tomcat's protected page asks for the
login again. Screenshots are written under $TRIBES_ARTIFACTS (default <tmp>/tribes-artifacts) and
their directory is printed.

Tomcat 10.1 in the default tier, Tomcat 9.0 (the principal is serialized differently) under `slow`.
Skips (with the reason) only where root, Java/Tomcat or chromium/chromedriver are missing.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from typing import Any

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab, LabError, RootLeakWatch, default_interface
from interop.web import chrome as chrome_mod
from interop.web.scenario import BrowserScenario, WebLab

pytestmark = pytest.mark.interop

SUBNET = {"10": "10.77.130", "9": "10.77.131"}
LAB = {"10": "wlb10", "9": "wlb9"}


def _require(version: str) -> None:
    require_root_and_java(version, tomcat=True)
    why = chrome_mod.missing_requirements()
    if why:
        pytest.skip(f"browser unavailable: {why}")


def _artifacts(name: str) -> str:
    root = os.environ.get("TRIBES_ARTIFACTS") or os.path.join(tempfile.gettempdir(), "tribes-artifacts")
    path = os.path.join(root, name)
    os.makedirs(path, exist_ok=True)
    for f in os.listdir(path):
        if f.endswith(".png"):
            os.unlink(os.path.join(path, f))
    return path


def _run(version: str, python: bool, name: str) -> dict[str, Any]:
    _require(version)
    artifacts = _artifacts(name)
    steps: list[str] = []
    watch = None
    if default_interface() is not None:   # nothing of the lab (browser included) may reach the real link
        with contextlib.suppress(LabError):
            watch = RootLeakWatch(f"net {SUBNET[version]}.0/24 or host 228.0.0.4 or udp port 45564").start()
    t0 = time.monotonic()
    with Lab(LAB[version] + ("" if python else "t"), SUBNET[version]) as lab:
        web = WebLab.start(lab, version=version, python=python, artifacts=artifacts, say=steps.append)
        try:
            sc = BrowserScenario(web, say=steps.append)
            sc.login("alice")
            sc.add_on_tomcat(["book", "pen"])
            three = ["book", "pen"]
            if python:
                sc.python_page(["book", "pen"])
                sc.add_in_python("tea")
                three = ["book", "pen", "tea"]
                sc.tomcat_lists(three)
            else:
                sc.add_on_tomcat(["tea"])
                three = ["book", "pen", "tea"]
            victim = sc.kill_sticky()
            assert not victim.is_running()
            sc.after_failover(three, python=python)
            if python:
                sc.logout_in_python()
            else:
                sc.logout_on_tomcat()
            sc.tomcat_asks_login()
            # httpd's access log: the balancer honoured the route, then failed over to the survivor
            routes = [line for line in web.httpd.access_lines() if "/app/shop/cart" in line]
            assert any(f"worker={victim.jvm_route}" in line for line in routes), routes[-5:]
            survivor = next(n.jvm_route for n in web.cluster.nodes if n is not victim)
            assert any(f"route={victim.jvm_route} worker={survivor}" in line for line in routes), routes[-5:]
            if python:
                py_lines = [line for line in web.httpd.access_lines() if "/app/py" in line]
                assert py_lines and all("worker=-" in line for line in py_lines), py_lines[-5:]
        finally:
            shots = list(web.chrome.shots)
            web.close()
    elapsed = time.monotonic() - t0
    leaked = watch.stop() if watch is not None else 0
    assert leaked == 0, watch.summary() if watch else ""
    print(f"\nbrowser scenario on Tomcat {version} ({'with' if python else 'without'} Python): {elapsed:.1f} s "
          f"(setup {web.timings.get('setup', 0):.1f} s); {len(shots)} screenshots in {artifacts}")
    return {"elapsed": elapsed, "shots": shots, "steps": steps}


@pytest.mark.timeout(300)
def test_browser_scenario_tomcat10() -> None:
    """Must-show 1 on Tomcat 10.1: Tomcat and Python pages share the login and the cart, through a kill -9."""
    res = _run("10", python=True, name="web-browser-tomcat10")
    assert len(res["shots"]) >= 7 and all(os.path.getsize(p) > 1000 for p in res["shots"])


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_browser_scenario_tomcat9() -> None:
    """The same on Tomcat 9.0 (its principal is serialized as SerializablePrincipal)."""
    res = _run("9", python=True, name="web-browser-tomcat9")
    assert len(res["shots"]) >= 7 and all(os.path.getsize(p) > 1000 for p in res["shots"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tomcat_login_cart_failover_logout_in_browser() -> None:
    """The Tomcat half of the scenario through httpd: FORM login, cart, kill -9 of the sticky node, logout."""
    res = _run("10", python=False, name="web-browser-tomcat10")
    assert len(res["shots"]) >= 5 and all(os.path.getsize(p) > 1000 for p in res["shots"])
