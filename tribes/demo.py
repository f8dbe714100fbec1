"""``tribes demo``: a live session cluster on this machine, narrated step by step.

Two modes:

- ``tomcat`` (root, iproute2, Java and Tomcat 10.1 jars present): a network-namespace lab named
  ``demo`` on 10.77.200.0/24 (nothing of it is visible outside its namespaces) with two real Tomcat
  10.1 nodes and one Python node started as ``tribes join --config <tomcat1's server.xml> --bind
  10.77.200.50 --jvm-route py1`` (the same server.xml the Tomcat nodes run). Sessions are made over
  HTTP on tomcat1, the Python node receives them (state transfer, then replication), tomcat1 is
  killed with SIGKILL, and the sessions are still on tomcat2 (the user goes on there) and on the
  Python node.
- ``python`` (the fallback when Tomcat, Java or root is missing; it says how to install them): a
  Python-only cluster on loopback (membership bound to 127.0.0.1, multicast TTL 0): this process
  is the "application" node that makes the sessions, three ``tribes join --config`` nodes replicate
  them, a byte message goes to every member with ACK, one node is killed with SIGKILL, and the
  others still hold every session.

The Tomcat mode then runs the web part (``run_web``; ``--no-web`` skips it): Apache httpd in front of
both Tomcat nodes (mod_proxy_balancer, sticky by jvmRoute), the Python web app (gunicorn + ``tribes
agent``) on ``/app/py``, and a headless Chromium in the lab that logs in on Tomcat's FORM page, fills a
cart on Tomcat and Python pages, survives a kill -9 of its sticky node and logs out; screenshots are
written to files (``--screenshots DIR``, default ``<tmp>/tribes-demo-web``).

The Tomcat mode imports the repository's ``interop`` package (the namespace lab and the Tomcat node
launcher), so it runs from a checkout (``scripts/demo.sh``, or ``python3 -m tribes.cli.main demo``
in the repository); the fallback needs only the installed package.

Everything started is stopped on exit, also on Ctrl-C, SIGTERM and errors.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Sequence, TextIO

log = logging.getLogger("tribes.demo")

LAB_NAME = "demo"
SUBNET = "10.77.200"
PY_INDEX = 50
INSTALL_HINT = ("to see the demo with real Tomcat nodes, install them as root: `sudo bash scripts/setup.sh` "
                "(Debian: apt-get install -y tomcat10-common openjdk-17-jdk-headless iproute2 curl; never the "
                "`tomcat10` package, it installs a system service) and run `sudo bash scripts/demo.sh`")


class DemoError(RuntimeError):
    """A step of the demo could not be done (the message says which and why)."""


class Narrator:
    """Human narration (one line per step and check) or JSON lines (``kind`` step/check/info/summary)."""

    def __init__(self, as_json: bool = False, out: TextIO | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.t0 = time.monotonic()
        self.failures: list[str] = []
        self.checks = 0
        self.step_no = 0

    def _emit(self, kind: str, text: str, **fields: Any) -> None:
        elapsed = round(time.monotonic() - self.t0, 2)
        if self.as_json:
            obj = {"kind": kind, "t": elapsed, "text": text, **fields}
            self.out.write(json.dumps(obj, default=str, separators=(",", ":")) + "\n")
        else:
            mark = {"step": "==>", "check": "   ", "info": "   ", "warn": " ! "}.get(kind, "   ")
            self.out.write(f"[{elapsed:6.1f}s] {mark} {text}\n")
        self.out.flush()

    def step(self, text: str, **fields: Any) -> None:
        self.step_no += 1
        self._emit("step", f"{self.step_no}. {text}", step=self.step_no, **fields)

    def info(self, text: str, **fields: Any) -> None:
        self._emit("info", text, **fields)

    def warn(self, text: str, **fields: Any) -> None:
        self._emit("warn", text, **fields)

    def check(self, ok: bool, text: str, **fields: Any) -> bool:
        self.checks += 1
        if not ok:
            self.failures.append(text)
        self._emit("check", f"{'OK  ' if ok else 'FAIL'} {text}", ok=ok, **fields)
        return ok

    def summary(self, mode: str, **fields: Any) -> None:
        ok = not self.failures
        text = (f"demo ({mode}) finished: {self.checks} checks, "
                + ("all passed" if ok else f"{len(self.failures)} failed: " + "; ".join(self.failures)))
        self._emit("summary", text, mode=mode, ok=ok, checks=self.checks, failed=self.failures,
                   seconds=round(time.monotonic() - self.t0, 1), **fields)


# ------------------------------------------------------------------------------------ Python nodes
class PyNode:
    """A ``tribes join --json`` subprocess; its JSON lines are followed by a reader thread."""

    def __init__(self, name: str, proc: subprocess.Popen[str], kill: Callable[[subprocess.Popen[str]], None] | None = None
                 ) -> None:
        self.name = name
        self.proc = proc
        self.lock = threading.Lock()
        self.ready: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None
        self.members: dict[str, dict[str, Any]] = {}   # "host:port" -> member fields
        self.sessions: dict[str, set[str]] = {}         # context path -> ids
        self.messages: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._kill = kill
        self._threads = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self._apply(ev)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.lock:
                self.stderr.append(line.rstrip())
                del self.stderr[:-50]

    def _apply(self, ev: dict[str, Any]) -> None:
        kind = ev.get("kind")
        if kind == "ready":
            self.ready = ev
        elif kind == "member":
            key = f"{ev['host']}:{ev['port']}"
            if ev.get("event") == "added":
                self.members[key] = ev
            else:
                self.members.pop(key, None)
        elif kind == "session":
            ids = self.sessions.setdefault(ev.get("context") or "/", set())
            sid, event = ev.get("id"), ev.get("event")
            if event == "created" and sid:
                ids.add(sid)
            elif event == "destroyed":
                ids.discard(sid)
            elif event == "id_changed":
                ids.discard(ev.get("oldId"))
                if sid:
                    ids.add(sid)
        elif kind == "message":
            self.messages.append(ev)
        elif kind == "summary":
            self.summary = ev

    def wait(self, predicate: Callable[["PyNode"], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self):
                    return True
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader finish
                with self.lock:
                    return predicate(self)
            time.sleep(0.1)
        return False

    def member_hosts(self) -> set[str]:
        with self.lock:
            return {m["host"] for m in self.members.values()}

    def session_ids(self, context: str = "/app") -> set[str]:
        with self.lock:
            return set(self.sessions.get(context, set()))

    def last_error(self) -> str:
        with self.lock:
            return " | ".join(self.stderr[-3:]) or f"exit code {self.proc.poll()}"

    def terminate(self, timeout: float = 20) -> dict[str, Any] | None:
        """SIGTERM (clean shutdown: the node leaves the cluster) and the node's summary line."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        for t in self._threads:
            t.join(5)
        return self.summary

    def kill9(self) -> None:
        if self.proc.poll() is None:
            if self._kill is not None:
                self._kill(self.proc)
            else:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


