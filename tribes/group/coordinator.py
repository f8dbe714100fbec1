"""``ChannelCoordinator``: the bottom of the interceptor chain (receiver, transmitter, membership).

Start levels as Tomcat (``Channel.SND_RX_SEQ=1, SND_TX_SEQ=2, MBR_RX_SEQ=4, MBR_TX_SEQ=8``,
``DEFAULT=15``), started in that order: the receiver binds first (its port goes into the local
member), then the sender, then membership receive, then membership send; stopped in reverse.

Membership events arrive from the membership service as plain calls; they are queued and passed up
the chain one at a time, in order, by one task (interceptors such as TcpFailureDetector probe the
member over TCP before passing an addition further up).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Sequence

from tribes.channel import (DEFAULT, MBR_RX_SEQ, MBR_TX_SEQ, SND_RX_SEQ, SND_TX_SEQ, Channel, ChannelException,
                            ChannelInterceptor, InterceptorPayload, SendOptions)
from tribes.io.channel_data import ChannelData
from tribes.io.member import Member
from tribes.membership.membership import MemberEvent, MemberEventKind
from tribes.membership.service import MembershipService
from tribes.transport.receiver import NioReceiver
from tribes.transport.transmitter import ReplicationTransmitter

log = logging.getLogger("tribes.group")
_MULTICAST = int(SendOptions.MULTICAST)  # plain int on the per-message path

# the start levels are defined in tribes.channel and importable from here as before
__all__ = ["ChannelCoordinator", "LocalOnlyMembership", "SND_RX_SEQ", "SND_TX_SEQ", "MBR_RX_SEQ",
           "MBR_TX_SEQ", "DEFAULT"]


class LocalOnlyMembership(MembershipService):
    """No discovery at all: only the local member (sends go to explicitly given members).

    ``add_member``/``remove_member`` let a program or a test declare peers by hand; they fire the
    same events a real membership service would.
    """

    async def start(self, level: int = MBR_RX_SEQ | MBR_TX_SEQ) -> None:
        self.start_level |= level

    async def stop(self, level: int = MBR_RX_SEQ | MBR_TX_SEQ) -> None:
        self.start_level &= ~level

    def add_member(self, member: Member) -> None:
        if self.membership.add(member, time.monotonic()):
            self._publish([MemberEvent(MemberEventKind.ADDED, member, "static")])

    def remove_member(self, member: Member) -> None:
        if self.membership.remove(member) is not None:
            self._publish([MemberEvent(MemberEventKind.DISAPPEARED, member, "static")])


class _MembershipBridge:
    """The membership service's listener: queues events, one task passes them up in order."""

    def __init__(self, coordinator: "ChannelCoordinator") -> None:
        self.coordinator = coordinator
        self.queue: asyncio.Queue[tuple[bool, Member]] | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.queue = asyncio.Queue()
            self.task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def member_added(self, member: Member) -> None:
        if self.queue is not None:
            self.queue.put_nowait((True, member))

    def member_disappeared(self, member: Member) -> None:
        if self.queue is not None:
            self.queue.put_nowait((False, member))

    async def _run(self) -> None:
        assert self.queue is not None
        while True:
            added, member = await self.queue.get()
            try:
                if added:
                    await self.coordinator.member_added(member)
                else:
                    await self.coordinator.member_disappeared(member)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("membership event for %s failed in the interceptor chain", member.name)


