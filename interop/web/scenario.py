"""The web lab put together, and the browser scenario of issue 13 as reusable steps.

    web = WebLab.start(lab, version="10", python=True)     # 2 Tomcat nodes, the Python app, httpd, chromium
    sc = BrowserScenario(web, check=my_check, say=print)
    sc.login("alice", "secret")                # the Tomcat FORM login page, through httpd
    sc.add_on_tomcat(["book", "pen"])
    sc.python_page(["book", "pen"])            # /app/py/: greets alice, lists both
    ...
    web.close()

Hosts of the lab (``<subnet>.N``): tomcat1/2 on t1/t2 (.1, .2), the Python app on ``py`` (.50), httpd on
``lb`` (.100), the browser on ``cl`` (.200). The user only ever talks to httpd: ``http://<subnet>.100/app/...``.

`check(ok, text, **fields)` is called for every verification (a test raises on False, the demo
narrates); `say(text)` narrates a step. Screenshots go to ``web.chrome.artifacts``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from interop.lab import Host, Lab
from interop.tomcat.node import FAST_START_OPTS, TomcatCluster, TomcatNode
from interop.web.chrome import LabChrome
from interop.web.httpd import Httpd

log = logging.getLogger("tribes.interop.web.scenario")

PY_INDEX = 50
LB_INDEX = 100
CLIENT_INDEX = 200
PY_PORT = 8000
USERS = {"alice": "secret", "bob": "builder"}   # interop/tomcat/node.py USERS_XML (role shopper)
CART_PATH = "/app/shop/cart"
PY_PATH = "/app/py/"
LOGIN_MARK = "tribeslab-login-page"
#: channelSendOptions of the Tomcat nodes of the browser scenario: USE_ACK|SYNCHRONIZED_ACK. With Tomcat's
#: asynchronous default (8) MessageDispatchInterceptor sends from a thread pool, so the FORM login's
#: CHANGE_SESSION_ID and the DELTA that carries the principal (both sent during the login request) can
#: reach the other Tomcat node in the wrong order; that node then drops the DELTA (unknown id) and holds
#: the session without the user, so a kill -9 of the sticky node ends in a new login on the survivor (a
#: Tomcat-to-Tomcat race, seen 1 run in 10 on a loaded machine; the Python node holds such messages in its
#: reorder window). Synchronous sends keep each request's messages in order.
SCENARIO_SEND_OPTIONS = "6"

Check = Callable[..., bool]
Say = Callable[[str], None]


@dataclass
class WebLab:
    lab: Lab
    cluster: TomcatCluster
    httpd: Httpd
    chrome: LabChrome
    python: Any = None                 # interop.web.pyapp.PythonApp when the Python side runs
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.httpd.url

    @classmethod
    def start(cls, lab: Lab, version: str = "10", python: bool = True, artifacts: str | None = None,
              say: Say = lambda s: None, jvm_opts: Sequence[str] = tuple(FAST_START_OPTS),
              workers: int = 4, channel_send_options: str = SCENARIO_SEND_OPTIONS) -> "WebLab":
        """Two Tomcat nodes (t1, t2), then everything of :meth:`around`."""
        t0 = time.monotonic()
        cluster = TomcatCluster(lab, version=version, jvm_opts=jvm_opts, channel_send_options=channel_send_options)
        try:
            for i in (1, 2):
                say(f"starting Tomcat {version} node tomcat{i} on {lab.subnet}.{i}")
                cluster.add_node(timeout=120)
            cluster.wait_membership(timeout=60)
        except BaseException:
            with contextlib.suppress(Exception):
                cluster.stop()
            raise
        t_tomcat = time.monotonic() - t0
        web = cls.around(lab, cluster, python=python, artifacts=artifacts, say=say, workers=workers,
                         stop_cluster_on_error=True)
        web.timings["tomcat"] = t_tomcat
        web.timings["setup"] = time.monotonic() - t0
        return web

    @classmethod
    def around(cls, lab: Lab, cluster: TomcatCluster, python: bool = True, artifacts: str | None = None,
               say: Say = lambda s: None, workers: int = 4, py_host: Host | None = None,
               stop_cluster_on_error: bool = False) -> "WebLab":
        """The Python app (host `py`), httpd (host `lb`) and chromium (host `cl`) around a running cluster."""
        t0 = time.monotonic()
        httpd: Httpd | None = None
        chrome: LabChrome | None = None
        app: Any = None
        timings: dict[str, float] = {}
        try:
            py_url = f"http://{lab.subnet}.{PY_INDEX}:{PY_PORT}"
            if python:
                from interop.web.pyapp import PythonApp
                t1 = time.monotonic()
                server_xml = os.path.join(cluster.nodes[0].base, "conf", "server.xml")
                host = py_host or lab.hosts.get("py") or lab.add_host("py", index=PY_INDEX)
                py_url = f"http://{host.address}:{PY_PORT}"
                say(f"starting the Python app on {host.address}: `tribes agent` + gunicorn "
                    f"({workers} workers), with tomcat1's own server.xml")
                app = PythonApp(host, server_xml, port=PY_PORT, workers=workers).start()
                app.wait_member_of(cluster.running(), timeout=60)
                timings["python"] = time.monotonic() - t1
            t1 = time.monotonic()
            lb = lab.hosts.get("lb") or lab.add_host("lb", index=LB_INDEX)
            httpd = Httpd(lb, [(n.url, n.jvm_route) for n in cluster.nodes], python_url=py_url).start()
            say(f"httpd on {httpd.url}: balancer://tomcats (stickysession=JSESSIONID|jsessionid, route=tomcat1/"
                f"tomcat2), ProxyPass /app/py -> {py_url}/app/py before ProxyPass /app ({httpd.conf_path})")
            timings["httpd"] = time.monotonic() - t1
            t1 = time.monotonic()
            chrome = LabChrome(lab.hosts.get("cl") or lab.add_host("cl", index=CLIENT_INDEX),
                               artifacts=artifacts).start()
            say(f"headless Chromium in namespace {chrome.host.ns} ({chrome.host.address}); screenshots in "
                f"{chrome.artifacts}")
            timings["chrome"] = time.monotonic() - t1
        except BaseException:
            for closer in (chrome, httpd, app):
                if closer is not None:
                    with contextlib.suppress(Exception):
                        closer.close()
            if stop_cluster_on_error:
                with contextlib.suppress(Exception):
                    cluster.stop()
            raise
        timings["setup"] = time.monotonic() - t0
        return cls(lab, cluster, httpd, chrome, app, timings)

    def node(self, jvm_route: str) -> TomcatNode:
        return next(n for n in self.cluster.nodes if n.jvm_route == jvm_route)

    def close(self, stop_cluster: bool = True) -> None:
        for closer in (self.chrome, self.httpd, self.python):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        if stop_cluster:
            with contextlib.suppress(Exception):
                self.cluster.stop()


def _strict_check(ok: bool, text: str, **fields: Any) -> bool:
    if not ok:
        raise AssertionError(f"{text} {fields if fields else ''}")
    return True


class BrowserScenario:
    """The user's walk through Tomcat and Python pages, with checks; everything goes through httpd."""

    def __init__(self, web: WebLab, check: Check = _strict_check, say: Say = lambda s: None) -> None:
        self.web = web
        self.chrome = web.chrome
        self.check = check
        self.say = say
        self.user = ""
        self.sticky: str | None = None        # jvmRoute of the Tomcat node the browser is stuck to
        self.killed: str | None = None
        #: what the other Tomcat nodes held of the session just before the kill (/peek views)
        self.replicas: dict[str, Any] = {}

    # -- helpers ---------------------------------------------------------------------------------------
    def shot(self, name: str) -> str:
        path = self.chrome.screenshot(name)
        self.say(f"screenshot: {path}")
        return path

    def session_id(self) -> str | None:
        return self.chrome.cookie("JSESSIONID")

    def on_login_page(self) -> bool:
        return LOGIN_MARK in self.chrome.source()

    def open_cart(self) -> None:
        self.chrome.get(self.web.url + CART_PATH)

    def tomcat_items(self) -> list[str]:
        return self.chrome.texts("#cart li")

    def python_items(self) -> list[str]:
        """Cart items on the Python page: `#cart li` if the page has it, else every <li>."""
        items = self.chrome.texts("#cart li")
        return items if items or self.chrome.has("#cart") else self.chrome.texts("li")

    def page_text(self) -> str:
        return str(self.chrome.script("return document.body ? document.body.innerText : ''"))

    # -- steps ---------------------------------------------------------------------------------------
    def login(self, user: str = "alice", password: str | None = None) -> None:
        self.say(f"the browser opens {CART_PATH}: Tomcat answers with its FORM login page")
        self.open_cart()
        self.check(self.on_login_page(), "a protected Tomcat page shows Tomcat's FORM login page")
        self.shot("tomcat-login-page")
        self.say(f"logging in as {user}")
        self.chrome.fill("#j_username", user)
        self.chrome.fill("#j_password", password or USERS[user])
        self.chrome.click("#login-button")
        name = self.chrome.text("#user")
        self.sticky = self.chrome.text("#node")
        self.user = user
        self.check(name == user, f"Tomcat's cart page greets {user!r} after the FORM login", got=name,
                   node=self.sticky, session=self.session_id())
        sid = self.session_id() or ""
        self.check(sid.endswith("." + self.sticky), f"the session cookie carries the route of {self.sticky}",
                   session=sid)

    def add_on_tomcat(self, items: Sequence[str]) -> None:
        self.say(f"adding {', '.join(items)} to the cart on the Tomcat page")
        self.open_cart()
        before = self.tomcat_items()
        for item in items:
            self.chrome.fill("#item", item)
            self.chrome.click("#add-button")
        got = self.tomcat_items()
        self.check(got == before + list(items), f"the Tomcat page lists {got}", node=self.chrome.text("#node"))
        self.shot("tomcat-cart")

    def python_page(self, expect: Sequence[str], wait: float = 20) -> None:
        """Open the Python page; replication is asynchronous (as between Tomcat nodes), so the page is
        reloaded until it lists `expect` or `wait` seconds have passed (the reloads are narrated)."""
        self.say(f"opening the Python page {PY_PATH} (httpd: ProxyPass /app/py, not the balancer)")
        deadline = time.monotonic() + wait
        loads = 0
        while True:
            self.chrome.get(self.web.url + PY_PATH)
            loads += 1
            if all(i in self.python_items() for i in expect) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        if loads > 1:
            self.say(f"the Python page was loaded {loads} times before it listed {list(expect)}")
        text = self.page_text()
        self.check(not self.on_login_page(), "the Python page does not ask for a login")
        greeted = self.chrome.texts("#user")
        self.check(greeted == [self.user] if greeted else self.user in text,
                   f"the Python page greets the user by name ({self.user})", page=text[:300])
        names = sorted(c.get("name", "") for c in self.chrome.cookies())
        self.check(names == ["JSESSIONID"], f"the browser holds one session cookie for both languages: {names}")
        shown = self.chrome.texts("#session")
        if shown:
            self.check(shown[0].strip() == self.session_id(), f"the Python page serves session {shown[0]}",
                       cookie=self.session_id())
        items = self.python_items()
        self.check(all(i in items for i in expect), f"the Python page lists the cart {items}", expected=list(expect))
        self.shot("python-page")

    def add_in_python(self, item: str) -> None:
        self.say(f"adding {item!r} on the Python page")
        self.chrome.get(self.web.url + PY_PATH)
        self.chrome.fill("input[name=item]", item)
        self.chrome.click("form:has(input[name=item]) [type=submit]")
        items = self.python_items()
        self.check(item in items, f"the Python page lists {items}")

    def tomcat_lists(self, expect: Sequence[str], wait: float = 20) -> list[str]:
        """Open the Tomcat cart page until it lists `expect` (replication is asynchronous: polled)."""
        deadline = time.monotonic() + wait
        while True:
            self.open_cart()
            got = self.tomcat_items()
            if got == list(expect) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        self.check(got == list(expect), f"the Tomcat page ({self.chrome.text('#node')}) lists {got}",
                   expected=list(expect))
        return got

    def survivors_hold(self, victim: TomcatNode, wait: float = 20) -> dict[str, Any]:
        """Wait until every other running Tomcat node holds the browser's session with the user and the
        cart the browser saw (replication settles; a generous ceiling, polled), check it, return the views."""
        sid = self.session_id() or ""
        items = self.tomcat_items()
        others = [n for n in self.web.cluster.running() if n is not victim]
        deadline = time.monotonic() + wait
        while True:
            views: dict[str, Any] = {}
            for n in others:
                try:
                    views[n.jvm_route] = n.peek(sid)
                except Exception as exc:  # noqa: BLE001 - a diagnostic: reported, then checked below
                    views[n.jvm_route] = {"error": repr(exc)}

            def holds(v: Any) -> bool:
                if not isinstance(v, dict) or v.get("user") != self.user:
                    return False
                cart = next((a.get("value") for a in v.get("attributes", []) if a.get("name") == "cart"), "")
                return all(i in str(cart) for i in items)

            if all(holds(v) for v in views.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        self.check(all(holds(v) for v in views.values()),
                   f"before the kill, {', '.join(views) or 'no other node'} holds session {sid} with user "
                   f"{self.user!r} and the cart {items}", replicas=views)
        return views

    def kill_sticky(self) -> TomcatNode:
        self.open_cart()
        route = self.chrome.text("#node")
        victim = self.web.node(route)
        self.replicas = self.survivors_hold(victim)
        self.say(f"kill -9 of {route}, the Tomcat node this browser is stuck to (pid {victim.proc.pid if victim.proc else '?'})")
        victim.kill()
        self.killed = route
        return victim

    def after_failover(self, expect: Sequence[str], python: bool = True) -> None:
        self.say("the browser goes on: Tomcat page, then the Python page")
        self.open_cart()
        login = self.on_login_page()
        self.check(not login, "no new login after the kill", replicas_at_kill=self.replicas,
                   cookie=self.session_id())
        node = self.chrome.text("#node") if not login else "?"
        self.check(node != self.killed, f"the cart page is now served by {node}", killed=self.killed)
        got = self.tomcat_items() if not login else []
        deadline = time.monotonic() + 20      # the survivor got the Python write asynchronously
        while not login and got != list(expect) and time.monotonic() < deadline:
            time.sleep(0.3)
            self.open_cart()
            got = self.tomcat_items()
        self.check(got == list(expect), f"{node} lists {got}", expected=list(expect))
        sid = self.session_id() or ""
        self.check(sid.endswith("." + node), f"JvmRouteBinderValve renamed the session to {node}'s route",
                   session=sid)
        self.shot("tomcat-after-failover")
        if python:
            self.python_page(expect)

    def logout_in_python(self) -> None:
        self.say("logging out on the Python page")
        self.chrome.get(self.web.url + PY_PATH)
        for css in ("#logout", "a[href*=logout]", "form[action*=logout] [type=submit]"):
            if self.chrome.has(css):
                self.chrome.click(css)
                break
        else:
            self.check(False, "the Python page has a logout link or button")
        self.check(self.user not in self.chrome.texts("#user"), f"the Python page no longer greets {self.user}",
                   page=self.page_text()[:200])
        self.shot("python-after-logout")

    def logout_on_tomcat(self) -> None:
        self.say("logging out on the Tomcat page")
        self.open_cart()
        self.chrome.click("#logout")

    def tomcat_asks_login(self, wait: float = 20) -> None:
        deadline = time.monotonic() + wait
        while True:
            self.open_cart()
            asked = self.on_login_page()
            if asked or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        self.check(asked, "Tomcat's protected page asks for the login again")
        self.shot("tomcat-login-again")
