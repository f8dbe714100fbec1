"""Static membership: ``StaticMember`` configuration and ``StaticMembershipService``.

``StaticMember`` builds a :class:`~tribes.membership.member.Member` from server.xml attributes
(``host``, ``port``, ``securePort``, ``udpPort``, ``uniqueId``, ``domain``, ``payload``) with
Tomcat's parsing rules:

* ``host``: an address or host name, or a ``{10,77,13,1}`` byte literal;
* ``uniqueId``: a ``{b0,b1,...,b15}`` literal of 16 **signed decimal** bytes with no spaces
  (Tomcat's ``Arrays.fromString`` uses ``Byte.parseByte`` without trimming); a missing uniqueId is
  16 zero bytes (``MemberImpl``'s default);
* ``domain``: ``{..}`` literal or ISO-8859-1 text.

``StaticMembershipService`` (Tomcat 9.0.11+) speaks ``RpcChannel`` messages that carry a
Java-serialized ``StaticMembershipProvider$MemberMessage`` containing an Externalizable
``StaticMember``; see :class:`StaticMembershipService` for what it needs and what it does today.
The simpler ``StaticMembershipInterceptor`` (raw-byte control messages) lives in
``tribes.interceptors.static_membership``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from typing import Any, Iterable, Mapping

from tribes.membership.mcast import _domain_bytes, parse_byte_literal
from tribes.attributes import UnknownAttributeError, kwargs_from_attributes
from tribes.channel import Channel, SendOptions, SerializedMessage, new_unique_id
from tribes.io.member import SHUTDOWN_PAYLOAD, Member
from tribes.membership.membership import MemberEvent, MemberEventKind
from tribes.membership.service import MBR_ALL, MembershipError, MembershipService

__all__ = [
    "StaticMember", "StaticMemberConfigError", "StaticMembershipService", "format_byte_literal",
    "STATIC_MEMBER_ATTRIBUTES", "STATIC_SERVICE_ATTRIBUTES",
]

log = logging.getLogger("tribes.membership.static")


class StaticMemberConfigError(MembershipError, ValueError):
    """A <Member>/<LocalMember> or StaticMembershipService attribute is wrong."""


def format_byte_literal(data: bytes) -> str:
    """Bytes -> Tomcat's ``{b0,b1,...}`` with signed decimal bytes (what ``uniqueId=`` expects)."""
    return "{" + ",".join(str(b - 256 if b > 127 else b) for b in data) + "}"


