"""Helpers of the web adapter interop tests: `tribes agent` + a Python web server in a lab host,
an HTTP client with Tomcat's cookie, typed-value checks (webcore, lab prefix "wc")."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any, Callable, Iterator, Sequence

from interop.lab import REPO_ROOT, Host, Lab
from interop.tomcat.node import Browser, Response, TomcatCluster

PY_INDEX = 50


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, e.get("PYTHONPATH", "")) if p)
    e["PYTHONUNBUFFERED"] = "1"
    e.update(extra or {})
    return e


class PyWeb:
    """`tribes agent` (jvmRoute py1, contexts /app and ROOT) + one web server in host `host`."""

    def __init__(self, host: Host, server: Sequence[str], port: int = 8000, route: str = "py1",
                 agent_args: Sequence[str] = (), env: dict[str, str] | None = None, config: str | None = None) -> None:
        self.host = host
        self.port = port
        self.route = route
        self.server_cmd = list(server)
        self.agent_args = list(agent_args) + (["--config", config] if config else [])
        self.workdir = f"/tmp/tribes-wc-{host.ns}"
        os.makedirs(self.workdir, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        self.socket = os.path.join(self.workdir, "agent.sock")
        self.env = _env({"TRIBES_AGENT_SOCKET": self.socket, "TRIBES_CONTEXT": "/app", **(env or {})})
        self.agent: subprocess.Popen[Any] | None = None
        self.server: subprocess.Popen[Any] | None = None
        self.agent_log = os.path.join(self.workdir, "agent.log")
        self.server_log = os.path.join(self.workdir, "server.log")
        for stale in (self.agent_log, self.server_log):       # logs of an earlier run of this lab
            if os.path.exists(stale):
                os.unlink(stale)

    @property
    def url(self) -> str:
        return f"http://{self.host.address}:{self.port}"

    def start_agent(self, timeout: float = 120) -> None:
        with open(self.agent_log, "ab") as log:
            self.agent = self.host.popen(
                [os.environ.get("PYTHON", "python3"), "-m", "tribes", "-v", "agent", "--bind", self.host.address,
                 "--jvm-route", self.route, "--context", "/app", "--context", "/", "--socket", self.socket, "--json",
                 *self.agent_args], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        deadline = time.monotonic() + timeout
        while not self.agent_answers():
            if self.agent.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tribes agent did not serve {self.socket}:\n{self.tail(self.agent_log)}")
            time.sleep(0.2)

    def agent_answers(self) -> bool:
        """The agent accepts connections (a socket file left by a killed agent does not count)."""
        import socket
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def start_server(self, timeout: float = 60) -> None:
        with open(self.server_log, "ab") as log:
            self.server = self.host.popen(self.server_cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=REPO_ROOT)
        deadline = time.monotonic() + timeout
        while True:
            r = self.host.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{self.url}/app/py/"],
                              timeout=30)
            if r.stdout.strip() not in ("", "000"):
                return
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"web server did not answer:\n{self.tail(self.server_log)}")
            time.sleep(0.3)

    def start(self) -> "PyWeb":
        self.start_agent()
        self.start_server()
        return self

    def kill_agent(self, sig: int = signal.SIGKILL) -> None:
        if self.agent is not None:
            self.host.kill(self.agent, sig=sig, grace=5)
            self.agent = None

    def close(self) -> None:
        if self.server is not None:
            self.host.kill(self.server, grace=5)
        self.kill_agent(signal.SIGTERM)

    @staticmethod
    def tail(path: str, n: int = 40) -> str:
        try:
            with open(path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def wait_member_of(self, cluster: TomcatCluster, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.host.address in n.members_from_log() for n in cluster.running()):
            assert time.monotonic() < deadline, "Tomcat did not add the Python member"
            time.sleep(0.2)


def gunicorn(app: str, host: Host, port: int = 8000, workers: int = 2) -> list[str]:
    return [os.environ.get("PYTHON", "python3"), "-m", "gunicorn", "-w", str(workers), "-b",
            f"{host.address}:{port}", "--graceful-timeout", "5", app]


def uvicorn(app: str, host: Host, port: int = 8000, workers: int = 1) -> list[str]:
    return [os.environ.get("PYTHON", "python3"), "-m", "uvicorn", "--workers", str(workers), "--host", host.address,
            "--port", str(port), "--log-level", "warning", app]


class WebBrowser(Browser):
    """Browser (one JSESSIONID per context) that can also POST JSON."""

    def post_json(self, base: str, path: str, body: Any, timeout: float = 20) -> Response:
        import re
        import urllib.parse  # noqa: F401
        ctx = self._ctx(path)
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(body, f)
        cmd = ["curl", "-s", "-i", "--max-time", str(timeout), "-X", "POST", "-H", "Content-Type: application/json",
               "--data-binary", "@" + f.name]
        if ctx in self.cookies:
            cmd += ["-H", f"Cookie: JSESSIONID={self.cookies[ctx]}"]
        cmd.append(base + path)
        try:
            res = self.lab.hub_run(cmd, timeout=timeout + 10, text=False)
        finally:
            os.unlink(f.name)
        if res.returncode != 0 or not res.stdout:
            return Response(0, [], res.stderr.decode(errors="replace"))
        raw = res.stdout.decode("utf-8", errors="replace")
        head, _, payload = raw.partition("\r\n\r\n")
        while head.startswith("HTTP/1.1 100"):
            head, _, payload = payload.partition("\r\n\r\n")
        lines = head.split("\r\n")
        hdrs = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
        resp = Response(int(lines[0].split()[1]), hdrs, payload)
        for k, v in resp.headers:
            if k.lower() == "set-cookie" and v.startswith("JSESSIONID="):
                value = v.split(";")[0].split("=", 1)[1]
                m = re.search(r"Path=([^;]*)", v, re.I)
                if "Max-Age=0" in v:
                    self.cookies.pop(ctx, None)
                else:
                    self.cookies["/" if m and m.group(1) in ("/", "") else ctx] = value
        return resp


def api(b: WebBrowser, web: PyWeb, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """GET (body None) or POST the example app's /app/py/api/session with the browser's cookie."""
    if body is None:
        r = b.get(web.url, "/app/py/api/session")
    else:
        r = b.post_json(web.url, "/app/py/api/session", body)
    try:
        return r.status, json.loads(r.body)
    except ValueError:
        return r.status, r.body


def wait_until(pred: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"{what} not met after {timeout} s"
        time.sleep(0.2)


def cls_val(attr: dict[str, Any]) -> tuple[str, Any]:
    return attr["class"], attr.get("value")


def set_cookie_values(r: Response, name: str = "JSESSIONID") -> list[str]:
    return [v for k, v in r.headers if k.lower() == "set-cookie" and v.startswith(name + "=")]


def web_fixture(lab: Lab, cluster: TomcatCluster, server: Callable[[Host], list[str]],
                **kw: Any) -> Iterator[PyWeb]:
    host = lab.add_host("py", index=PY_INDEX)
    web = PyWeb(host, server(host), **kw)
    try:
        web.start()
        web.wait_member_of(cluster)
        yield web
    finally:
        web.close()