class ChannelCoordinator(ChannelInterceptor):
    default_option_flag = int(SendOptions.BYTE_MESSAGE | SendOptions.USE_ACK | SendOptions.SYNCHRONIZED_ACK)

    def __init__(self, receiver: NioReceiver | None = None, sender: ReplicationTransmitter | None = None,
                 membership: MembershipService | None = None) -> None:
        super().__init__()
        self.receiver = receiver if receiver is not None else NioReceiver()
        self.sender = sender if sender is not None else ReplicationTransmitter()
        self.membership = membership if membership is not None else LocalOnlyMembership()
        self.start_level = 0
        self._bridge = _MembershipBridge(self)
        self._local: Member | None = None

    # -- sending -------------------------------------------------------------------------------------
    async def send_message(self, destination: Sequence[Member] | None, msg: ChannelData,
                           payload: InterceptorPayload | None = None) -> None:
        if destination is None:
            destination = self.membership.members()
        if msg.options & _MULTICAST:
            self.membership.broadcast(msg.encode_frame())
            return
        await self.sender.send_message(msg, destination)

    # -- receiving -----------------------------------------------------------------------------------
    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        prev = self.previous
        if prev is not None:
            return prev.message_received(msg)
        return None

    async def member_added(self, member: Member) -> None:
        self.sender.state_of_member(member, create=True)
        await super().member_added(member)

    async def member_disappeared(self, member: Member) -> None:
        self.sender.remove_state(member)
        await super().member_disappeared(member)

    # -- life cycle ----------------------------------------------------------------------------------
    async def start(self, svc: int) -> None:
        svc &= DEFAULT
        if self.start_level == DEFAULT or svc == 0:
            return
        if svc == (svc & self.start_level):
            raise ChannelException(f"channel already started for level {svc}")
        try:
            if svc & SND_RX_SEQ:
                self.receiver.set_message_listener(self)
                await self.receiver.start()
                ms = self.membership
                domain = _as_bytes(getattr(ms, "domain", b""))
                payload = _as_bytes(getattr(ms, "payload", b""))
                try:
                    local = ms.local_member
                    unique_id: bytes | None = local.unique_id
                except Exception:
                    unique_id = None
                self._local = ms.set_local_member(self.receiver.host_bytes, self.receiver.port,
                                                  self.receiver.secure_port, self.receiver.udp_port,
                                                  domain=domain, payload=payload, unique_id=unique_id)
            if svc & SND_TX_SEQ:
                await self.sender.start()
            if svc & MBR_RX_SEQ:
                self._bridge.start()
                self.membership.set_membership_listener(self._bridge)
                if hasattr(self.membership, "set_message_listener"):
                    self.membership.set_message_listener(self)  # multicast channel messages
                await self.membership.start(MBR_RX_SEQ)
            if svc & MBR_TX_SEQ:
                await self.membership.start(MBR_TX_SEQ)
        except ChannelException:
            raise
        except Exception as exc:
            raise ChannelException(f"channel start (level {svc}) failed: {exc}", cause=exc) from exc
        self.start_level |= svc

    async def stop(self, svc: int) -> None:
        svc &= DEFAULT
        if self.start_level == 0 or svc == 0:
            return
        try:
            if svc & MBR_TX_SEQ:
                await self.membership.stop(MBR_TX_SEQ)
            if svc & MBR_RX_SEQ:
                await self.membership.stop(MBR_RX_SEQ)
                self.membership.set_membership_listener(None)
                await self._bridge.stop()
            if svc & SND_TX_SEQ:
                await self.sender.stop()
            if svc & SND_RX_SEQ:
                await self.receiver.stop()
                self.receiver.set_message_listener(None)
        except Exception as exc:
            raise ChannelException(f"channel stop (level {svc}) failed: {exc}", cause=exc) from exc
        self.start_level &= ~svc

    async def heartbeat(self) -> None:
        self.sender.heartbeat()
        await super().heartbeat()

    async def flush(self, timeout: float = 30.0) -> bool:
        """The bottom of the stack: wait until the transport's per-member queues are empty."""
        flush = getattr(self.sender, "flush", None)
        return bool(await flush(timeout)) if flush is not None else True

    def set_channel(self, channel: Channel | None) -> None:
        """The channel, and the membership service with it (Tomcat: ``membershipService.setChannel``)."""
        super().set_channel(channel)
        self.membership.set_channel(channel)

    # -- queries -------------------------------------------------------------------------------------
    def has_members(self) -> bool:
        return self.membership.has_members()

    def get_members(self) -> list[Member]:
        return self.membership.members()

    def get_member(self, member: Member) -> Member | None:
        return self.membership.get_member(member)

    def get_local_member(self, inc_alive: bool = False) -> Member | None:
        try:
            return self.membership.local_member
        except Exception:
            return self._local


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        if value.startswith("{"):
            return bytes(int(x) & 0xFF for x in value.strip("{}").split(",") if x.strip())
        return value.encode("latin-1")
    return bytes(value)
