"""The web lab's pieces without a lab: the generated httpd.conf (checked by Debian's own httpd -t)
and the browser helper's refusal to run without its requirements."""
from __future__ import annotations

import os
import re
import subprocess
import tempfile

import pytest

from interop.web import chrome as chrome_mod
from interop.web.httpd import HTTPD, MODULES, HttpdConfig, missing_requirements

MEMBERS = [("http://10.77.130.1:8080", "tomcat1"), ("http://10.77.130.2:8080", "tomcat2")]


def _conf(**kw: object) -> str:
    return HttpdConfig("10.77.130.100", MEMBERS, "http://10.77.130.50:8000", **kw).render("/tmp/x")  # type: ignore[arg-type]


def test_balancer_is_sticky_by_jvm_route() -> None:
    conf = _conf()
    assert 'BalancerMember "http://10.77.130.1:8080" route=tomcat1' in conf
    assert 'BalancerMember "http://10.77.130.2:8080" route=tomcat2' in conf
    assert "stickysession=JSESSIONID|jsessionid" in conf
    assert re.search(r"^Listen 10\.77\.130\.100:80$", conf, re.M)   # the lab address only, never *:80


def test_python_app_has_its_own_proxypass_before_the_balancer() -> None:
    conf = _conf()
    lines = [line for line in conf.splitlines() if line.startswith("ProxyPass ")]
    assert lines == ['ProxyPass "/app/py" "http://10.77.130.50:8000/app/py"',    # path kept
                     'ProxyPass "/app" "balancer://tomcats/app"']                 # first match wins
    assert "10.77.130.50" not in conf.split("<Proxy")[1].split("</Proxy>")[0]    # not a balancer member


def test_minimal_module_list() -> None:
    loaded = re.findall(r"^LoadModule (\S+)", _conf(), re.M)
    assert loaded == [name for name, _ in MODULES]
    assert set(loaded) == {"mpm_event_module", "authz_core_module", "proxy_module", "proxy_http_module",
                           "proxy_balancer_module", "slotmem_shm_module", "lbmethod_byrequests_module",
                           "headers_module"}


def test_no_members_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one balancer member"):
        HttpdConfig("10.77.130.100", [], None).render("/tmp/x")


def test_debian_httpd_accepts_the_generated_config() -> None:
    why = missing_requirements()
    if why:
        pytest.fail(f"{why}: scripts/setup.sh installs it")
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "run"))
        os.makedirs(os.path.join(d, "logs"))
        path = os.path.join(d, "httpd.conf")
        with open(path, "w") as f:
            f.write(HttpdConfig("127.0.0.1", MEMBERS, "http://10.77.130.50:8000", port=18080).render(d))
        res = subprocess.run([HTTPD, "-t", "-f", path], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and "Syntax OK" in res.stderr, res.stderr


def test_browser_flags_and_paths_are_debians() -> None:
    assert chrome_mod.CHROMIUM == "/usr/bin/chromium" and chrome_mod.CHROMEDRIVER == "/usr/bin/chromedriver"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        assert flag in chrome_mod.FLAGS
