"""Real network faults in the namespace lab (issue 19), shared by tests/interop/test_faults_lab.py,
test_faults_soak.py and bench/bench_faults.py.

This kernel has no ``netem`` (and no NFQUEUE); what works, and is used here:

* loss: nftables in each host's namespace, ``prerouting``: ``ip saddr <lab> numgen random mod 100 < N
  drop`` (on the receiving side: a drop in ``output`` would make the sender's sendto() fail with
  EPERM, which is not what a lossy network does);
* duplication: ``postrouting``: ``ip daddr <lab> numgen random mod 100 < N dup to ip daddr device eth0``
  (an ``ip``-family table);
* a bandwidth limit that makes queues build: ``tc qdisc replace dev eth0 root tbf`` on every host;
* a partition: a ``bridge``-family table in the hub namespace dropping frames between the bridge
  ports of the two sides (multicast heartbeats included);
* a silent host loss: the host's bridge port down (``Host.link(False)``): no FIN, no RST.

The lab is ``ft*`` on 10.77.19.0/24: tomcat1 .1, tomcat2 .2, the Python node .50.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Sequence

from interop.lab import Host, Lab
from interop.tomcat.node import Browser, TomcatCluster, TomcatNode
from tests.interop.sessions_support import PyNode

SUBNET = "10.77.19"
PY_INDEX = 50
CTX = "/app"


# ------------------------------------------------------------------------------------ faults
def missing_tools() -> str | None:
    """Why faults cannot be injected here (None: they can)."""
    import shutil
    for tool, pkg in (("nft", "nftables"), ("tc", "iproute2")):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing: apt-get install {pkg} (scripts/setup.sh installs it)"
    return None


def nft(host: Host, script: str) -> None:
    r = host.run(["nft", "-f", "-"], input=script)
    if r.returncode != 0:
        raise RuntimeError(f"nft in {host.ns}: {r.stderr.strip()}")


def faults_on(hosts: Iterable[Host], loss: int = 5, dup: int = 5, rate: str | None = "8mbit") -> None:
    """Random loss and duplication of the lab's unicast and multicast traffic, and a tbf bandwidth
    limit, on every host (each direction of every link)."""
    pre = f"ip saddr {SUBNET}.0/24 numgen random mod 100 < {loss} drop" if loss else ""
    post = f"ip daddr {SUBNET}.0/24 numgen random mod 100 < {dup} dup to ip daddr device eth0" if dup else ""
    script = (
        "table ip ftfault {\n"
        f"  chain pre {{\n    type filter hook prerouting priority 0; policy accept;\n    {pre}\n  }}\n"
        f"  chain post {{\n    type filter hook postrouting priority 0; policy accept;\n    {post}\n  }}\n"
        "}\n")
    for h in hosts:
        nft(h, script)
        if rate:
            r = h.run(f"tc qdisc replace dev eth0 root tbf rate {rate} burst 32kbit latency 400ms")
            if r.returncode != 0:
                raise RuntimeError(f"tc in {h.ns}: {r.stderr.strip()}")


def faults_off(hosts: Iterable[Host]) -> None:
    for h in hosts:
        h.run(["nft", "delete", "table", "ip", "ftfault"])
        h.run("tc qdisc del dev eth0 root")


def partition(lab: Lab, side_a: Sequence[Host], side_b: Sequence[Host]) -> None:
    """Drop every frame between the two sides on the bridge (both directions)."""
    rules = []
    for a in side_a:
        for b in side_b:
            rules.append(f'iifname "{a.hub_iface}" oifname "{b.hub_iface}" drop')
            rules.append(f'iifname "{b.hub_iface}" oifname "{a.hub_iface}" drop')
    script = ("table bridge ftpart {\n  chain part {\n    type filter hook forward priority 0; policy accept;\n"
              + "".join(f"    {r}\n" for r in rules) + "  }\n}\n")
    r = lab.hub_run(["nft", "-f", "-"], input=script)
    if r.returncode != 0:
        raise RuntimeError(f"nft in the hub: {r.stderr.strip()}")


def heal(lab: Lab) -> None:
    lab.hub_run(["nft", "delete", "table", "bridge", "ftpart"])


# ------------------------------------------------------------------------------------ strangers
_SEND_FRAMES = r"""
import socket, struct, sys, os
sys.path.insert(0, os.environ["REPO"])
from tribes.io.framing import FrameDecoder
path, to, port, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
data = open(path, "rb").read()
s = socket.create_connection((to, port), timeout=120)
dec, acks, pos = FrameDecoder(), 0, 0
while pos < len(data):
    n = struct.unpack(">I", data[pos:pos + 4])[0]
    s.sendall(data[pos + 4:pos + 4 + n])
    pos += 4 + n
    if want:
        got = []
        while not got:
            got = dec.feed(s.recv(65536))
        acks += len(got)
