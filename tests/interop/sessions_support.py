"""Helpers of the session interop tests: a Python DeltaManager node in a lab host, typed values."""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Iterator, Sequence

from interop.fixtures import require_root_and_java
from interop.lab import Host, Lab
from interop.tomcat.node import TomcatCluster
from tests.interop.jsonproc import JsonLineProcess

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = os.path.join(HERE, "sessions_node.py")


class PyNodeError(RuntimeError):
    pass


class PyNode(JsonLineProcess):
    """tests/interop/sessions_node.py running in `host`; ``call(op, **kw)`` -> answer dict."""

    script = NODE
    event_key = "event"
    label = "python node"
    error = PyNodeError

    def __init__(self, host: Host, args: Sequence[str], ready_timeout: float = 120) -> None:
        super().__init__(host, [self.script, "--bind", host.address, *args], stdin=True)
        self.ready = self.wait_event("ready", timeout=ready_timeout)

    def session(self, ctx: str, sid: str) -> dict[str, Any] | None:
        return self.call("get", ctx=ctx, id=sid)["session"]

    def wait_session(self, ctx: str, sid: str, pred: Callable[[dict[str, Any] | None], bool] | None = None,
                     timeout: float = 30) -> dict[str, Any] | None:
        """Poll until `pred(session view)` (default: the session exists)."""
        pred = pred or (lambda s: s is not None)
        deadline = time.monotonic() + timeout
        while True:
            s = self.session(ctx, sid)
            if pred(s):
                return s
            if time.monotonic() > deadline:
                raise PyNodeError(f"session {sid} in {ctx}: condition not met after {timeout} s (now {s})\n"
                                  f"{self.log_tail(15)}")
            time.sleep(0.1)

    def close(self) -> None:
        self.quit()

    def kill(self) -> None:
        self.host.kill(self.proc)


def tj(cls: str, value: Any) -> dict[str, Any]:
    """A typed JSON value."""
    return {"class": cls, "value": value}


def attr_map(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tomcat /peek or /dump attributes -> {name: {"type", "value"}}."""
    return {a["name"]: {"type": a["type"], "value": a["value"]} for a in view["attributes"]}


def route_base(sid: str) -> str:
    return sid.split(".", 1)[0]


INJECT = r"""
import json, socket, sys, time, os
sys.path.insert(0, os.environ["REPO"])
from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.io.framing import FrameDecoder
from tribes.membership.member import Member
a = json.loads(sys.argv[1])
me = Member(host=a["me"], port=4999, unique_id=bytes(range(16)))
s = socket.create_connection((a["to"], a["port"]), timeout=10)
dec = FrameDecoder()
acks = 0
for hexpayload in a["payloads"]:
    cd = ChannelData(a["options"], int(time.time() * 1000), new_unique_id(), me, bytes.fromhex(hexpayload))
    s.sendall(cd.encode_frame())
    if a["options"] & 2:
        got = []
        while not got:
            got = dec.feed(s.recv(65536))
        acks += len(got)
print(json.dumps({"acks": acks}))
"""


def inject(host: Host, to: str, payloads: Sequence[bytes], options: int = 2, port: int = 4000) -> int:
    """Send raw ChannelData frames (our own uniqueId/address) from `host`; returns the ACK count."""
    import sys as _sys
    from interop.lab import REPO_ROOT
    arg = json.dumps({"me": host.address, "to": to, "port": port, "options": options,
                      "payloads": [p.hex() for p in payloads]})
    res = host.run([_sys.executable, "-c", INJECT, arg], env={**os.environ, "REPO": REPO_ROOT}, timeout=60)
    if res.returncode != 0:
        raise PyNodeError(f"inject failed: {res.stderr[-2000:]}")
    return int(json.loads(res.stdout.strip().splitlines()[-1])["acks"])


def session_lab(lab_factory: Callable[..., Lab], name: str, tomcat_versions: Sequence[str]) -> Lab:
    """The lab of a session test module (10.77.15), once Java and the Tomcat versions are there."""
    for v in sorted(set(tomcat_versions)):
        require_root_and_java(int(v), tomcat=True)
    return lab_factory(name, "10.77.15")


def python_member(lab: Lab, cluster: TomcatCluster, version: str) -> Iterator[PyNode]:
    """The Python node of a session test module (host .50, jvmRoute py1, contexts /app and ROOT,
    session layouts of ``version``), yielded once it has both contexts' state transfer and
    every Tomcat node has logged it as a member; closed afterwards."""
    node = PyNode(lab.add_host("py", index=50), ["--jvm-route", "py1", "--context", "/app", "--context", "/",
                                                  "--version", version, "--events", "--manager",
                                                  "processExpiresFrequency=1", "--background-delay", "1"])
    try:
        assert node.ready["transfer"] == {"localhost#/app": "transferred", "localhost#": "transferred"}, node.ready
        cluster.wait_membership(timeout=60)  # the Tomcat nodes see each other...
        deadline = time.monotonic() + 60
        while not all(node.host.address in n.members_from_log() for n in cluster.nodes):  # ...and us
            assert time.monotonic() < deadline, "Tomcat did not add the Python member"
            time.sleep(0.2)
        yield node
    finally:
        node.close()
