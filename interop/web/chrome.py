"""Debian's headless Chromium, driven by selenium, INSIDE a lab namespace.

    chrome = LabChrome(lab.add_host("cl", index=200), artifacts="/tmp/shots").start()
    chrome.get("http://10.77.130.100/app/shop/cart")
    chrome.fill("#j_username", "alice"); chrome.fill("#j_password", "secret"); chrome.click("#login-button")
    chrome.texts("#cart li")                  # ["book", "pen"]
    chrome.screenshot("after-login")          # PNG under `artifacts`, returns its path
    chrome.close()

How it gets into the namespace: every selenium call runs on one worker thread that first joins the
host's network namespace with setns(2) (a network namespace is per thread on Linux). chromedriver is
started by selenium from that thread, so it and the chromium it starts live in the namespace, and
selenium's own HTTP connections to chromedriver (127.0.0.1 of the namespace) are made from there too.
Nothing of the browser is reachable from, or reaches, the root namespace.

No driver manager and no downloads: selenium is given /usr/bin/chromedriver (the Service path, which
makes it skip Selenium Manager) and /usr/bin/chromium. Flags: headless, --no-sandbox (we run as root),
no GPU, no QUIC, no first-run, no background networking/component update/sync, a new empty
--user-data-dir.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import logging
import os
import shutil
import tempfile
import time
from typing import Any, Callable, TypeVar

from interop.lab import Host

log = logging.getLogger("tribes.interop.web.chrome")

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CLONE_NEWNET = 0x40000000
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--no-default-browser-check", "--disable-extensions",
         "--no-proxy-server", "--window-size=1100,850"]
INSTALL_HINT = "apt-get install -y chromium chromium-driver && pip install selenium (or run scripts/setup.sh as root)"

T = TypeVar("T")


class ChromeError(RuntimeError):
    """The browser could not be started or did not do what was asked (the message says what)."""


def missing_requirements() -> str | None:
    """Why the lab browser cannot run here, or None."""
    if os.geteuid() != 0:
        return "the lab browser runs in a network namespace: needs root"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} not found: {INSTALL_HINT}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"python package selenium missing: {INSTALL_HINT}"
    return None


def enter_netns(ns: str) -> None:
    """Move the CALLING THREAD into network namespace `ns` (/run/netns/<ns>)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise ChromeError(f"setns({ns}) failed: {os.strerror(err)}")
    finally:
        os.close(fd)


class LabChrome:
    """A headless Chromium in lab host `host`; every call runs on the browser's namespace thread."""

    def __init__(self, host: Host, artifacts: str | None = None, page_timeout: float = 60,
                 wait_timeout: float = 30) -> None:
        why = missing_requirements()
        if why:
            raise ChromeError(why)
        self.host = host
        self.artifacts = artifacts or tempfile.mkdtemp(prefix="tribes-chrome-")
        os.makedirs(self.artifacts, exist_ok=True)
        self.page_timeout = page_timeout
        self.wait_timeout = wait_timeout
        self.profile = tempfile.mkdtemp(prefix="tribes-chrome-profile-")   # new, empty user data dir
        self.driver: Any = None
        self.shots: list[str] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"chrome-{host.ns}",
                                                           initializer=enter_netns, initargs=(host.ns,))

    # -- plumbing ---------------------------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 180) -> T:
        """Run fn(*args) on the namespace thread; its result or its exception."""
        return self._pool.submit(fn, *args).result(timeout)

    def _start(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in FLAGS:
            opts.add_argument(flag)
        opts.add_argument(f"--user-data-dir={self.profile}")
        service = Service(executable_path=CHROMEDRIVER, log_output=os.path.join(self.artifacts, "chromedriver.log"))
        self.driver = webdriver.Chrome(options=opts, service=service)
        self.driver.set_page_load_timeout(self.page_timeout)

    def start(self) -> "LabChrome":
        t0 = time.monotonic()
        try:
            self.call(self._start)
        except Exception as exc:
            self.close()
            raise ChromeError(f"chromium did not start in {self.host.ns}: {exc} "
                              f"(chromedriver log: {self.artifacts}/chromedriver.log)") from exc
        log.info("chromium up in %s after %.1f s", self.host.ns, time.monotonic() - t0)
        return self

    def close(self) -> None:
        """Quit the browser (chromedriver and chromium), stop the thread, remove the profile."""
        if self.driver is not None:
            with contextlib.suppress(Exception):
                self.call(self.driver.quit, timeout=60)
            self.driver = None
        self._pool.shutdown(wait=True)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "LabChrome":
        return self.start() if self.driver is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- page actions -------------------------------------------------------------------------------
    def get(self, url: str) -> str:
        """Load `url`; returns the URL the browser ends on (after redirects)."""
        def go() -> str:
            self.driver.get(url)
            return str(self.driver.current_url)
        return self.call(go)

    @property
    def current_url(self) -> str:
        return str(self.call(lambda: self.driver.current_url))

    @property
    def title(self) -> str:
        return str(self.call(lambda: self.driver.title))

    def source(self) -> str:
        return str(self.call(lambda: self.driver.page_source))

    def _find(self, css: str, timeout: float | None) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, self.wait_timeout if timeout is None else timeout).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def has(self, css: str) -> bool:
        from selenium.webdriver.common.by import By
        return bool(self.call(lambda: self.driver.find_elements(By.CSS_SELECTOR, css)))

    def text(self, css: str, timeout: float | None = None) -> str:
        """Visible text of the first element matching `css` (waits for it to exist)."""
        return str(self.call(lambda: self._find(css, timeout).text))

    def texts(self, css: str) -> list[str]:
        """Visible texts of every element matching `css` (now, no wait)."""
        from selenium.webdriver.common.by import By
        return [str(e.text) for e in self.call(lambda: self.driver.find_elements(By.CSS_SELECTOR, css))]

    def fill(self, css: str, value: str) -> None:
        def do() -> None:
            el = self._find(css, None)
            el.clear()
            el.send_keys(value)
        self.call(do)

    def click(self, css: str) -> str:
        """Click the element and wait until the page it leads to has loaded; returns the new URL."""
        def do() -> str:
            from selenium.webdriver.support.ui import WebDriverWait
            el = self._find(css, None)
            old = self.driver.find_element("tag name", "html")
            el.click()
            # a navigation replaces the document: wait for the old <html> to go stale, then for readiness
            def replaced(d: Any) -> bool:
                try:
                    old.tag_name
                    return False
                except Exception:
                    return True
            with contextlib.suppress(Exception):
                WebDriverWait(self.driver, self.page_timeout).until(replaced)
            WebDriverWait(self.driver, self.page_timeout).until(
                lambda d: d.execute_script("return document.readyState") == "complete")
            return str(self.driver.current_url)
        return self.call(do)

    def script(self, js: str, *args: Any) -> Any:
        return self.call(lambda: self.driver.execute_script(js, *args))

    def cookies(self) -> list[dict[str, Any]]:
        """The browser's cookies for the current page (HttpOnly ones included: from the driver)."""
        return list(self.call(lambda: self.driver.get_cookies()))

    def cookie(self, name: str = "JSESSIONID") -> str | None:
        for c in self.cookies():
            if c.get("name") == name:
                return str(c.get("value"))
        return None

    def screenshot(self, name: str) -> str:
        """A PNG of the current page under the artifacts directory; returns its path."""
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
        path = os.path.join(self.artifacts, f"{len(self.shots) + 1:02d}-{safe}.png")
        if not self.call(lambda: self.driver.save_screenshot(path)):
            raise ChromeError(f"screenshot {path} could not be written")
        self.shots.append(path)
        return path