print(acks)
"""


def send_frames(host: Host, to: str, payloads: Sequence[bytes], options: int = 2, port: int = 4000) -> int:
    """Send each Java payload as a ChannelData frame from a stranger on ``host`` (its own uniqueId,
    not a member) over one connection; with USE_ACK (2) wait for each ACK. Returns the ACK count."""
    import struct
    import sys
    import tempfile

    from interop.lab import REPO_ROOT
    from tribes.io.channel_data import ChannelData, new_unique_id
    from tribes.membership.member import Member
    me = Member(host=host.address, port=4999, unique_id=bytes(range(16)))
    with tempfile.NamedTemporaryFile(prefix="ft-frames-", delete=False) as f:
        for p in payloads:
            frame = ChannelData(options, int(time.time() * 1000), new_unique_id(), me, p).encode_frame()
            f.write(struct.pack(">I", len(frame)) + frame)
        path = f.name
    try:
        res = host.run([sys.executable, "-c", _SEND_FRAMES, path, to, str(port), str(options & 2)],
                       env={**os.environ, "REPO": REPO_ROOT}, timeout=300)
    finally:
        os.unlink(path)
    if res.returncode != 0:
        raise RuntimeError(f"sending frames failed: {res.stderr[-2000:]}")
    return int(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ membership
def member_hosts(py: PyNode) -> set[str]:
    """Addresses the Python node has as members (from ``tcp://{10, 77, 19, 1}:4000``)."""
    out = set()
    for name in py.call("stats", timeout=30)["members"]:
        m = re.search(r"\{(\d+), (\d+), (\d+), (\d+)\}", name)
        if m:
            out.add(".".join(m.groups()))
    return out


_PY_GONE = re.compile(r"replication member disappeared: tcp://\{(\d+), (\d+), (\d+), (\d+)\}")
_TC_GONE = re.compile(r"Received member disappeared:\[.*?\{(\d+), (\d+), (\d+), (\d+)\}")
_TC_SEND_FAILED = re.compile(r"^(\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d\.\d{3}) .*Unable to send message through cluster sender",
                             re.M)


def py_flaps(py: PyNode) -> int:
    """Member disappearances the Python node logged."""
    return sum(1 for line in list(py.stderr) if _PY_GONE.search(line))


def tomcat_flaps(node: TomcatNode) -> int:
    return len(_TC_GONE.findall(node.log_text()))


def tomcat_send_failures(node: TomcatNode) -> list[float]:
    """Epoch times of the node's "Unable to send message through cluster sender" lines."""
    out = []
    for m in _TC_SEND_FAILED.finditer(node.log_text()):
        try:
            out.append(datetime.strptime(m.group(1), "%d-%b-%Y %H:%M:%S.%f").timestamp())
        except ValueError:
            continue
    return out


def wait_until(pred: Any, timeout: float, step: float = 0.1) -> float | None:
    """Seconds until ``pred()`` (None: not within ``timeout``)."""
    t0 = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(step)


_PY_EVT = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*replication member (added|disappeared): "
                     r"tcp://\{(\d+), (\d+), (\d+), (\d+)\}")
_TC_EVT = re.compile(r"^(\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d\.\d{3}) .*(Replication member added|Received member "
                     r"disappeared):\[.*?\{(\d+), (\d+), (\d+), (\d+)\}", re.M)


def py_member_events(py: PyNode) -> list[tuple[float, str, str]]:
    """(epoch, "added"/"disappeared", address) from the Python node's log lines (ms timestamps)."""
    out = []
    for line in list(py.stderr):
        m = _PY_EVT.search(line)
        if m:
            t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((t, m.group(2), ".".join(m.group(i) for i in range(3, 7))))
    return out


def tomcat_member_events(node: TomcatNode) -> list[tuple[float, str, str]]:
    out = []
    for m in _TC_EVT.finditer(node.log_text()):
        t = datetime.strptime(m.group(1), "%d-%b-%Y %H:%M:%S.%f").timestamp()
        kind = "added" if m.group(2).startswith("Replication") else "disappeared"
        out.append((t, kind, ".".join(m.group(i) for i in range(3, 7))))
    return out


def event_delay(events: list[tuple[float, str, str]], since: float, kind: str, addr: str) -> float | None:
    """Seconds from ``since`` (epoch) to the first ``kind`` event for ``addr`` after it."""
    times = [t for t, k, a in events if k == kind and a == addr and t >= since - 0.05]
    return round(min(times) - since, 3) if times else None


