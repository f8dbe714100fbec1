"""The Python side of the web lab: `tribes agent` (one cluster member per host) plus gunicorn workers.

    app = PythonApp(lab.add_host("py", index=50), server_xml, port=8000, workers=4).start()
    app.url                      # http://10.77.130.50:8000 (httpd sends /app/py there, path kept)
    app.wait_member_of(cluster.nodes)
    app.close()

The web app is the webcore engineer's Flask example (examples/flask_app) under gunicorn; this module
only starts and stops processes in a lab host.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence

from interop.lab import REPO_ROOT, Host

log = logging.getLogger("tribes.interop.web.pyapp")

PREFIX_PING = "/app/py/login"     # answers without touching the session (any status counts as up)


class PythonAppError(RuntimeError):
    pass


_WEB_MISSING: list[str | None] = []


def tribes_web_missing() -> str | None:
    """Why the tribes web adapter / agent cannot be used (None when it can).

    Checked in a child interpreter: the orchestrating process (a test, the demo) never loads the
    adapter and its compiled extensions itself, so it only runs what the lab needs.
    """
    if not _WEB_MISSING:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH", "")) if p)
        res = subprocess.run([sys.executable, "-c", "import tribes.web.flask"], env=env, capture_output=True,
                             text=True, timeout=120)
        last = (res.stderr.strip().splitlines() or [""])[-1]
        _WEB_MISSING.append(None if res.returncode == 0 else f"tribes.web.flask is not importable ({last})")
    return _WEB_MISSING[0]


def python_app_missing() -> str | None:
    """Why the Python web app of the lab (the Flask example + `tribes agent`) cannot run (None: it can)."""
    why = tribes_web_missing()
    if why:
        return why
    if not os.path.isdir(os.path.join(REPO_ROOT, "examples", "flask_app")):
        return "examples/flask_app is not there"
    return None


def install_tribes_session(app: Any, socket: str | None, context: str = "/app") -> None:
    """Put tribes sessions (through the local agent) into a Flask app (runs in the web workers)."""
    from tribes.web.flask import TribesSessionInterface
    kw: dict[str, Any] = {"context": context}
    if socket:
        kw["socket"] = socket
    app.session_interface = TribesSessionInterface(**kw)


class PythonApp:
    """`tribes agent` + gunicorn (`workers` processes) in lab host `host`."""

    def __init__(self, host: Host, server_xml: str, port: int = 8000, workers: int = 4,
                 app: str = "examples.flask_app.app:app", jvm_route: str = "py1",
                 env: dict[str, str] | None = None, workdir: str | None = None, context: str = "/app",
                 agent_python_args: Sequence[str] = ()) -> None:
        self.host = host
        self.server_xml = server_xml
        self.port = port
        self.workers = workers
        self.app = app
        self.jvm_route = jvm_route
        self.context = context
        self.agent_python_args = list(agent_python_args)   # e.g. ["-m", "cProfile", "-o", path]
        self.extra_env = dict(env or {})
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"tribes-pyapp-{host.ns}-")
        self.socket = os.path.join(self.workdir, "agent.sock")
        self.agent: subprocess.Popen[Any] | None = None
        self.server: subprocess.Popen[Any] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host.address}:{self.port}"

    def _env(self) -> dict[str, str]:
        e = dict(os.environ)
        e["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, e.get("PYTHONPATH", "")) if p)
        e["PYTHONUNBUFFERED"] = "1"
        e["TRIBES_AGENT_SOCKET"] = self.socket
        e["TRIBES_CONTEXT"] = self.context
        e.update(self.extra_env)
        return e

    def start(self, timeout: float = 90) -> "PythonApp":
        """`tribes agent` (waits for its socket: it appears after the state transfer), then gunicorn."""
        why = tribes_web_missing()
        if why:
            raise PythonAppError(why)
        env = self._env()
        agent_log = open(self.agent_log, "ab")
        try:
            self.agent = self.host.python(
                [*self.agent_python_args, "-m", "tribes.cli.main", "agent", "--config", self.server_xml, "--bind", self.host.address,
                 "--jvm-route", self.jvm_route, "--context", self.context, "--socket", self.socket],
                env=env, stdin=subprocess.DEVNULL, stdout=agent_log, stderr=subprocess.STDOUT)
        finally:
            agent_log.close()
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if self.agent.poll() is not None:
                raise PythonAppError(f"tribes agent exited with {self.agent.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.close()
                raise PythonAppError(f"tribes agent: no socket {self.socket} after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)
        try:
            self.server = start_gunicorn(self.host, self.app, self.port, self.workers, env=env,
                                         log_path=self.server_log, ping=PREFIX_PING, timeout=timeout)
        except Exception as exc:
            self.close()
            raise PythonAppError(f"{exc}:\n{self.log_tail()}") from exc
        return self

    @property
    def agent_log(self) -> str:
        return os.path.join(self.workdir, "agent.log")

    @property
    def server_log(self) -> str:
        return os.path.join(self.workdir, "gunicorn.log")

    def log_tail(self, n: int = 25) -> str:
        parts = []
        for p in (self.agent_log, self.server_log):
            with contextlib.suppress(OSError), open(p, errors="replace") as f:
                parts.append(f"--- {os.path.basename(p)}\n" + "\n".join(f.read().splitlines()[-n:]))
        return "\n".join(parts)

    def kill_agent(self) -> None:
        if self.agent is not None:
            self.host.kill(self.agent, sig=signal.SIGKILL)

    def wait_member_of(self, nodes: Sequence[Any], timeout: float = 60) -> None:
        """Wait until every Tomcat node logs this host as a replication member."""
        deadline = time.monotonic() + timeout
        while not all(self.host.address in n.members_from_log() for n in nodes):
            if time.monotonic() > deadline:
                raise PythonAppError(f"Tomcat nodes do not see the agent on {self.host.address} after {timeout} s")
            time.sleep(0.2)

    def close(self, keep_logs: bool = False) -> None:
        for p in (self.server, self.agent):
            if p is not None and p.poll() is None:
                self.host.kill(p, sig=signal.SIGTERM, grace=10)
        if not keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)


def wait_http(host: Host, url: str, timeout: float = 60, proc: subprocess.Popen[Any] | None = None,
              what: str = "server") -> None:
    """Poll `url` with curl from inside `host` until it answers (any HTTP status)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise PythonAppError(f"{what} exited with code {proc.returncode} while starting")
        res = host.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", url], timeout=15)
        if res.stdout.strip() not in ("", "000"):
            return
        if time.monotonic() > deadline:
            raise PythonAppError(f"{what} does not answer {url} after {timeout} s")
        time.sleep(0.2)


