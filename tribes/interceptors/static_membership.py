"""``StaticMembershipInterceptor``: configured members, announced with raw control messages.

Tomcat's ``org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor``:

* the configured ``StaticMember``\\s are members in addition to whatever the membership service
  below finds; ``get_members()`` returns both in Tomcat's *absolute order* (host bytes, then port,
  then uniqueId, unsigned) -- not the alive order of McastService;
* an optional local member (``<LocalMember>``) replaces the local identity that goes into every
  frame this node sends;
* control messages are ordinary frames whose payload is raw ASCII (not Java-serialized, no
  BYTE_MESSAGE bit; options = this interceptor's flag, 0 by default, so no ACK is asked):
  ``MEMBER_START`` = ``Local StaticMember Notification Data`` fires ``member_added`` of the sender
  when its address equals a configured static member (or one known below);
  ``MEMBER_STOP`` = ``Local StaticMember Shutdown Data`` fires ``member_disappeared`` with the
  SHUTDOWN command, so a TcpFailureDetector above removes it without probing;
* start: after the sender/receiver levels, every static member is passed up as added (a
  TcpFailureDetector above verifies it by TCP) and, when the first interceptor then knows it, is
  sent ``MEMBER_START``; stop: ``MEMBER_STOP`` goes to every member the first interceptor knows.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Iterable, Mapping, Sequence

from tribes.channel import ChannelInterceptor
from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.membership.member import SHUTDOWN_PAYLOAD, Member

__all__ = ["StaticMembershipInterceptor", "MEMBER_START", "MEMBER_STOP", "absolute_order"]

log = logging.getLogger("tribes.interceptors.static_membership")

MEMBER_START = b"Local StaticMember Notification Data"
MEMBER_STOP = b"Local StaticMember Shutdown Data"

SND_RX_SEQ = 1
SND_TX_SEQ = 2


def absolute_order(members: Iterable[Member]) -> list[Member]:
    """Tomcat's ``AbsoluteOrder``: host (shorter first, then unsigned bytes), port, uniqueId."""
    return sorted(members, key=lambda m: (len(m.host), m.host, m.port, len(m.unique_id), m.unique_id))


class StaticMembershipInterceptor(ChannelInterceptor):
    default_option_flag = 0

    def __init__(self, members: Iterable[Member] = (), local_member: Member | None = None,
                 option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        self.members: list[Member] = []
        for m in members:
            self.add_static_member(m)
        self.local_member: Member | None = local_member
        self._startup: list[asyncio.Task[None]] = []

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any], members: Iterable[Member] = (),
                        local_member: Member | None = None) -> "StaticMembershipInterceptor":
        flag = None
        for key, value in attributes.items():
            if key == "className":
                continue
            if key != "optionFlag":
                raise ValueError(f"StaticMembershipInterceptor attribute {key!r} is not supported; "
                                 "accepted: optionFlag (members go in <Member>/<LocalMember> children)")
            flag = int(value)
        return cls(members, local_member, flag)

    # -- configuration ----------------------------------------------------------------------------
    def add_static_member(self, member: Member) -> None:
        if member not in self.members:
            self.members.append(member)

    def remove_static_member(self, member: Member) -> None:
        if member in self.members:
            self.members.remove(member)

    def set_local_member(self, member: Member) -> None:
        self.local_member = member

    # -- receiving --------------------------------------------------------------------------------
    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        payload = bytes(msg.message)
        if payload == MEMBER_START:
            member = self.get_member(msg.address)
            if member is not None:
                # an awaitable: the receiver awaits it before the next frame of the connection,
                # so control messages and data keep their order as in Tomcat
                return super().member_added(member)
            log.debug("MEMBER_START from %s, which is not a configured member: ignored", msg.address.name)
            return None
        if payload == MEMBER_STOP:
            member = self.get_member(msg.address)
            if member is not None:
                return super().member_disappeared(member.with_command(SHUTDOWN_PAYLOAD))
            return None
        return super().message_received(msg)

    # -- queries ----------------------------------------------------------------------------------
    def has_members(self) -> bool:
        return super().has_members() or bool(self.members)

    def get_members(self) -> list[Member]:
        if not self.members:
            return super().get_members()
        others = super().get_members()
        return absolute_order([*others, *self.members])

    def get_member(self, member: Member) -> Member | None:
        for m in self.members:
            if m == member:
                return m
        return super().get_member(member)

    def get_local_member(self, inc_alive: bool = False) -> Member | None:
        if self.local_member is not None:
            return self.local_member
        return super().get_local_member(inc_alive)

    # -- life cycle -------------------------------------------------------------------------------
    def _first_interceptor(self) -> ChannelInterceptor:
        result: ChannelInterceptor = self
        now = self.previous
        while now is not None and now.previous is not None:
            result = now
            now = now.previous
        return result

    async def start(self, svc: int) -> None:
        if svc & SND_RX_SEQ:
            await super().start(SND_RX_SEQ)
        if svc & SND_TX_SEQ:
            await super().start(SND_TX_SEQ)
        for member in list(self.members):
            self._startup.append(asyncio.ensure_future(self._announce(member)))
        rest = svc & ~SND_RX_SEQ & ~SND_TX_SEQ
        if rest:
            await super().start(rest)
        names = {type(i).__name__ for i in self._chain_above()}
        if "TcpFailureDetector" not in names:
            log.warning("no TcpFailureDetector above the StaticMembershipInterceptor: static members are "
                        "never verified or removed")
        if "TcpPingInterceptor" not in names:
            log.warning("no TcpPingInterceptor above the StaticMembershipInterceptor: static members are "
                        "only checked when a send fails")

    def _chain_above(self) -> list[ChannelInterceptor]:
        out = []
        p = self.previous
        while p is not None:
            out.append(p)
            p = p.previous
        return out

    async def _announce(self, member: Member) -> None:
        try:
            await ChannelInterceptor.member_added(self, member)
            if self._first_interceptor().get_member(member) is not None:
                await self.send_member_message([member], MEMBER_START)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not send the static member start to %s: %s", member.name, exc)

    async def stop(self, svc: int) -> None:
        for t in self._startup:
            t.cancel()
        self._startup.clear()
        try:
            await self.send_member_message(self._first_interceptor().get_members(), MEMBER_STOP)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not send the static member shutdown: %s", exc)
        await super().stop(svc)

    async def send_member_message(self, members: Sequence[Member], message: bytes) -> None:
        if not members:
            return
        local = self.get_local_member(False)
        if local is None:
            raise RuntimeError("no local member to put into the static membership message")
        data = ChannelData(self.option_flag, int(time.time() * 1000), new_unique_id(), local, message)
        await super().send_message(list(members), data, None)