def detection_times(py: PyNode, observers: Sequence[TomcatNode], gone: str, timeout: float,
                    present: bool = False) -> dict[str, float | None]:
    """From now, seconds until the Python node and each Tomcat observer no longer have ``gone`` as a
    member (``present``: until they have it again); polled together every 0.1 s."""
    t0 = time.monotonic()
    found: dict[str, float | None] = {"python": None, **{o.jvm_route: None for o in observers}}
    while time.monotonic() - t0 < timeout and any(v is None for v in found.values()):
        now = time.monotonic() - t0
        if found["python"] is None and ((gone in member_hosts(py)) == present):
            found["python"] = now
        for o in observers:
            if found[o.jvm_route] is None and ((gone in o.members_from_log()) == present):
                found[o.jvm_route] = now
        time.sleep(0.1)
    return found


# ------------------------------------------------------------------------------------ updates
@dataclass
class Update:
    sid: str
    value: int
    node: str
    started: float
    ended: float
    status: int


@dataclass
class Updater:
    """Continuous HTTP updates (``counter`` = 1, 2, ...) of one session per browser, each browser on
    its own Tomcat node; every answer recorded."""

    lab: Lab
    users: list[tuple[Browser, TomcatNode, str]] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def add_user(self, node: TomcatNode, replicas: Sequence[TomcatNode] = ()) -> str:
        b = Browser(self.lab)
        sid = b.new_session(node, list(replicas))
        self.users.append((b, node, sid))
        return sid

    def _run(self, b: Browser, node: TomcatNode, sid: str, pause: float) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            t0 = time.time()
            try:
                r = b.get(node, "/app/set", {"name": "counter", "type": "int", "value": str(i)}, timeout=10)
                status = r.status
            except Exception:  # noqa: BLE001 - a failed request is recorded as status 0
                status = 0
            self.updates.append(Update(sid, i, node.jvm_route, t0, time.time(), status))
            time.sleep(pause)

    def start(self, pause: float = 0.05) -> None:
        self._stop.clear()
        for b, node, sid in self.users:
            th = threading.Thread(target=self._run, args=(b, node, sid, pause), daemon=True)
            th.start()
            self._threads.append(th)

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(30)
        self._threads.clear()

    def acked(self, send_failures: dict[str, list[float]]) -> tuple[list[Update], list[Update]]:
        """(acknowledged, excused): an update counts as acknowledged when its HTTP answer was 200 and
        its Tomcat node logged no send failure while it was in flight (1 s margin)."""
        acked, excused = [], []
        for u in self.updates:
            if u.status != 200:
                continue
            fails = send_failures.get(u.node, [])
            if any(u.started - 1.0 <= t <= u.ended + 1.0 for t in fails):
                excused.append(u)
            else:
                acked.append(u)
        return acked, excused


def py_seen(py: PyNode) -> dict[str, set[int]]:
    """Every ``counter`` value the Python node applied, per session id base (renames followed)."""
    seen: dict[str, set[int]] = {}
    for e in list(py.events):
        if e.get("event") == "session" and e.get("name") == "counter" and e.get("value") is not None:
            try:
                v = int(e["value"]["value"])
            except (TypeError, ValueError, KeyError):
                continue
            seen.setdefault(str(e.get("id", "")).split(".", 1)[0], set()).add(v)
    return seen


def counter_of(view: dict[str, Any] | None) -> int | None:
    """``counter`` of a Tomcat /peek view or a Python node session view."""
    if view is None:
        return None
    attrs = view.get("attributes")
    if isinstance(attrs, dict):       # Python node: {name: {"class", "value"}}
        a = attrs.get("counter")
        return int(a["value"]) if a else None
    for a in attrs or []:             # Tomcat: [{"name", "type", "value"}]
        if a["name"] == "counter":
            return int(a["value"])
    return None


def proc_stats(pid: int) -> tuple[int, int]:
    """(RSS KiB, open file descriptors) of a process."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def start_python(lab: Lab, send_options: int = 6, extra: Sequence[str] = ()) -> PyNode:
    return PyNode(lab.add_host("py", index=PY_INDEX) if "py" not in lab.hosts else lab.hosts["py"],
                  ["--jvm-route", "py1", "--context", CTX, "--events", "--send-options", str(send_options),
                   "--background-delay", "1", *extra])


def wait_joined(py: PyNode, cluster: TomcatCluster, timeout: float = 60) -> None:
    """Until the Python node and every running Tomcat node have each other as members."""
    tomcats = cluster.running()
    ok = wait_until(lambda: {t.address for t in tomcats} <= member_hosts(py)
                    and all(py.host.address in t.members_from_log() for t in tomcats), timeout, 0.2)
    if ok is None:
        raise AssertionError(f"membership incomplete after {timeout} s: python has {member_hosts(py)}, "
                             + ", ".join(f"{t.jvm_route} has {sorted(t.members_from_log())}" for t in tomcats))