def start_gunicorn(host: Host, spec: str, port: int, workers: int = 4, env: dict[str, str] | None = None,
                   log_path: str | None = None, ping: str = "/app/py/ping", extra: Sequence[str] = (),
                   timeout: float = 60) -> subprocess.Popen[Any]:
    """gunicorn `spec` (module:app or module:factory(...)) on host:port with `workers` sync workers."""
    e = dict(os.environ)
    e.update(env or {})
    e["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, e.get("PYTHONPATH", "")) if p)
    out: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        proc = host.python(["-m", "gunicorn", "--workers", str(workers), "--bind", f"{host.address}:{port}",
                            "--chdir", REPO_ROOT, "--log-level", "warning", *extra, spec],
                           env=e, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log_path:
            out.close()
    try:
        wait_http(host, f"http://{host.address}:{port}{ping}", timeout, proc, f"gunicorn {spec}")
    except Exception:
        host.kill(proc)
        raise
    return proc


def start_redis(host: Host, port: int = 6379, workdir: str | None = None) -> subprocess.Popen[Any]:
    """redis-server by hand on the namespace's 127.0.0.1 (never the packaged service), no persistence."""
    if shutil.which("redis-server") is None:
        raise PythonAppError("redis-server not found: apt-get install -y redis-server (or scripts/setup.sh)")
    wd = workdir or tempfile.mkdtemp(prefix="tribes-redis-")
    proc = host.popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                       "--appendonly", "no", "--dir", wd, "--daemonize", "no", "--protected-mode", "yes",
                       "--loglevel", "warning"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                      stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while host.run(["redis-cli", "-p", str(port), "ping"]).stdout.strip() != "PONG":
        if proc.poll() is not None or time.monotonic() > deadline:
            host.kill(proc)
            raise PythonAppError("redis-server did not start")
        time.sleep(0.1)
    return proc
