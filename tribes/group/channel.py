"""``GroupChannel``: the channel API (Tomcat's org.apache.catalina.tribes.group.GroupChannel).

Send: a ``ByteMessage`` goes out as raw bytes with ``SEND_OPTIONS_BYTE_MESSAGE`` set; any other value
is Java-serialized (``tribes.javaser.dumps``) with that bit cleared. A fresh uniqueId, the current
time and the local member make the ``ChannelData``, which then goes down the interceptors to the
coordinator.

Receive: the BYTE bit decides between ``ByteMessage`` and a Java value; an undecodable payload is
logged and dropped (the sender still gets its ACK). Every channel listener whose ``accept`` is true
gets ``message_received(msg, sender)``; if one raises, ``RemoteProcessException`` is raised so a
synchronized sender gets FAIL_ACK. A listener may return an awaitable: it is awaited before a
synchronized ACK is written.

Heartbeat: 5 s after start and every ``heartbeat_sleeptime`` ms, ``heartbeat()`` runs down the chain
(failure detector checks, sender keep-alive) and on every listener that has a ``heartbeat`` method.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any, Awaitable, Iterator, Sequence

from tribes.channel import (DEFAULT, ByteMessage, ChannelException, ChannelInterceptor, ChannelListener,
                            ErrorHandler, InterceptorPayload, MembershipListener, RemoteProcessException,
                            SendOptions, SerializedMessage, UniqueId, new_unique_id)
from tribes.group.coordinator import ChannelCoordinator
from tribes.io.channel_data import ChannelData
from tribes.io.member import Member
from tribes.membership.service import MembershipService
from tribes.ratelimit import RateLimitedLog
from tribes.transport.receiver import NioReceiver
from tribes.transport.transmitter import ReplicationTransmitter

log = logging.getLogger("tribes.group")
_decode_log = RateLimitedLog(log)  # undecodable payloads: a peer can send any number of them

#: Java payloads of this many bytes or more are decoded in a worker thread (issue 19)
OFFLOOP_DECODE_BYTES = 64 * 1024

BYTE_MESSAGE = SendOptions.BYTE_MESSAGE
_BYTE = int(BYTE_MESSAGE)  # plain int on the per-message path: IntFlag operators cost microseconds

# ByteMessage, UniqueId, ChannelListener, ErrorHandler: defined in tribes.channel, importable from here
__all__ = ["GroupChannel", "ByteMessage", "UniqueId", "ChannelListener", "ErrorHandler"]


class GroupChannel(ChannelInterceptor):
    """The channel: interceptor stack, listeners, heartbeat, send/receive of bytes and Java values."""

    def __init__(self, receiver: NioReceiver | None = None, sender: ReplicationTransmitter | None = None,
                 membership: MembershipService | None = None, *, heartbeat: bool = True,
                 heartbeat_sleeptime: int = 5000, name: str | None = None) -> None:
        super().__init__()
        if membership is None:
            from tribes.membership.mcast import McastService  # Tomcat's default membership
            membership = McastService()
        self.coordinator = ChannelCoordinator(receiver, sender, membership)
        self.next = self.coordinator
        self.coordinator.previous = self
        self.heartbeat_enabled = heartbeat
        self.heartbeat_sleeptime = heartbeat_sleeptime
        self.name = name
        #: the Tomcat version of the cluster ("9.0"/"10.1"), set by SimpleTcpCluster for version-dependent
        #: interceptors (EncryptInterceptor's format); None: not known
        self.tomcat_version: str | None = None
        self.option_check = False
        self.channel_listeners: list[ChannelListener] = []
        self.membership_listeners: list[MembershipListener] = []
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._interceptors_added = False

    # -- configuration -------------------------------------------------------------------------------
    @property
    def receiver(self) -> NioReceiver:
        return self.coordinator.receiver

    @property
    def sender(self) -> ReplicationTransmitter:
        return self.coordinator.sender

    @property
    def membership_service(self) -> MembershipService:
        return self.coordinator.membership

    def add_interceptor(self, interceptor: ChannelInterceptor) -> ChannelInterceptor:
        """Insert just above the coordinator (interceptors run top-down in the order added)."""
        last: ChannelInterceptor = self
        while last.next is not self.coordinator:
            assert last.next is not None
            last = last.next
        last.next = interceptor
        interceptor.previous = last
        interceptor.next = self.coordinator
        self.coordinator.previous = interceptor
        self._interceptors_added = True
        return interceptor

    def interceptors(self) -> Iterator[ChannelInterceptor]:
        i = self.next
        while i is not None and i is not self.coordinator:
            yield i
            i = i.next

    def add_channel_listener(self, listener: ChannelListener) -> None:
        if listener in self.channel_listeners:
            raise ValueError(f"channel listener {listener!r} already added")
        self.channel_listeners.append(listener)

    def remove_channel_listener(self, listener: ChannelListener) -> None:
        if listener in self.channel_listeners:
            self.channel_listeners.remove(listener)

    def add_membership_listener(self, listener: MembershipListener) -> None:
        if listener not in self.membership_listeners:
            self.membership_listeners.append(listener)

    def remove_membership_listener(self, listener: MembershipListener) -> None:
        if listener in self.membership_listeners:
            self.membership_listeners.remove(listener)

    def _setup_default_stack(self) -> None:
        if self.next is self.coordinator:
            from tribes.interceptors.message_dispatch import MessageDispatchInterceptor
            self.add_interceptor(MessageDispatchInterceptor())
        for i in self.interceptors():
            i.set_channel(self)
        self.coordinator.set_channel(self)

    def check_option_flags(self) -> None:
        conflicts = []
        chain = list(self.interceptors())
        for idx, first in enumerate(chain):
            flag = first.option_flag
            if not flag:
                continue
            for nxt in chain[idx + 1:]:
                nflag = nxt.option_flag
                if nflag and ((flag & nflag) == flag or (flag & nflag) == nflag):
                    conflicts.append(f"[{type(first).__name__}:{flag} == {type(nxt).__name__}:{nflag}]")
        if conflicts:
            raise ChannelException("interceptor option flag conflict: " + " ".join(conflicts))

    # -- life cycle ----------------------------------------------------------------------------------
    async def start(self, svc: int = DEFAULT) -> None:
        self._setup_default_stack()
        if self.option_check:
            self.check_option_flags()
        await super().start(svc)
        if self.heartbeat_enabled and self._heartbeat_task is None:
            self._heartbeat_task = asyncio.ensure_future(self._heartbeat_loop())

    async def stop(self, svc: int = DEFAULT) -> None:
        task, self._heartbeat_task = self._heartbeat_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await super().stop(svc)

    async def __aenter__(self) -> "GroupChannel":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _heartbeat_loop(self) -> None:
        interval = self.heartbeat_sleeptime / 1000.0
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("channel heartbeat failed")

    async def heartbeat(self) -> None:
        await super().heartbeat()
        for listener in list(self.membership_listeners) + list(self.channel_listeners):
            hb = getattr(listener, "heartbeat", None)
            if callable(hb):
                try:
                    r = hb()
                    if inspect.isawaitable(r):
                        await r
                except Exception:
                    log.exception("heartbeat of listener %r failed", listener)

    # -- sending -------------------------------------------------------------------------------------
    async def send(self, members: Sequence[Member] | Member, message: Any, options: int = SendOptions.DEFAULT,
                   error_handler: ErrorHandler | None = None) -> UniqueId:
        """Send ``message`` (``ByteMessage``, ``SerializedMessage`` or a Java-serializable value) to ``members``."""
        if message is None:
            raise ChannelException("cannot send a null message")
        if isinstance(members, Member):
            members = [members]
        if not members:
            raise ChannelException("no destination given")
        if isinstance(message, ByteMessage):
            payload = message.message
            options = int(options) | _BYTE
        elif isinstance(message, SerializedMessage):
            payload = message.data
            options = int(options) & ~_BYTE
        else:
            from tribes.javaser import dumps
            try:
                payload = dumps(message)
            except Exception as exc:
                raise ChannelException(f"cannot serialize {type(message).__name__}: {exc}", cause=exc) from exc
            options = int(options) & ~_BYTE
        local = self.get_local_member(False)
        if local is None:
            raise ChannelException("channel not started: no local member (start the receiver first)")
        unique_id = new_unique_id()
        data = ChannelData(options, int(time.time() * 1000), unique_id, local, payload)
        ip = InterceptorPayload(error_handler) if error_handler is not None else None
        assert self.next is not None
        try:
            await self.next.send_message(list(members), data, ip)
        except ChannelException:
            raise
        except Exception as exc:
            raise ChannelException(f"send failed: {exc}", cause=exc) from exc
        return UniqueId(unique_id)

    # -- receiving -----------------------------------------------------------------------------------
    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        if msg.options & _BYTE:
            fwd: Any = ByteMessage(msg.message)
        else:
            if len(msg.message) >= OFFLOOP_DECODE_BYTES:
                # a large Java payload is decoded in a worker thread, so ACKs and heartbeats to
                # every other peer go on meanwhile (the receiver keeps this connection in order)
                return self._decode_off_loop(msg)
            try:
                from tribes.javaser import loads
                fwd = loads(msg.message)
            except Exception as exc:
                _decode_log.warn("decode", "unable to deserialize a message from %s (%d bytes, options %d): %s",
                                 msg.address.name, len(msg.message), msg.options, exc)
                return None
        return self._deliver(fwd, msg.address)

    async def _decode_off_loop(self, msg: ChannelData) -> None:
        from tribes.javaser import loads
        try:
            fwd = await asyncio.to_thread(loads, msg.message)
        except Exception as exc:
            _decode_log.warn("decode", "unable to deserialize a message from %s (%d bytes, options %d): %s",
                             msg.address.name, len(msg.message), msg.options, exc)
            return
        r = self._deliver(fwd, msg.address)
        if r is not None:
            await r

    def _deliver(self, fwd: Any, source: Member) -> Awaitable[None] | None:
        pending: list[Awaitable[Any]] = []
        accepted = False
        try:
            for listener in self.channel_listeners:
                if listener.accept(fwd, source):
                    accepted = True
                    r = listener.message_received(fwd, source)
                    if r is not None and inspect.isawaitable(r):
                        pending.append(r)
            if not accepted:
                self._no_rpc_channel_reply(fwd, source)
        except Exception as exc:
            log.warning("error while delivering a message to the channel listeners: %s", exc)
            for p in pending:
                if inspect.iscoroutine(p):
                    p.close()
            raise RemoteProcessException(f"listener failed: {exc}") from exc
        if not pending:
            return None
        return _await_listeners(pending)

    def _no_rpc_channel_reply(self, fwd: Any, source: Member) -> None:
        """Tomcat's sendNoRpcChannelReply: an RpcMessage no listener took gets NoRpcChannelReply (options 8),
        so the Java caller does not wait for its rpcTimeout (tribes.group.rpc)."""
        from tribes.group.rpc import RpcMessageError, _rl, decode_rpc, is_rpc_message, no_rpc_channel_reply
        if not is_rpc_message(fwd):
            return
        try:
            reply = no_rpc_channel_reply(decode_rpc(fwd))
        except RpcMessageError as exc:
            _rl.warn("rpc-corrupt", "dropped a corrupt RpcMessage from %s: %s", source.name, exc)
            return
        if reply is None:
            return

        async def send() -> None:
            try:
                await self.send([source], reply.to_java(), int(SendOptions.ASYNCHRONOUS))
            except Exception as exc:
                log.warning("unable to send NoRpcChannelReply to %s: %s", source.name, exc)
        asyncio.ensure_future(send())

    async def member_added(self, member: Member) -> None:
        for listener in list(self.membership_listeners):
            r = listener.member_added(member)
            if r is not None and inspect.isawaitable(r):
                await r

    async def member_disappeared(self, member: Member) -> None:
        for listener in list(self.membership_listeners):
            r = listener.member_disappeared(member)
            if r is not None and inspect.isawaitable(r):
                await r

    # -- queries -------------------------------------------------------------------------------------
    def members(self) -> list[Member]:
        return self.get_members()

    @property
    def local_member(self) -> Member | None:
        return self.get_local_member(False)


async def _await_listeners(pending: list[Awaitable[Any]]) -> None:
    error: BaseException | None = None
    for p in pending:
        try:
            await p
        except Exception as exc:
            if error is None:
                error = exc
    if error is not None:
        log.warning("error while delivering a message to the channel listeners: %s", error)
        raise RemoteProcessException(f"listener failed: {error}") from error
