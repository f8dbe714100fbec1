"""Stand-ins for the metrics/dashboard unit tests: a channel without network, a real cluster over it."""
from __future__ import annotations

import os
import time
from typing import Any

from tribes.io.channel_data import ChannelData
from tribes.io.member import Member
from tribes.managers.cluster import SimpleTcpCluster
from tribes.managers.principal import Principal
from tribes.javaser import JavaInteger
from tribes.metrics.observer import Observer


def member(last: int, port: int = 4000) -> Member:
    return Member(host=bytes([10, 0, 0, last]), port=port, unique_id=bytes([last]) * 16)


class StubChannel:
    def __init__(self) -> None:
        self.membership_listeners: list[Any] = []
        self.channel_listeners: list[Any] = []
        self._members: list[Member] = []
        self.local_member = member(1)
        self.coordinator = None

    def add_channel_listener(self, listener: Any) -> None:
        self.channel_listeners.append(listener)

    def add_membership_listener(self, listener: Any) -> None:
        self.membership_listeners.append(listener)

    def members(self) -> list[Member]:
        return list(self._members)

    def join(self, m: Member) -> None:
        self._members.append(m)
        for li in self.membership_listeners:
            li.member_added(m)

    def leave(self, m: Member) -> None:
        self._members.remove(m)
        for li in self.membership_listeners:
            li.member_disappeared(m)

    async def flush(self, timeout: float = 30.0) -> bool:
        return True

    async def stop(self) -> None:
        pass


def node(with_sessions: bool = True) -> tuple[Observer, StubChannel, SimpleTcpCluster | None]:
    ch = StubChannel()
    cluster = SimpleTcpCluster(ch, jvm_route="py1") if with_sessions else None  # type: ignore[arg-type]
    ob = Observer()
    ob.attach(ch, cluster)
    return ob, ch, cluster


def login_session(cluster: SimpleTcpCluster, user: str, path: str = "/app", **attrs: Any) -> str:
    ctx = cluster.manager(path, transfer=False)
    ctx.delta_manager.has_members = True   # so CREATED/DELTA are sent (and counted)
    s = ctx.create_session({"n": JavaInteger(7), **attrs})
    assert s.id is not None
    s.set_principal(Principal(user, ["user"]))
    return s.id


def channel_data(sender: Member, size: int = 100, age_ms: int = 20, options: int = 8) -> ChannelData:
    return ChannelData(options, int(time.time() * 1000) - age_ms, os.urandom(16), sender, b"x" * size)
