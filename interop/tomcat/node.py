"""Real Tomcat cluster nodes (Debian's 10.1 / 9.0 jars) as plain processes in lab namespaces.

    with Lab("tb", "10.77.10") as lab:
        cluster = TomcatCluster(lab, version="10")
        cluster.start(2)                          # tomcat1 on 10.77.10.1, tomcat2 on 10.77.10.2
        b = Browser(lab)                          # HTTP client living in the hub namespace
        r = b.get(cluster.nodes[0], "/app/set?name=a&type=int&value=7")
        cluster.nodes[0].kill()                   # kill -9
        cluster.add_node()                        # tomcat3: receives all sessions by state transfer
        cluster.stop()

Each node: its own CATALINA_BASE (server.xml = the classic cluster of the Tomcat docs with pinned
addresses, jvmRoute tomcat<i>), conf/web.xml minimal, conf/context.xml with a fast JarScanner,
console logging with OneLineFormatter to logs/catalina.out, contexts /app and ROOT (the same
`<distributable/>` web app, backgroundProcessorDelay=1, DeltaManager processExpiresFrequency=1).
The JVM is started the way `catalina.sh run` does (same system properties and --add-opens), but
directly, so the pid is the JVM's; signals are sent only after /proc/<pid>/cmdline still shows
`-Dcatalina.base=<that base>`.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from interop.lab import Host, Lab

log = logging.getLogger("tribes.interop.tomcat")

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")
WEBAPP_SRC = os.path.join(HERE, "webapp")

TOMCAT10_HOME = "/usr/share/tomcat10"
# Tomcat 9 jars (Debian libtomcat9-java) under the names CATALINA_HOME/lib uses.
_T9_LIB = {
    "annotations-api.jar": "tomcat9-annotations-api.jar", "catalina-ant.jar": "tomcat9-catalina-ant.jar",
    "catalina-ha.jar": "tomcat9-catalina-ha.jar", "catalina-storeconfig.jar": "tomcat9-storeconfig.jar",
    "catalina-tribes.jar": "tomcat9-tribes.jar", "catalina.jar": "tomcat9-catalina.jar",
    "el-api.jar": "tomcat9-el-api.jar", "jasper-el.jar": "tomcat9-jasper-el.jar", "jasper.jar": "tomcat9-jasper.jar",
    "jaspic-api.jar": "tomcat9-jaspic-api.jar", "jsp-api.jar": "tomcat9-jsp-api.jar",
    "servlet-api.jar": "tomcat9-servlet-api.jar", "tomcat-api.jar": "tomcat9-api.jar",
    "tomcat-coyote.jar": "tomcat9-coyote.jar", "tomcat-dbcp.jar": "tomcat9-dbcp.jar",
    "tomcat-jdbc.jar": "tomcat9-jdbc.jar", "tomcat-jni.jar": "tomcat9-jni.jar",
    "tomcat-util-scan.jar": "tomcat9-util-scan.jar", "tomcat-util.jar": "tomcat9-util.jar",
    "tomcat-websocket.jar": "tomcat9-websocket.jar", "websocket-api.jar": "tomcat9-websocket-api.jar",
}
_T9_REQUIRED = ["catalina.jar", "catalina-ha.jar", "catalina-tribes.jar", "servlet-api.jar", "tomcat-coyote.jar",
                "tomcat-util.jar", "tomcat-util-scan.jar", "tomcat-api.jar", "jaspic-api.jar",
                "annotations-api.jar"]

ADD_OPENS = [
    "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED",
]
DEFAULT_JVM_OPTS = ["-XX:+UseSerialGC", "-Djava.net.preferIPv4Stack=true",
                    "-Djava.security.egd=file:/dev/./urandom"]
# For functional tests: C1 only starts a node ~1.5x faster on 2 busy cores (bench/bench_lab.py
# --jvm-opt=-XX:TieredStopAtLevel=1); never for benchmarks of Tomcat itself.
FAST_START_OPTS = ["-XX:TieredStopAtLevel=1"]
INSTALL_HINT = ("apt-get install -y tomcat10-common libtomcat9-java (never the `tomcat10` package), "
                "or run scripts/setup.sh as root")


class TomcatError(RuntimeError):
    """A Tomcat node failed to build, start or stop (the message has the log tail)."""


def _major(version: str | int) -> str:
    v = str(version).split(".")[0]
    if v not in ("9", "10"):
        raise ValueError(f"unsupported Tomcat version {version!r}: use 9 or 10")
    return v


def missing_requirements(version: str | int = 10) -> str | None:
    """Why Tomcat `version` nodes cannot run here, or None."""
    v = _major(version)
    for tool in ("java", "javac"):
        if shutil.which(tool) is None:
            return f"{tool} not found: apt-get install -y openjdk-17-jdk-headless"
    if shutil.which("curl") is None:
        return "curl not found: apt-get install -y curl"
    if v == "10":
        for f in ("bin/bootstrap.jar", "bin/tomcat-juli.jar", "lib/catalina-ha.jar"):
            if not os.path.exists(os.path.join(TOMCAT10_HOME, f)):
                return f"Tomcat 10.1 missing ({TOMCAT10_HOME}/{f}): {INSTALL_HINT}"
    else:
        for name in _T9_REQUIRED + ["juli"]:
            jar = "/usr/share/java/tomcat9-juli.jar" if name == "juli" else "/usr/share/java/" + _T9_LIB[name]
            if not os.path.exists(jar):
                return f"Tomcat 9.0 missing ({jar}): {INSTALL_HINT}"
    return None


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def catalina_home(version: str | int) -> str:
    """CATALINA_HOME of `version`: Debian's for 10.1; for 9.0 one built from libtomcat9-java's jars."""
    v = _major(version)
    why = missing_requirements(v)
    if why:
        raise TomcatError(why)
    if v == "10":
        return TOMCAT10_HOME
    home = os.path.join(BUILD, "tomcat9-home")
    stamp = os.path.join(home, ".stamp")
    with _build_lock():
        if os.path.exists(stamp):
            return home
        shutil.rmtree(home, ignore_errors=True)
        os.makedirs(os.path.join(home, "lib"))
        os.makedirs(os.path.join(home, "bin"))
        for std, deb in _T9_LIB.items():
            src = "/usr/share/java/" + deb
            if os.path.exists(src):
                os.symlink(src, os.path.join(home, "lib", std))
        os.symlink("/usr/share/java/tomcat9-juli.jar", os.path.join(home, "bin", "tomcat-juli.jar"))
        # bootstrap.jar: the entries of Tomcat 10's bootstrap.jar, taken from the 9.0 jars
        with zipfile.ZipFile(os.path.join(TOMCAT10_HOME, "bin", "bootstrap.jar")) as ref:
            wanted = [n for n in ref.namelist() if not n.endswith("/") and not n.startswith("META-INF/")]
        sources = [zipfile.ZipFile("/usr/share/java/tomcat9-catalina.jar"),
                   zipfile.ZipFile("/usr/share/java/tomcat9-util.jar")]
        tmp = os.path.join(home, "bin", "bootstrap.jar.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nMain-Class: "
                         "org.apache.catalina.startup.Bootstrap\r\nImplementation-Version: 9.0\r\n\r\n")
            for name in wanted:
                for src in sources:
                    if name in src.namelist():
                        out.writestr(name, src.read(name))
                        break
                else:
                    log.debug("bootstrap entry %s not in the 9.0 jars", name)
        for src in sources:
            src.close()
        os.replace(tmp, os.path.join(home, "bin", "bootstrap.jar"))
        open(stamp, "w").close()
    return home


def build_webapp(version: str | int) -> str:
    """Compile the lab web app for `version` (javax for 9, jakarta for 10); returns its docBase."""
    v = _major(version)
    home = catalina_home(v)
    out = os.path.join(BUILD, f"webapp{v}")
    stamp = os.path.join(out, ".stamp")
    sources = []
    for root, _dirs, files in os.walk(WEBAPP_SRC):
        sources += [os.path.join(root, f) for f in files]
    with _build_lock():
        if os.path.exists(stamp) and all(os.path.getmtime(s) <= os.path.getmtime(stamp) for s in sources):
            return out
        shutil.rmtree(out, ignore_errors=True)
        gen = os.path.join(out + ".src")
        shutil.rmtree(gen, ignore_errors=True)
        pkg = "jakarta" if v == "10" else "javax"
        java_files = []
        for src in sources:
            if src.endswith(".java"):
                rel = os.path.relpath(src, os.path.join(WEBAPP_SRC, "src"))
                dst = os.path.join(gen, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                with open(src) as f:
                    text = f.read().replace("@SERVLET@", pkg)
                with open(dst, "w") as f:
                    f.write(text)
                java_files.append(dst)
        classes = os.path.join(out, "WEB-INF", "classes")
        os.makedirs(classes)
        cp = ":".join(os.path.join(home, "lib", j) for j in
                      ("servlet-api.jar", "catalina.jar", "catalina-ha.jar", "catalina-tribes.jar", "tomcat-api.jar",
                       "tomcat-util.jar"))
        res = subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "--release", "11", "-d", classes,
                              "-cp", cp, *java_files], capture_output=True, text=True)
        if res.returncode != 0:
            raise TomcatError(f"web app did not compile for Tomcat {v}:\n{res.stderr}")
        ns, ver = (("https://jakarta.ee/xml/ns/jakartaee", "6.0") if v == "10"
                   else ("http://xmlns.jcp.org/xml/ns/javaee", "4.0"))
        with open(os.path.join(WEBAPP_SRC, "web.xml.in")) as f:
            webxml = f.read().replace("@WEBAPP_NS@", ns).replace("@WEBAPP_VERSION@", ver)
        with open(os.path.join(out, "WEB-INF", "web.xml"), "w") as f:
            f.write(webxml)
        for name in os.listdir(os.path.join(WEBAPP_SRC, "static")):
            shutil.copy(os.path.join(WEBAPP_SRC, "static", name), os.path.join(out, name))
        shutil.rmtree(gen, ignore_errors=True)
        open(stamp, "w").close()
    return out


# ------------------------------------------------------------------------------------- server.xml
@dataclass
class ClusterConfig:
    """The parts of the <Cluster> element; every piece can be replaced by raw XML.

    `{address}` in any XML string is replaced by the node's address, `{index}` by its number.
    """
    channel_send_options: str = "8"
    mcast_address: str = "228.0.0.4"
    mcast_port: int = 45564
    frequency: int = 500
    drop_time: int = 3000
    receiver_port: int = 4000
    manager_attrs: dict[str, str] = field(default_factory=dict)     # extra/overriding DeltaManager attributes
    manager_class: str = "org.apache.catalina.ha.session.DeltaManager"  # or ...ha.session.BackupManager
    cluster_attrs: dict[str, str] = field(default_factory=dict)     # extra SimpleTcpCluster attributes
    membership_xml: str | None = None     # replaces <Membership .../>
    receiver_xml: str | None = None       # replaces <Receiver .../>
    sender_xml: str | None = None         # replaces <Sender>...</Sender>
    interceptors: Sequence[str] | None = None   # class names (simple names = tribes interceptors), in order
    interceptors_xml: str | None = None   # replaces all <Interceptor> elements
    valves_xml: str | None = None         # replaces the cluster valves
    listeners_xml: str | None = None      # replaces <ClusterListener .../>
    cluster_xml: str | None = None        # replaces the whole <Cluster> element

    def render(self, address: str, index: int) -> str:
        def sub(xml: str) -> str:
            return xml.replace("{address}", address).replace("{index}", str(index))

        if self.cluster_xml is not None:
            return sub(self.cluster_xml)
        mattrs = {"expireSessionsOnShutdown": "false", "notifyListenersOnReplication": "true",
                  "processExpiresFrequency": "1", **self.manager_attrs}
        if not self.manager_class.endswith(".DeltaManager"):
            mattrs.pop("expireSessionsOnShutdown", None)   # a DeltaManager-only attribute
        manager = f"<Manager className=\"{self.manager_class}\"" + "".join(
            f' {k}="{v}"' for k, v in mattrs.items()) + "/>"
        membership = self.membership_xml or (
            f'<Membership className="org.apache.catalina.tribes.membership.McastService" '
            f'address="{self.mcast_address}" port="{self.mcast_port}" frequency="{self.frequency}" '
            f'dropTime="{self.drop_time}" bind="{{address}}"/>')
        receiver = self.receiver_xml or (
            f'<Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" address="{{address}}" '
            f'port="{self.receiver_port}" autoBind="100" selectorTimeout="5000" maxThreads="6"/>')
        sender = self.sender_xml or (
            '<Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">'
            '<Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"/></Sender>')
        if self.interceptors_xml is not None:
            interceptors = self.interceptors_xml
        else:
            names = self.interceptors if self.interceptors is not None else ["TcpFailureDetector",
                                                                             "MessageDispatchInterceptor"]
            interceptors = "\n        ".join(
                f'<Interceptor className="{n if "." in n else "org.apache.catalina.tribes.group.interceptors." + n}"/>'
                for n in names)
        valves = self.valves_xml if self.valves_xml is not None else (
            '<Valve className="org.apache.catalina.ha.tcp.ReplicationValve" filter=""/>\n'
            '      <Valve className="org.apache.catalina.ha.session.JvmRouteBinderValve"/>')
        listeners = self.listeners_xml if self.listeners_xml is not None else (
            '<ClusterListener className="org.apache.catalina.ha.session.ClusterSessionListener"/>')
        cattrs = {"channelSendOptions": self.channel_send_options, **self.cluster_attrs}
        return sub(f"""<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"{''.join(f' {k}="{v}"' for k, v in cattrs.items())}>
      {manager}
      <Channel className="org.apache.catalina.tribes.group.GroupChannel">
        {membership}
        {receiver}
        {sender}
        {interceptors}
      </Channel>
      {valves}
      {listeners}
    </Cluster>""")


SERVER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by interop/tomcat/node.py: node {index} of a tribes interop lab -->
<Server port="-1" shutdown="SHUTDOWN">
  <Listener className="org.apache.catalina.startup.VersionLoggerListener"/>
  <Service name="Catalina">
    <Connector address="{address}" port="{http_port}" protocol="HTTP/1.1" connectionTimeout="20000"
               maxThreads="20"/>
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="{jvm_route}">
      <Realm className="org.apache.catalina.realm.MemoryRealm" pathname="conf/tomcat-users.xml"/>
    {cluster}
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" deployOnStartup="true">
      </Host>
    </Engine>
  </Service>
</Server>
"""