def _host(value: str | bytes) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif value.startswith("{"):
        raw = parse_byte_literal(value)
    else:
        try:
            info = socket.getaddrinfo(value, None, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise StaticMemberConfigError(f"host={value!r} does not resolve: {exc}") from exc
        fam, addr = info[0][0], info[0][4][0]
        raw = socket.inet_pton(fam, str(addr))
    if len(raw) not in (4, 16):
        raise StaticMemberConfigError(f"host must be 4 or 16 bytes, got {len(raw)}")
    return raw


def _unique_id(value: str | bytes) -> bytes:
    raw = bytes(value) if isinstance(value, (bytes, bytearray)) else parse_byte_literal(value)
    if len(raw) != 16:
        raise StaticMemberConfigError(
            f"uniqueId {value!r} has {len(raw)} bytes; it needs exactly 16 signed decimal bytes like "
            "{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15} (no spaces)")
    return raw


STATIC_MEMBER_ATTRIBUTES = ("host", "port", "securePort", "udpPort", "uniqueId", "domain", "payload")


class StaticMember:
    """Factory for static members (Tomcat's ``org.apache.catalina.tribes.membership.StaticMember``)."""

    def __new__(cls, host: str | bytes, port: int, unique_id: str | bytes = b"\x00" * 16,  # type: ignore[misc]
                domain: str | bytes = b"", secure_port: int = -1, udp_port: int = -1,
                payload: str | bytes = b"", alive: int = 0) -> Member:
        try:
            return Member(host=_host(host), port=int(port), secure_port=int(secure_port),
                          udp_port=int(udp_port), unique_id=_unique_id(unique_id),
                          domain=_domain_bytes(domain), payload=_domain_bytes(payload), alive=int(alive))
        except StaticMemberConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise StaticMemberConfigError(f"static member {host!r}:{port}: {exc}") from exc

    @staticmethod
    def from_attributes(attributes: Mapping[str, Any]) -> Member:
        """``<Member className="...StaticMember" host=".." port=".." uniqueId="{..}"/>`` -> Member."""
        try:
            kw = kwargs_from_attributes(StaticMember, attributes, exclude=("alive",), what="StaticMember",
                                        coerce_values=False)
        except UnknownAttributeError as exc:
            raise StaticMemberConfigError(str(exc)) from None
        for required in ("host", "port"):
            if required not in kw:
                raise StaticMemberConfigError(f"StaticMember needs a {required!r} attribute")
        try:
            return StaticMember(**kw)
        except ValueError as exc:
            raise StaticMemberConfigError(str(exc)) from exc


#: the StaticMembershipService attributes of Tomcat (the others of ``__init__`` are Python-only)
STATIC_SERVICE_ATTRIBUTES = ("expirationTime", "connectTimeout", "rpcTimeout", "useThread", "pingInterval")


class StaticMembershipService(MembershipService):
    """Tomcat's ``StaticMembershipService`` (``<Membership className="...StaticMembershipService">``).

    Tomcat semantics implemented here (pure logic, testable without Java):

    * the local member is the configured static member whose (host, port) equals the receiver's
      (``findLocalMember``); it is removed from the list of others;
    * at start (both levels), every static member whose TCP port accepts a connection within
      ``connect_timeout`` ms is sent ``MSG_START`` and each reply adds its sender;
    * on every heartbeat (``use_thread=False``) or every ``ping_interval`` ms, reachable members
      are pinged (``MSG_PING``) and members silent for ``expiration_time`` ms expire;
    * stop sends ``MSG_STOP`` with the SHUTDOWN command to all members.

    Wire (``tribes.membership.static_rpc``, byte-identical to Tomcat): ``RpcMessage``\\s whose
    payload is a Java-serialized ``StaticMembershipProvider$MemberMessage`` holding an
    Externalizable ``StaticMember``; rpcId = membershipId = ``<channel name>-StaticMembership``
    (Tomcat: ``Catalina-Channel-StaticMembership``); requests go with ``send_options`` (8), replies
    with options 0. MemberImpl's computed SUID differs between 9.0 and 10.1, so ``tomcat_version``
    says which one the peers run (they cannot be mixed, in Tomcat either). The service needs its
    GroupChannel (``set_channel``, or found through the channel coordinator) to send and to
    listen: a small RpcChannel of its own handles the ALL_REPLY collection with ``rpc_timeout``.
    """

    def __init__(self, members: Iterable[Member] = (), local_member: Member | None = None,
                 expiration_time: int = 5000, connect_timeout: int = 500, rpc_timeout: int = 3000,
                 use_thread: bool = False, ping_interval: int = 1000, *, tomcat_version: str | int = "10",
                 send_options: int = 8, membership_name: str | None = None) -> None:
        super().__init__()
        self.tomcat_version = str(tomcat_version).split(".")[0]
        self.send_options = int(send_options)
        self.membership_name = membership_name
        self._running = False
        self._start_mono: float | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._pending: dict[bytes, asyncio.Future[list[Member]]] = {}
        self._expected: dict[bytes, int] = {}
        self._replies: dict[bytes, list[Member]] = {}
        self._rpc_listener = _StaticRpcListener(self)
        self.static_members: list[Member] = list(members)
        self.expiration_time = int(expiration_time)
        self.connect_timeout = int(connect_timeout)
        self.rpc_timeout = int(rpc_timeout)
        self.use_thread = bool(use_thread)
        self.ping_interval = int(ping_interval)
        self.domain = b""
        self.payload = b""
        if local_member is not None:
            self._replace_local(local_member)

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any], members: Iterable[Member] = (),
                        local_member: Member | None = None) -> "StaticMembershipService":
        try:
            kw = kwargs_from_attributes(cls, attributes, exclude=("members", "local_member"),
                                        what="StaticMembershipService")
        except ValueError as exc:
            raise StaticMemberConfigError(str(exc)) from exc
        return cls(members, local_member, **kw)

    def add_static_member(self, member: Member) -> None:
        if member not in self.static_members:
            self.static_members.append(member)

    def set_local_member(self, host: bytes, port: int, secure_port: int = -1, udp_port: int = -1,
                         domain: bytes = b"", payload: bytes = b"",
                         unique_id: bytes | None = None) -> Member:
        """Tomcat's ``setLocalMemberProperties`` + ``findLocalMember``: the local member is the
        static member configured with this (host, port); it is removed from the others."""
        if self._local is None:
            found = next((m for m in self.static_members if m.host == bytes(host) and m.port == port), None)
            if found is None:
                raise StaticMemberConfigError(
                    f"no <Member> with host {socket.inet_ntop(socket.AF_INET6 if len(host) == 16 else socket.AF_INET, host)}"
                    f" and port {port} (the receiver's address): list this node among the static members "
                    "or give a <LocalMember>")
            self.static_members.remove(found)
            self._replace_local(found)
        local = dataclasses.replace(self.local_member, host=bytes(host), port=port, secure_port=secure_port,
                                    udp_port=udp_port)
        self._replace_local(local)
        return local

    # ------------------------------------------------------------------ channel plumbing
    def _find_channel(self) -> Channel:
        ch = self.channel  # set by the ChannelCoordinator (Tomcat: setChannel)
        if ch is None:
            raise MembershipError("StaticMembershipService needs its channel: start it as a GroupChannel's "
                                  "membership, or call set_channel(channel) first")
        return ch

    @property
    def membership_id(self) -> bytes:
        name = self.membership_name
        if name is None:
            cname = (self.channel.name if self.channel is not None else None) or "Catalina-Channel"
            name = f"{cname}-StaticMembership"
        return name.encode("iso-8859-1")

    def _local_for_wire(self) -> Member:
        alive = int((time.monotonic() - self._start_mono) * 1000) if self._start_mono is not None else 0
        return dataclasses.replace(self.local_member, alive=alive)

    async def _send_raw(self, members: list[Member], payload: bytes, options: int) -> None:
        """Send an already-serialized RPC message down the channel (the BYTE_MESSAGE bit cleared)."""
        await self._find_channel().send(list(members), SerializedMessage(payload), options)

    # ------------------------------------------------------------------ life cycle
    async def start(self, level: int = MBR_ALL) -> None:
        """Both levels started: send ``MSG_START`` to every reachable static member (ALL_REPLY RPC)."""
        self.start_level |= level
        if self.start_level != MBR_ALL or self._running:
            return
        from tribes.membership.static_rpc import MSG_START

        ch = self._find_channel()
        self._start_mono = time.monotonic()
        self._running = True
        ch.remove_channel_listener(self._rpc_listener)  # added once, even after a restart
        ch.add_channel_listener(self._rpc_listener)
        alive = await self.reachable(self.static_members)
        if alive:
            replies = await self._rpc(alive, MSG_START)
            if not replies:
                log.warning("static membership start: no replies from %s", ", ".join(m.name for m in alive))
        if self.use_thread:
            self._pinger = asyncio.ensure_future(self._ping_loop())

    async def stop(self, level: int = MBR_ALL) -> None:
        self.start_level &= ~level
        if self.start_level != 0 or not self._running:
            return
        from tribes.membership.static_rpc import MSG_STOP, encode_member_message

        self._running = False
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()
        members = self.members()
        if members:
            payload = encode_member_message(MSG_STOP, self.membership_id,
                                            self._local_for_wire().with_command(SHUTDOWN_PAYLOAD), self.tomcat_version)
            try:
                await self._send_raw(members, payload, self.send_options)
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                log.warning("could not send the static membership stop: %s", exc)
        if self.channel is not None:
            self.channel.remove_channel_listener(self._rpc_listener)
        self.membership.reset()
        self._close_events()

    async def _ping_loop(self) -> None:
        while self._running:
            await asyncio.sleep(self.ping_interval / 1000.0)
            try:
                await self.ping()
            except Exception as exc:  # noqa: BLE001
                log.warning("static membership ping failed: %s", exc)

    async def heartbeat(self) -> None:
        """Called by the channel's heartbeat (Tomcat: ping on every heartbeat unless useThread)."""
        if self._running and not self.use_thread:
            await self.ping()

    async def ping(self) -> None:
        from tribes.membership.static_rpc import MSG_PING

        alive = await self.reachable(self.static_members)
        if alive:
            await self._rpc(alive, MSG_PING)
        self.check_expired()

    async def _rpc(self, members: list[Member], msgtype: int) -> list[Member]:
        """An ALL_REPLY RpcChannel send; returns the members that replied within rpc_timeout."""
        from tribes.membership.static_rpc import encode_rpc_member_message

        uuid = new_unique_id()
        fut: asyncio.Future[list[Member]] = asyncio.get_running_loop().create_future()
        self._pending[uuid] = fut
        self._expected[uuid] = len(members)
        self._replies[uuid] = []
        payload = encode_rpc_member_message(False, uuid, self.membership_id, msgtype, self.membership_id,
                                            self._local_for_wire(), self.tomcat_version)
        try:
            await self._send_raw(members, payload, self.send_options & ~SendOptions.SYNCHRONIZED_ACK)
            try:
                await asyncio.wait_for(asyncio.shield(fut), self.rpc_timeout / 1000.0)
            except asyncio.TimeoutError:
                pass
        except Exception as exc:  # noqa: BLE001 - Tomcat: faulty members disappear, the error is logged
            for fm in getattr(exc, "faulty_members", []) or []:
                m = getattr(fm, "member", fm)
                self._publish([MemberEvent(MemberEventKind.DISAPPEARED, self.membership.remove(m) or m, "removed")])
            log.warning("static membership RPC (type %d) failed: %s", msgtype, exc)
        finally:
            self._pending.pop(uuid, None)
            self._expected.pop(uuid, None)
        return self._replies.pop(uuid, [])

    # called by the channel listener
    def _on_message(self, msg: Any, sender: Member) -> Any:
        from tribes.membership.static_rpc import MSG_PING, MSG_START, encode_rpc_member_message

        now = time.monotonic()
        if not msg.rpc:  # a bare MemberMessage: Tomcat's stop
            if msg.member is not None:
                self.on_member_message(msg.msgtype, msg.member, now)
            return None
        if msg.reply:
            fut = self._pending.get(msg.uuid)
            if msg.no_rpc_channel:
                if msg.uuid in self._expected:
                    self._expected[msg.uuid] -= 1
            elif msg.member is not None:
                self.on_member_message(msg.msgtype, msg.member, now)  # reply or leftOver: same handling
                if msg.uuid in self._replies:
                    self._replies[msg.uuid].append(msg.member)
            if fut is not None and not fut.done() and len(self._replies.get(msg.uuid, [])) >= self._expected.get(msg.uuid, 0):
                fut.set_result(self._replies[msg.uuid])
            return None
        if msg.member is not None:
            self.on_member_message(msg.msgtype, msg.member, now)
        if msg.msgtype in (MSG_START, MSG_PING):
            reply = encode_rpc_member_message(True, msg.uuid, msg.rpc_id, msg.msgtype, msg.membership_id,
                                              self._local_for_wire(), self.tomcat_version)
            return self._send_raw([sender], reply, 0)  # replyMessageOptions = 0, no ACK
        log.info("static membership: request of type %d ignored", msg.msgtype)
        return None

    # pure helpers of the provider logic (used by tests and by the future RPC adapter)
    def on_member_message(self, msgtype: int, member: Member, now: float) -> list[MemberEvent]:
        """``StaticMembershipProvider.messageReceived``: 1 start, 2 stop, 3 ping."""
        events: list[MemberEvent] = []
        if msgtype == 1:
            if self.membership.alive(member, now):
                events.append(MemberEvent(MemberEventKind.ADDED, member, "static"))
        elif msgtype == 2:
            old = self.membership.remove(member)
            events.append(MemberEvent(MemberEventKind.DISAPPEARED, old or member, "stop"))
        elif msgtype == 3:
            if self.membership.alive(member, now):
                events.append(MemberEvent(MemberEventKind.ADDED, member, "static"))
        self._publish(events)
        return events

    def check_expired(self, now: float | None = None) -> list[MemberEvent]:
        events = self.membership.expire(time.monotonic() if now is None else now, self.expiration_time / 1000.0)
        self._publish(events)
        return events

    async def reachable(self, members: Iterable[Member]) -> list[Member]:
        """``getAliveMembers``: the members whose TCP port accepts a connection in time."""
        async def probe(m: Member) -> Member | None:
            try:
                _r, w = await asyncio.wait_for(asyncio.open_connection(m.host_str, m.port),
                                               self.connect_timeout / 1000.0)
            except (OSError, asyncio.TimeoutError):
                return None
            w.close()
            return m
        found = await asyncio.gather(*(probe(m) for m in members))
        return [m for m in found if m is not None]


class _StaticRpcListener:
    """The ChannelListener half of the service (Tomcat: RpcChannel + the provider's accept)."""

    def __init__(self, service: StaticMembershipService) -> None:
        self.service = service

    def accept(self, msg: Any, sender: Member) -> bool:
        from tribes.membership.static_rpc import decode_member_message_value

        try:
            decoded = decode_member_message_value(msg)
        except Exception:  # noqa: BLE001 - not ours
            return False
        if decoded is None:
            return False
        sid = self.service.membership_id
        return decoded.rpc_id == sid if decoded.rpc else decoded.membership_id == sid

    def message_received(self, msg: Any, sender: Member) -> Any:
        from tribes.membership.static_rpc import decode_member_message_value

        decoded = decode_member_message_value(msg)
        if decoded is None:
            return None
        return self.service._on_message(decoded, sender)

    async def heartbeat(self) -> None:
        await self.service.heartbeat()
