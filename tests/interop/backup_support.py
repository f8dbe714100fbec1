"""Helpers of the BackupManager interop tests: 3 Tomcat nodes + a Python BackupManager node in one lab."""
from __future__ import annotations

import json
import re
import time
from typing import Any, Callable, Iterator, Sequence

from interop.lab import Lab
from interop.tomcat.node import ClusterConfig, TomcatCluster, TomcatNode
from tests.interop.sessions_support import HERE, PyNode, PyNodeError

import os

BACKUP_NODE = os.path.join(HERE, "backup_node.py")
BACKUP_MANAGER = "org.apache.catalina.ha.session.BackupManager"
APP_MAP = "localhost#/app-map"


class BackupPyNode(PyNode):
    """tests/interop/backup_node.py in `host` (same JSON-lines protocol as PyNode)."""

    script = BACKUP_NODE
    label = "python backup node"

    def view(self, sid: str, load: bool = False) -> dict[str, Any] | None:
        return self.call("get", ctx="/app", id=sid, load=load)["session"]

    def wait_view(self, sid: str, pred: Callable[[dict[str, Any] | None], bool] = lambda v: v is not None,
                  timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            v = self.view(sid)
            if pred(v):
                assert v is not None
                return v
            if time.monotonic() > deadline:
                raise PyNodeError(f"{sid}: condition not met after {timeout} s (now {v})\n{self.log_tail(20)}")
            time.sleep(0.1)

    def stats(self) -> dict[str, Any]:
        return self.call("stats")["maps"][APP_MAP]

    def log_text(self) -> str:
        return "\n".join(self.stderr)


def backup_config(**kw: Any) -> ClusterConfig:
    return ClusterConfig(manager_class=BACKUP_MANAGER, **kw)


def member_name(address: str, port: int = 4000) -> str:
    """Member.name of a lab address: tcp://{10, 77, 150, 1}:4000."""
    return "tcp://{" + ", ".join(address.split(".")) + "}:" + str(port)


_MAP_ADDED = re.compile(r"Map member added:\[.*?\{(\d+), (\d+), (\d+), (\d+)\}")


def tomcat_map_members(node: TomcatNode) -> set[str]:
    """Addresses a Tomcat node's maps logged as added (AbstractReplicatedMap.mapMemberAdded)."""
    return {".".join(m.groups()) for m in _MAP_ADDED.finditer(node.log_text())}


def python_backup_member(lab: Lab, cluster: TomcatCluster, version: str, index: int = 50, name: str = "py",
                         route: str = "py1", extra: Sequence[str] = ()) -> Iterator[BackupPyNode]:
    """The Python BackupManager node (context /app), yielded once every Tomcat node has it as a
    channel member and its /app map has it as a map member."""
    node = BackupPyNode(lab.add_host(name, index=index),
                        ["--jvm-route", route, "--context", "/app", "--version", version, *extra])
    try:
        deadline = time.monotonic() + 90
        while not all(node.host.address in n.members_from_log() and node.host.address in tomcat_map_members(n)
                      for n in cluster.running()):
            assert time.monotonic() < deadline, (
                "Tomcat did not add the Python map member:\n" + "\n".join(n.log_tail(15) for n in cluster.running())
                + "\n" + node.log_tail(30))
            time.sleep(0.3)
        # and the Python map knows every Tomcat node (INIT/START replies, then its own pings)
        want = {member_name(n.address) for n in cluster.running()}
        while not want <= set(node.stats()["map_members"]):
            assert time.monotonic() < deadline, f"Python map members {node.stats()['map_members']}, want {want}"
            time.sleep(0.3)
        yield node
    finally:
        node.close()


def sessions_json(py: BackupPyNode) -> dict[str, dict[str, Any]]:
    """`tribes sessions --json` of the Python node (the CLI's printer on the running node), by id."""
    return {r["id"]: r for r in py.call("sessions_json")["lines"] if r.get("kind") == "session"}


def wait_until(pred: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"{what} not met after {timeout} s"
        time.sleep(0.2)


RPC_TIMEOUT_LINES = ("probably a timeout", "has timed-out in the ping processing", "received beyond the timeout period",
                     "Unable to retrieve remote object", "Unable to deserialize MapMessage", "Unable to apply diff",
                     "Unable to transfer AbstractReplicatedMap state", "Unable to send back reply in RpcChannel")


def rpc_timeout_lines(node: TomcatNode) -> list[str]:
    """Tomcat log lines that mean a map RPC got no answer in time or a map message was unreadable."""
    return [line for line in node.log_text().splitlines() if any(s in line for s in RPC_TIMEOUT_LINES)]


def jlines(text: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in text.splitlines() if x.strip().startswith("{")]