WEB_XML = """<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="{ns}" version="{ver}">
  <servlet>
    <servlet-name>default</servlet-name>
    <servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class>
    <init-param><param-name>listings</param-name><param-value>false</param-value></init-param>
    <load-on-startup>1</load-on-startup>
  </servlet>
  <servlet-mapping><servlet-name>default</servlet-name><url-pattern>/</url-pattern></servlet-mapping>
  <session-config><session-timeout>30</session-timeout></session-config>
</web-app>
"""

CONTEXT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Context>
  <JarScanner scanClassPath="false" scanManifest="false">
    <JarScanFilter defaultTldScan="false" defaultPluggabilityScan="false"/>
  </JarScanner>
</Context>
"""

APP_CONTEXT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Context docBase="{doc_base}" backgroundProcessorDelay="1"/>
"""

USERS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<tomcat-users>
  <role rolename="tribes"/>
  <role rolename="shopper"/>
  <user username="{user}" password="{password}" roles="tribes,shopper"/>
  <user username="bob" password="builder" roles="tribes,shopper"/>
</tomcat-users>
"""

LOGGING = """handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
.level = INFO
java.util.logging.ConsoleHandler.level = FINE
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
java.util.logging.ConsoleHandler.encoding = UTF-8
"""

USER = "alice"
PASSWORD = "secret"


def _pid_cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


_MEMBER_RE = re.compile(r"(Replication member added|Received member disappeared):\[.*?\{(\d+), (\d+), (\d+), (\d+)\}")


class TomcatNode:
    """One Tomcat JVM in a lab host. Built by :class:`TomcatCluster` (or by hand)."""

    def __init__(self, host: Host, index: int, version: str | int, base: str, cluster: ClusterConfig,
                 heap: str = "256m", http_port: int = 8080, fine_logging: bool = False,
                 jvm_opts: Sequence[str] = (), contexts: Sequence[str] = ("app", "ROOT")) -> None:
        self.host = host
        self.index = index
        self.version = _major(version)
        self.base = base
        self.cluster = cluster
        self.heap = heap
        self.http_port = http_port
        self.fine_logging = fine_logging
        self.jvm_opts = list(jvm_opts)
        self.contexts = list(contexts)
        self.jvm_route = f"tomcat{index}"
        self.proc: subprocess.Popen[Any] | None = None
        self.started_at: float | None = None
        self.ready_after: float | None = None     # seconds from spawn to /app/ping answering

    @property
    def address(self) -> str:
        return self.host.address

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.http_port}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.base, "logs", "catalina.out")

    def __repr__(self) -> str:
        return f"TomcatNode({self.jvm_route}, {self.version}, {self.address})"

    # -- building -----------------------------------------------------------------------------
    def build_base(self) -> None:
        v = self.version
        doc_base = build_webapp(v)
        for d in ("conf/Catalina/localhost", "logs", "temp", "work", "webapps"):
            os.makedirs(os.path.join(self.base, d), exist_ok=True)
        ns, ver = (("https://jakarta.ee/xml/ns/jakartaee", "6.0") if v == "10"
                   else ("http://xmlns.jcp.org/xml/ns/javaee", "4.0"))
        files = {
            "conf/server.xml": SERVER_XML.format(index=self.index, address=self.address, http_port=self.http_port,
                                                 jvm_route=self.jvm_route,
                                                 cluster=self.cluster.render(self.address, self.index)),
            "conf/web.xml": WEB_XML.format(ns=ns, ver=ver),
            "conf/context.xml": CONTEXT_XML,
            "conf/tomcat-users.xml": USERS_XML.format(user=USER, password=PASSWORD),
            "conf/logging.properties": LOGGING + ("org.apache.catalina.ha.level = FINE\n"
                                                  "org.apache.catalina.tribes.level = FINE\n"
                                                  if self.fine_logging else ""),
        }
        for ctx in self.contexts:
            files[f"conf/Catalina/localhost/{ctx}.xml"] = APP_CONTEXT_XML.format(doc_base=doc_base)
        for rel, text in files.items():
            with open(os.path.join(self.base, rel), "w") as f:
                f.write(text)

    def command(self) -> list[str]:
        home = catalina_home(self.version)
        return ["java", f"-Xms64m", f"-Xmx{self.heap}", *DEFAULT_JVM_OPTS, f"-Dtribeslab.node={self.jvm_route}",
                *self.jvm_opts,
                f"-Djava.util.logging.config.file={self.base}/conf/logging.properties",
                "-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager",
                "-Djdk.tls.ephemeralDHKeySize=2048",
                "-Djava.protocol.handler.pkgs=org.apache.catalina.webresources",
                "-Dorg.apache.catalina.security.SecurityListener.UMASK=0027", *ADD_OPENS,
                "-classpath", f"{home}/bin/bootstrap.jar:{home}/bin/tomcat-juli.jar",
                f"-Dcatalina.base={self.base}", f"-Dcatalina.home={home}", f"-Djava.io.tmpdir={self.base}/temp",
                "org.apache.catalina.startup.Bootstrap", "start"]

    # -- running ------------------------------------------------------------------------------
    def start(self, wait: bool = True, timeout: float = 180) -> None:
        if self.is_running():
            raise TomcatError(f"{self} is running already")
        self.build_base()
        out = open(self.log_path, "ab")
        try:
            self.proc = self.host.popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, cwd=self.base)
        finally:
            out.close()
        self.started_at = time.monotonic()
        self.ready_after = None
        if wait:
            self.wait_ready(timeout)

    def is_running(self) -> bool:
        """The JVM we started is alive (the pid is our unreaped child, so it cannot be reused)."""
        return self.proc is not None and self.proc.poll() is None

    def _verified_pid(self) -> int | None:
        """The pid, after /proc/<pid>/cmdline shows `-Dcatalina.base=<this base>` (None if gone)."""
        deadline = time.monotonic() + 5
        while self.is_running():
            assert self.proc is not None
            cmdline = _pid_cmdline(self.proc.pid) + " "
            if f"-Dcatalina.base={self.base} " in cmdline and cmdline.startswith("java "):
                return self.proc.pid
            if time.monotonic() > deadline:   # still `ip netns exec` or a fork: should not happen
                raise TomcatError(f"pid {self.proc.pid} is not {self}'s JVM: {cmdline[:200]}")
            time.sleep(0.05)
        return None

    def wait_ready(self, timeout: float = 180) -> None:
        """Poll /<first context>/ping from the hub until it answers 200 (after state transfer)."""
        deadline = time.monotonic() + timeout
        ctx = self.contexts[0]
        path = "/ping" if ctx == "ROOT" else f"/{ctx}/ping"
        while True:
            if not self.is_running():
                raise TomcatError(f"{self} exited while starting:\n{self.log_tail()}")
            res = http_request(self.host.lab, "GET", self.url + path, timeout=5)
            if res.status == 200:
                assert self.started_at is not None
                self.ready_after = time.monotonic() - self.started_at
                log.info("%s ready after %.2f s", self, self.ready_after)
                return
            if time.monotonic() > deadline:
                raise TomcatError(f"{self} not ready after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def _signal(self, sig: int) -> bool:
        pid = self._verified_pid()
        if pid is None:
            return False
        os.kill(pid, sig)
        return True

    def kill(self) -> None:
        """kill -9 (the kernel still closes the sockets: peers see FIN/RST and an IGMP leave)."""
        if self._signal(signal.SIGKILL):
            assert self.proc is not None
            self.proc.wait(30)

    def stop(self, timeout: float = 60) -> None:
        """Graceful stop (SIGTERM -> Catalina shutdown hook: members get the shutdown packet)."""
        if self._signal(signal.SIGTERM):
            assert self.proc is not None
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %s s: kill -9", self, timeout)
                self.kill()

    # -- session views (cookie-less: they never touch or rename a session) ----------------------
    def _ctx_path(self, ctx: str) -> str:
        return "" if ctx in ("ROOT", "/", "") else "/" + ctx.strip("/")

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, ctx: str = "app",
                 timeout: float = 20) -> tuple[int, Any]:
        url = self.url + self._ctx_path(ctx) + path + ("?" + urllib.parse.urlencode(params) if params else "")
        r = http_request(self.host.lab, "GET", url, timeout=timeout)
        try:
            return r.status, r.json()
        except ValueError:
            return r.status, {"error": r.body[:300]}

    def sessions(self, ctx: str = "app", limit: int = 100000) -> dict[str, Any]:
        """The Manager's sessions: {"count", "ids", "manager", "node"}."""
        status, body = self.get_json("/sessions", {"limit": limit}, ctx)
        if status != 200:
            raise TomcatError(f"{self} /sessions: {status} {body}")
        return body

    def peek(self, session_id: str, ctx: str = "app") -> dict[str, Any] | None:
        """A session by its full id (with jvmRoute) as the Manager holds it, or None."""
        status, body = self.get_json("/peek", {"id": session_id}, ctx)
        if status == 404:
            return None
        if status != 200:
            raise TomcatError(f"{self} /peek: {status} {body}")
        return body

    def wait_session(self, session_id: str, names: Sequence[str] = (), timeout: float = 30,
                     ctx: str = "app") -> dict[str, Any]:
        """Poll until the session exists here with attributes `names`; returns the /peek view."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.peek(session_id, ctx)
            if view is not None and set(names) <= {a["name"] for a in view["attributes"]}:
                return view
            if time.monotonic() > deadline:
                raise TomcatError(f"{self}: session {session_id} with {list(names)} not there after "
                                  f"{timeout} s (now {view})")
            time.sleep(0.1)

    # -- logs ---------------------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def members_from_log(self) -> set[str]:
        """Addresses this node currently has as members, from SimpleTcpCluster's log lines."""
        members: set[str] = set()
        for m in _MEMBER_RE.finditer(self.log_text()):
            addr = ".".join(m.group(i) for i in range(2, 6))
            if m.group(1).startswith("Replication"):
                members.add(addr)
            else:
                members.discard(addr)
        return members