def join_args(config: str, bind: str, jvm_route: str, properties: Sequence[str] = (),
              extra: Sequence[str] = ()) -> list[str]:
    args = ["-m", "tribes.cli.main", "join", "--config", config, "--bind", bind, "--jvm-route", jvm_route,
            "--context", "/app", "--json", "--no-live"]
    for p in properties:
        args += ["-D", p]
    return args + list(extra)


# ---------------------------------------------------------------------------------- requirements
def _checkout_on_path() -> None:
    """When this package runs from a repository checkout (``pip install -e .``), make its ``interop``
    package importable even if the current directory is elsewhere (the ``tribes`` script)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isfile(os.path.join(root, "interop", "lab.py")) and root not in sys.path:
        sys.path.append(root)


def tomcat_missing() -> str | None:
    """Why the Tomcat mode cannot run here (None: it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not running as root (network namespaces need root)"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    if shutil.which("curl") is None:
        return "curl is not installed"
    _checkout_on_path()
    try:
        from interop.tomcat.node import missing_requirements
    except ImportError:
        return ("the repository's `interop` package is not importable: run the demo from the repository "
                "(scripts/demo.sh)")
    return missing_requirements(10)


# ---------------------------------------------------------------------------------- Tomcat mode
def run_tomcat(n: Narrator, keep: bool = False, sessions: int = 3, web: bool = True,
               screenshots: str | None = None) -> None:
    from interop.lab import Lab
    from interop.tomcat.node import FAST_START_OPTS, Browser, TomcatCluster

    n.step(f"Building the lab: namespaces {LAB_NAME}-* on {SUBNET}.0/24 behind a bridge (nothing leaves them)")
    lab = Lab(LAB_NAME, SUBNET)
    cluster: Any = None
    node: PyNode | None = None
    try:
        # synchronous replication (6) between the Tomcat nodes: with Tomcat's async default (8) the FORM
        # login's CHANGE_SESSION_ID can be overtaken by the DELTA carrying the principal on its way to the
        # other Tomcat node, which drops that DELTA: the web part's kill -9 then ends in a new login
        # (see interop/web/scenario.py SCENARIO_SEND_OPTIONS)
        cluster = TomcatCluster(lab, version="10", jvm_opts=FAST_START_OPTS, channel_send_options="6")
        for i in (1, 2):
            n.step(f"Starting Tomcat 10.1 node tomcat{i} on {SUBNET}.{i} (DeltaManager, McastService, NioReceiver)")
            t0 = time.monotonic()
            tn = cluster.add_node(timeout=120)
            n.info(f"tomcat{i} answers on {tn.url}/app/ping after {time.monotonic() - t0:.1f} s")
        cluster.wait_membership(timeout=60)
        t1, t2 = cluster.nodes
        n.check(t1.address in t2.members_from_log() and t2.address in t1.members_from_log(),
                "tomcat1 and tomcat2 see each other (\"Replication member added\" in their logs)")

        first = Browser(lab)
        sid0 = first.new_session(t1, [t2])
        first.get(t1, "/app/set", {"name": "cart", "type": "string", "value": "book-0"})
        n.step("A user opened a session on tomcat1 before the Python node exists",
               session=sid0)
        n.info(f"session {sid0} (attribute cart=book-0), replicated to tomcat2")

        server_xml = os.path.join(t1.base, "conf", "server.xml")
        py_host = lab.add_host("py", index=PY_INDEX)
        n.step(f"Starting the Python node on {py_host.address} with tomcat1's own server.xml: "
               f"tribes join --config {server_xml} --bind {py_host.address} --jvm-route py1 --context /app")
        proc = py_host.python(join_args(server_xml, py_host.address, "py1"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        node = PyNode("py1", proc, kill=lambda p: py_host.kill(p, sig=signal.SIGKILL))
        if not node.wait(lambda x: x.ready is not None, 60):
            raise DemoError(f"the Python node did not start: {node.last_error()}")
        n.info(f"Python node is {node.ready.get('name')} (jvmRoute {node.ready.get('jvmRoute')})")
        n.check(node.wait(lambda x: {t1.address, t2.address} <= {m["host"] for m in x.members.values()}, 30),
                "the Python node sees both Tomcat nodes as members", members=sorted(node.member_hosts()))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(py_host.address in t.members_from_log() for t in (t1, t2)):
            time.sleep(0.2)
        n.check(all(py_host.address in t.members_from_log() for t in (t1, t2)),
                "both Tomcat nodes log the Python node as \"Replication member added\"")
        n.check(node.wait(lambda x: sid0 in x.sessions.get("/app", set()), 30),
                f"the Python node received the existing session {sid0} by state transfer")

        n.step(f"Driving {sessions - 1} more user sessions through tomcat1 over HTTP")
        users = [(first, sid0)]
        for i in range(1, sessions):
            b = Browser(lab)
            sid = b.new_session(t1, [t2])
            b.get(t1, "/app/set", {"name": "cart", "type": "string", "value": f"book-{i}"})
            users.append((b, sid))
            n.info(f"user {i}: session {sid}, cart=book-{i}")
        ids = [sid for _, sid in users]
        for _, sid in users:
            t2.wait_session(sid, ["cart"], timeout=30)
        n.check(True, f"tomcat2 holds all {len(ids)} sessions with their cart attribute")
        n.check(node.wait(lambda x: set(ids) <= x.sessions.get("/app", set()), 30),
                f"the Python node holds all {len(ids)} sessions", sessions=sorted(node.session_ids()))

        n.step("Killing tomcat1 with SIGKILL (no goodbye: its JVM just dies)")
        t1.kill()
        n.check(node.wait(lambda x: t1.address not in {m["host"] for m in x.members.values()}, 30),
                "the Python node saw tomcat1 disappear")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and t1.address in t2.members_from_log():
            time.sleep(0.2)
        n.check(t1.address not in t2.members_from_log(), "tomcat2 saw tomcat1 disappear")

        n.step("The sessions survive on tomcat2 and on the Python node")
        def cart(view: Any) -> Any:
            return {a.get("name"): a.get("value") for a in (view or {}).get("attributes", [])}.get("cart")

        alive = [sid for i, sid in enumerate(ids) if cart(t2.peek(sid)) == f"book-{i}"]
        n.check(len(alive) == len(ids), f"tomcat2 still has {len(alive)}/{len(ids)} sessions with their carts")
        n.check(set(ids) <= node.session_ids(), f"the Python node still has all {len(ids)} sessions")
        b, sid = users[-1]
        r = b.get(t2, "/app/get", {"name": "cart"})
        new_sid = b.session_id("/app")
        value = r.json().get("value") if r.status == 200 else None
        n.check(r.status == 200 and value == f"book-{len(users) - 1}",
                f"the last user goes on on tomcat2: cart={value!r}, session now {new_sid} (JvmRouteBinderValve "
                "renamed it to tomcat2's route)")
        if new_sid and new_sid != sid:
            n.check(node.wait(lambda x: new_sid in x.sessions.get("/app", set()), 20),
                    "the Python node followed the rename")

        n.step("Stopping the Python node cleanly (it announces its shutdown)")
        summary = node.terminate()
        held = set((summary or {}).get("sessionIds", {}).get("/app", []))
        expected = (set(ids) - {sid}) | {new_sid or sid}
        n.check(summary is not None and expected <= held,
                f"its last summary lists {len(held)} session(s) in /app, every user's (with the renamed one)",
                summary={k: v for k, v in (summary or {}).items() if k != "kind"})
        if web:
            run_web(n, lab, cluster, py_host, screenshots)
        if keep:
            n.info(f"--keep: lab {LAB_NAME} and tomcat2 stay up until you press Enter (curl from the hub: "
                   f"ip netns exec {LAB_NAME}-hub curl {t2.url}/app/sessions)")
            with contextlib.suppress(EOFError):
                input()
    finally:
        n.step("Cleaning up: Python node, Tomcat nodes, namespaces")
        if node is not None:
            node.terminate(5)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop()
        lab.close()


# ---------------------------------------------------------------------------------- web part
def web_missing() -> str | None:
    """Why the web part (httpd + headless Chromium) cannot run here (None: it can)."""
    _checkout_on_path()
    try:
        from interop.web import chrome, httpd
    except ImportError as exc:
        return f"the repository's interop.web package is not importable ({exc})"
    return httpd.missing_requirements() or chrome.missing_requirements()


def python_web_missing() -> str | None:
    """Why the Python web app (tribes.web + the Flask example) cannot run here (None: it can)."""
    _checkout_on_path()
    from interop.web.pyapp import python_app_missing
    return python_app_missing()


def run_web(n: Narrator, lab: Any, cluster: Any, py_host: Any, screenshots: str | None = None) -> None:
    """The web part: Apache httpd (sticky by jvmRoute) in front of the Tomcat nodes and the Python web
    app, and a real browser (headless Chromium in the lab) that logs in, shops, survives a kill -9 and
    logs out; screenshots are written to files."""
    why = web_missing()
    if why:
        n.warn(f"web part skipped: {why} (scripts/setup.sh installs apache2-bin, chromium, chromium-driver)")
        return
    from interop.web.scenario import BrowserScenario, WebLab

    shots = screenshots or os.path.join(tempfile.gettempdir(), "tribes-demo-web")
    os.makedirs(shots, exist_ok=True)
    for f in os.listdir(shots):
        if f.endswith(".png"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(shots, f))
    py_why = python_web_missing()
    n.step("The web part: Apache httpd in front of both Tomcat nodes (mod_proxy_balancer, sticky by "
           "jvmRoute), the Python web app on /app/py, a real browser (headless Chromium) in the lab")
    if py_why:
        n.warn(f"the Python web app cannot run here ({py_why}): the browser uses the Tomcat pages only")
    for node in cluster.nodes:
        if not node.is_running():
            n.info(f"restarting {node.jvm_route} (it receives every session by state transfer)")
            node.start(timeout=120)
    cluster.wait_membership(timeout=60)
    web = WebLab.around(lab, cluster, python=py_why is None, artifacts=shots, say=n.info, py_host=py_host)
    try:
        sc = BrowserScenario(web, check=n.check, say=n.info)
        n.step("The browser opens a protected Tomcat page and logs in as alice on Tomcat's FORM login page")
        sc.login("alice")
        n.step("It adds two items to the cart on the Tomcat page (a java.util.ArrayList in the session)")
        sc.add_on_tomcat(["book", "pen"])
        three = ["book", "pen", "tea"]
        if py_why is None:
            n.step("It opens the Python page /app/py/ (gunicorn + tribes agent): same cookie, same session")
            sc.python_page(["book", "pen"])
            n.step("It adds an item on the Python page; the Tomcat page lists three")
            sc.add_in_python("tea")
            sc.tomcat_lists(three)
        else:
            sc.add_on_tomcat(["tea"])
        n.step("kill -9 of the Tomcat node the browser is stuck to")
        sc.kill_sticky()
        n.step("The browser goes on on the other Tomcat node" + (" and on the Python page" if py_why is None else "")
               + ", with no new login")
        sc.after_failover(three, python=py_why is None)
        if py_why is None:
            n.step("It logs out on the Python page: Tomcat's protected page asks for the login again")
            sc.logout_in_python()
        else:
            n.step("It logs out: Tomcat's protected page asks for the login again")
            sc.logout_on_tomcat()
        sc.tomcat_asks_login()
        n.info(f"{len(web.chrome.shots)} screenshots written to {shots}", screenshots=web.chrome.shots)
    finally:
        web.close(stop_cluster=False)


# ---------------------------------------------------------------------------------- Python mode
LOOPBACK_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- tribes demo (Python-only): a loopback cluster; TTL 0 and 127.0.0.1 keep every packet on this machine -->
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="py0">
      <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="6">
        <Manager className="org.apache.catalina.ha.session.DeltaManager" expireSessionsOnShutdown="false"/>
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.McastService" address="228.0.0.4"
                      port="${mcast.port}" bind="127.0.0.1" ttl="0" frequency="500" dropTime="3000"/>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" address="127.0.0.1"
                    port="${rx.port}" autoBind="100"/>
          <Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
            <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"/>
          </Sender>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/>
        </Channel>
        <ClusterListener className="org.apache.catalina.ha.session.ClusterSessionListener"/>
      </Cluster>
    </Engine>
  </Service>
</Server>
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_python(n: Narrator, nodes: int = 3, sessions: int = 4, python: str | None = None) -> None:
    asyncio.run(_run_python(n, nodes, sessions, python or sys.executable))


async def _run_python(n: Narrator, count: int, sessions: int, python: str) -> None:
    from tribes.config.build import build_node
    from tribes.config import load
    from tribes.group import ByteMessage

    workdir = tempfile.mkdtemp(prefix="tribes-demo-")
    xml = os.path.join(workdir, "server.xml")
    with open(xml, "w") as f:
        f.write(LOOPBACK_XML)
    mport = free_port(socket.SOCK_DGRAM)
    ports = [free_port() for _ in range(count + 1)]
    nodes: list[PyNode] = []
    app: Any = None
    try:
        n.step(f"The application node (this process) joins a loopback cluster: {xml} "
               f"(multicast port {mport}, bound to 127.0.0.1, TTL 0)")
        cfg = load(xml, properties={"mcast.port": str(mport), "rx.port": str(ports[0])}, jvm_route="app")
        built = build_node(cfg, sessions=True, contexts=["/app"])  # the one assembler (tribes.config.build)
        channel, app = built.channel, built.cluster
        await app.start()
        ctx = app.manager("/app")
        early = [ctx.create_session({"user": f"user{i}", "cart": f"book-{i}"}).id for i in range(sessions // 2)]
        n.info(f"{len(early)} sessions made before the other nodes exist: {', '.join(early)}")

        n.step(f"Starting {count} Python nodes: tribes join --config {os.path.basename(xml)} -D rx.port=... "
               "--jvm-route pyN --context /app")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        for i in range(1, count + 1):
            args = join_args(xml, "127.0.0.1", f"py{i}", [f"mcast.port={mport}", f"rx.port={ports[i]}"])
            proc = subprocess.Popen([python, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=env, start_new_session=True)
            nodes.append(PyNode(f"py{i}", proc))
        for node in nodes:
            if not await asyncio.to_thread(node.wait, lambda x: x.ready is not None, 60):
                raise DemoError(f"{node.name} did not start: {node.last_error()}")
        everyone = {f"127.0.0.1:{p}" for p in ports}
        for node in nodes:
            mine = f"127.0.0.1:{node.ready['port']}"
            ok = await asyncio.to_thread(node.wait, lambda x, m=mine: everyone - {m} <= set(x.members), 30)
            n.check(ok, f"{node.name} ({mine}) sees the {count} other members", members=sorted(node.members))
        for _ in range(100):
            if len(channel.members()) >= count:
                break
            await asyncio.sleep(0.1)
        n.check(len(channel.members()) >= count, f"the application node sees {len(channel.members())} members")
        for node in nodes:
            ok = await asyncio.to_thread(node.wait, lambda x: set(early) <= x.sessions.get("/app", set()), 30)
            n.check(ok, f"{node.name} received the {len(early)} early sessions by state transfer")

        n.step(f"Making {sessions - len(early)} more sessions on the application node (replicated as they change)")
        late = [ctx.create_session({"user": f"user{i}", "cart": f"book-{i}"}).id
                for i in range(len(early), sessions)]
        ctx.set_attribute(late[0], "cart", "book-updated")
        await app.flush()
        ids = early + late
        for node in nodes:
            ok = await asyncio.to_thread(node.wait, lambda x: set(ids) <= x.sessions.get("/app", set()), 30)
            n.check(ok, f"{node.name} holds all {len(ids)} sessions")

        n.step("A byte message to every member with ACK (what `tribes send` does)")
        members = channel.members()
        t0 = time.perf_counter()
        await channel.send(members, ByteMessage(b"hello from the demo"), 3)
        n.check(True, f"{len(members)} members acknowledged in {(time.perf_counter() - t0) * 1000:.1f} ms")
        for node in nodes:
            ok = await asyncio.to_thread(node.wait, lambda x: any(m.get("size") == 19 and m.get("options") == 3
                                                                   for m in x.messages), 10)
            n.check(ok, f"{node.name} printed the message")

        victim = nodes[0]
        n.step(f"Killing {victim.name} with SIGKILL")
        victim.kill9()
        gone = f"127.0.0.1:{victim.ready['port']}"
        for node in nodes[1:]:
            ok = await asyncio.to_thread(node.wait, lambda x: gone not in x.members, 30)
            n.check(ok, f"{node.name} saw {victim.name} disappear")
        for _ in range(100):
            if all(f"{m.host_str}:{m.port}" != gone for m in channel.members()):
                break
            await asyncio.sleep(0.1)

        n.step("The sessions survive on every other node")
        n.check(set(ids) <= set(ctx.session_ids()), f"the application node has all {len(ids)} sessions")
        for node in nodes[1:]:
            summary = await asyncio.to_thread(node.terminate)
            held = set((summary or {}).get("sessionIds", {}).get("/app", []))
            n.check(set(ids) <= held, f"{node.name} still held all {len(ids)} sessions when it stopped")
    finally:
        n.step("Cleaning up: Python nodes and the application node")
        for node in nodes:
            await asyncio.to_thread(node.terminate, 5)
        if app is not None:
            with contextlib.suppress(Exception):
                await app.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------- entry point
def run(mode: str = "auto", as_json: bool = False, keep: bool = False, out: TextIO | None = None,
        web: bool = True, screenshots: str | None = None) -> int:
    """Run the demo; returns the exit code (0 all checks passed, 1 a check failed, 4 a step failed)."""
    n = Narrator(as_json, out)
    why = tomcat_missing() if mode in ("auto", "tomcat") else None
    if mode == "tomcat" and why:
        n.warn(f"cannot run the Tomcat demo: {why}; {INSTALL_HINT}")
        n.summary("tomcat", error=why)
        return 4
    chosen = "tomcat" if mode == "tomcat" or (mode == "auto" and why is None) else "python"
    if mode == "auto" and why:
        n.warn(f"Tomcat demo not possible here: {why}")
        n.warn(INSTALL_HINT)
        n.warn("falling back to a Python-only cluster on loopback")

    # SIGINT is handled explicitly, like SIGTERM: a process started from a non-interactive shell's
    # background job inherits SIGINT *ignored* (Python then installs no KeyboardInterrupt handler),
    # and Ctrl-C / kill -INT would be lost: the demo ran on and exited 0 instead of 130
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not in the main thread
        for sig in previous:
            signal.signal(sig, on_term)
    code = 0
    try:
        if chosen == "tomcat":
            run_tomcat(n, keep=keep, web=web, screenshots=screenshots)
        else:
            run_python(n)
    except KeyboardInterrupt:
        n.warn("interrupted: everything started was stopped")
        n.summary(chosen, interrupted=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - reported as a failed step
        log.debug("demo failed", exc_info=True)
        n.failures.append(f"{type(exc).__name__}: {exc}")
        n.warn(f"a step failed: {type(exc).__name__}: {exc}")
        code = 4
    finally:
        with contextlib.suppress(ValueError, TypeError):
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    n.summary(chosen)
    if code:
        return code
    return 1 if n.failures else 0
