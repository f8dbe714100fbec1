"""``ReplicationTransmitter``: the channel's sender, a thin configuration wrapper around the transport
(``PooledParallelSender`` by default), as in Tomcat."""
from __future__ import annotations

from typing import Sequence

from tribes.io.channel_data import ChannelData
from tribes.io.member import Member
from tribes.transport.sender import PooledParallelSender, SenderState

__all__ = ["ReplicationTransmitter"]


class ReplicationTransmitter:
    def __init__(self, transport: PooledParallelSender | None = None) -> None:
        self.transport = transport if transport is not None else PooledParallelSender()

    @classmethod
    def from_attributes(cls, transport_attrs: dict[str, str]) -> "ReplicationTransmitter":
        """``<Transport className="...PooledParallelSender" .../>`` attributes (camelCase)."""
        attrs = dict(transport_attrs)
        cls_name = attrs.pop("className", "org.apache.catalina.tribes.transport.nio.PooledParallelSender")
        if not cls_name.endswith("PooledParallelSender"):
            raise ValueError(f"unsupported transport {cls_name!r}: only PooledParallelSender is implemented")
        return cls(PooledParallelSender.from_attributes(attrs))

    async def start(self) -> None:
        await self.transport.connect()

    async def stop(self) -> None:
        self.transport.disconnect()

    async def send_message(self, message: ChannelData, destination: Sequence[Member]) -> None:
        await self.transport.send_message(destination, message.encode_frame(), message.options)

    async def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued frame has been written (and ACKed when asked); False on timeout."""
        return await self.transport.flush(timeout)

    def heartbeat(self) -> None:
        self.transport.keepalive()

    def add(self, member: Member) -> None:
        self.transport.add(member)

    def remove(self, member: Member) -> None:
        self.transport.remove(member)

    # SenderState bookkeeping done by the coordinator on membership events
    def state_of_member(self, member: Member, create: bool = False) -> SenderState | None:
        st = self.transport.states.get(member)
        if st is None and create:
            st = self.transport.states[member] = SenderState()
        return st

    def remove_state(self, member: Member) -> None:
        self.transport.states.pop(member, None)