class TomcatCluster:
    """N Tomcat nodes in a lab: hosts `<host_prefix><i>` at `<subnet>.<index_base + i>`."""

    def __init__(self, lab: Lab, version: str | int = "10", heap: str = "256m",
                 cluster: ClusterConfig | None = None, fine_logging: bool = False,
                 jvm_opts: Sequence[str] = (), host_prefix: str = "t", index_base: int = 0,
                 versions: Sequence[str | int] | None = None, keep_bases: bool | None = None,
                 **cluster_kw: Any) -> None:
        self.lab = lab
        self.version = _major(version)
        self.versions = [_major(v) for v in versions] if versions else None
        self.heap = heap
        self.config = cluster or ClusterConfig(**cluster_kw)
        self.fine_logging = fine_logging
        self.jvm_opts = list(jvm_opts)
        self.host_prefix = host_prefix
        self.index_base = index_base
        self.nodes: list[TomcatNode] = []
        self.root = tempfile.mkdtemp(prefix=f"tribes-tomcat-{lab.name}-")
        self.keep_bases = (os.environ.get("TRIBES_KEEP_BASES") == "1") if keep_bases is None else keep_bases

    def add_node(self, version: str | int | None = None, start: bool = True, timeout: float = 180,
                 **node_kw: Any) -> TomcatNode:
        i = len(self.nodes) + 1
        if version is None:
            version = self.versions[i - 1] if self.versions and i <= len(self.versions) else self.version
        hostname = f"{self.host_prefix}{i}"
        host = self.lab.hosts.get(hostname) or self.lab.add_host(hostname, index=self.index_base + i)
        kw = dict(heap=self.heap, fine_logging=self.fine_logging, jvm_opts=self.jvm_opts)
        kw.update(node_kw)
        node = TomcatNode(host, i, version, os.path.join(self.root, f"tomcat{i}"), self.config, **kw)
        self.nodes.append(node)
        if start:
            node.start(timeout=timeout)
        return node

    def start(self, n: int, timeout: float = 180) -> "TomcatCluster":
        """Start nodes one by one (each waits until it answers: the first is the oldest member)."""
        for _ in range(n):
            self.add_node(timeout=timeout)
        self.wait_membership(timeout=60)
        return self

    def running(self) -> list[TomcatNode]:
        return [n for n in self.nodes if n.is_running()]

    def wait_membership(self, timeout: float = 60, nodes: Sequence[TomcatNode] | None = None) -> None:
        """Wait until every running node has logged every other running node as a member."""
        nodes = list(nodes) if nodes is not None else self.running()
        want = {n.address for n in nodes}
        deadline = time.monotonic() + timeout
        while True:
            missing = {n.jvm_route: sorted(want - {n.address} - n.members_from_log()) for n in nodes}
            missing = {k: v for k, v in missing.items() if v}
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TomcatError(f"membership incomplete after {timeout} s: {missing}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop every node (graceful, then kill -9) and remove the CATALINA_BASEs unless kept."""
        for node in reversed(self.nodes):
            try:
                node.stop(timeout=30)
            except Exception as exc:  # teardown goes on
                log.warning("stopping %s: %s", node, exc)
                with contextlib.suppress(Exception):
                    node.kill()
        if not self.keep_bases:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            log.info("Tomcat bases kept in %s", self.root)

    def __enter__(self) -> "TomcatCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------- HTTP
@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(lab: Lab, method: str, url: str, headers: Mapping[str, str] | None = None,
                 data: Mapping[str, str] | None = None, timeout: float = 20) -> Response:
    """One HTTP request with curl from the hub namespace; status 0 when nothing answered."""
    cmd = ["curl", "-s", "-i", "--max-time", str(timeout), "-X", method]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if data is not None:
        cmd += ["--data", urllib.parse.urlencode(data)]
    cmd.append(url)
    res = lab.hub_run(cmd, timeout=timeout + 10, text=False)
    if res.returncode != 0 or not res.stdout:
        return Response(0, [], res.stderr.decode(errors="replace"))
    raw = res.stdout.decode("utf-8", errors="replace")
    head, _, body = raw.partition("\r\n\r\n")
    while head.startswith("HTTP/1.1 100"):
        head, _, body = body.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return Response(status, hdrs, body)


class Browser:
    """An HTTP client with one JSESSIONID per context ("/app", "/"), sent to whichever node it asks."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.cookies: dict[str, str] = {}

    @staticmethod
    def _ctx(path: str) -> str:
        return "/app" if path == "/app" or path.startswith("/app/") else "/"

    def session_id(self, path: str = "/app") -> str | None:
        return self.cookies.get(self._ctx(path))

    def request(self, node: TomcatNode | str, method: str, path: str, params: Mapping[str, Any] | None = None,
                data: Mapping[str, str] | None = None, timeout: float = 20) -> Response:
        base = node.url if isinstance(node, TomcatNode) else node
        url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        ctx = self._ctx(path)
        headers = {"Cookie": f"JSESSIONID={self.cookies[ctx]}"} if ctx in self.cookies else {}
        resp = http_request(self.lab, method, url, headers, data, timeout)
        for k, v in resp.headers:
            if k.lower() == "set-cookie" and v.startswith("JSESSIONID="):
                value = v.split(";")[0].split("=", 1)[1]
                m = re.search(r"Path=([^;]*)", v, re.I)
                self.cookies["/" if m and m.group(1) in ("/", "") else ctx] = value
        return resp

    def get(self, node: TomcatNode | str, path: str, params: Mapping[str, Any] | None = None,
            **kw: Any) -> Response:
        return self.request(node, "GET", path, params, **kw)

    def post(self, node: TomcatNode | str, path: str, data: Mapping[str, str], **kw: Any) -> Response:
        return self.request(node, "POST", path, data=data, **kw)

    def new_session(self, node: TomcatNode, replicas: Sequence[TomcatNode] = (), timeout: float = 30) -> str:
        """Create an /app session on `node` and wait until every replica has it; returns its id.

        With channelSendOptions=8 Tomcat's MessageDispatchInterceptor may deliver a request's
        SESSION_CREATED after its SESSION_DELTA (a thread pool); the receiver then drops the delta.
        Waiting for the session before setting attributes keeps tests deterministic.
        """
        r = self.get(node, "/app/set", {"name": "created-on", "value": node.jvm_route})
        if r.status != 200:
            raise TomcatError(f"could not create a session on {node}: {r.status} {r.body[:200]}")
        sid = r.json()["id"]
        for rep in replicas:
            rep.wait_session(sid, timeout=timeout)
        if replicas:
            # the first request's delta may have been dropped (it can overtake SESSION_CREATED):
            # set the attribute again now that every replica has the session, and wait for it
            r = self.get(node, "/app/set", {"name": "created-on", "value": node.jvm_route})
            if r.status != 200:
                raise TomcatError(f"could not update session {sid} on {node}: {r.status} {r.body[:200]}")
            for rep in replicas:
                rep.wait_session(sid, ["created-on"], timeout=timeout)
        return sid

    def login(self, node: TomcatNode, user: str = USER, password: str = PASSWORD) -> Response:
        """FORM login to /app/secure/whoami; returns the whoami answer."""
        first = self.get(node, "/app/secure/whoami")
        if first.status == 200 and "tribeslab-login-page" not in first.body:
            return first
        r = self.post(node, "/app/j_security_check", {"j_username": user, "j_password": password})
        if r.status not in (302, 303):
            raise TomcatError(f"FORM login failed on {node}: {r.status} {r.body[:200]}")
        return self.get(node, "/app/secure/whoami")
